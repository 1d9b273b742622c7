import gzip
import zlib

import brotli
import pytest
import zstandard

from prefetch_lab.html import stream_codec as streamcodec
from prefetch_lab.html.stream_codec import CodecError

PAGE = b"<html><body>" + b"<p>some text to compress</p>\n" * 3000 + b"</body></html>"

COMPRESS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}
DECOMPRESS = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompressobj().decompress(data),
}


def pieces(data: bytes, size: int):
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("encoding", COMPRESS)
@pytest.mark.parametrize("size", [1, 7, 1000, 1 << 20])
def test_decodes_in_pieces(encoding, size):
    dec = streamcodec.decoder(encoding)
    out = b"".join(dec.feed(p) for p in pieces(COMPRESS[encoding](PAGE), size)) + dec.finish()
    assert out == PAGE


def test_raw_deflate_is_accepted():
    c = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    raw = c.compress(PAGE) + c.flush()
    dec = streamcodec.decoder("deflate")
    assert b"".join(dec.feed(p) for p in pieces(raw, 100)) + dec.finish() == PAGE


@pytest.mark.parametrize("encoding", COMPRESS)
def test_each_encoded_chunk_is_decodable_at_once(encoding):
    """The flush per chunk: what was fed so far decodes from what came out so far."""
    enc = streamcodec.encoder(encoding)
    dec = streamcodec.decoder(encoding)
    seen = b""
    for i, piece in enumerate(pieces(PAGE, 5000)):
        seen += dec.feed(enc.feed(piece))
        assert seen == PAGE[:(i + 1) * 5000][:len(PAGE)]
    dec.feed(enc.finish())
    dec.finish()
    stream = b""
    enc = streamcodec.encoder(encoding)
    for piece in pieces(PAGE, 5000):
        stream += enc.feed(piece)
    stream += enc.finish()
    assert DECOMPRESS[encoding](stream) == PAGE


@pytest.mark.parametrize("encoding", ["gzip", "br", "deflate"])
def test_garbage_and_truncation_are_codec_errors(encoding):
    with pytest.raises(CodecError):
        dec = streamcodec.decoder(encoding)
        dec.feed(b"this is not compressed at all" * 10)
        dec.finish()
    with pytest.raises(CodecError):
        dec = streamcodec.decoder(encoding)
        compressed = COMPRESS[encoding](PAGE)
        dec.feed(compressed[:len(compressed) // 2])
        dec.finish()


def test_single_encoding():
    assert streamcodec.single_encoding(None) is None
    assert streamcodec.single_encoding(" identity ") is None
    assert streamcodec.single_encoding("GZIP") == "gzip"
    for value in ("gzip, br", "compress", "bogus"):
        with pytest.raises(CodecError):
            streamcodec.single_encoding(value)
