"""Content-Encoding decoded and re-encoded a chunk at a time (gzip, deflate, br, zstd).

Each encoder flushes after every chunk, so what the origin sent reaches the browser when it was
sent, not when a compression window fills. Re-encoding uses fast levels (gzip 1, brotli 4,
zstd 1): the same trade as edge/html_rewrite.py's FAST_ENCODERS, at a small cost in size.
"""

from __future__ import annotations

import zlib

import brotli
import zstandard


class CodecError(ValueError):
    """The body does not decode as its Content-Encoding says."""


def single_encoding(header: str | None) -> str | None:
    """The one coding named by a Content-Encoding value ('' or identity: None). Raises CodecError
    for a list of codings or one this module cannot stream."""
    value = (header or "").strip().lower()
    if value in ("", "identity", "none"):
        return None
    if value not in _DECODERS:
        raise CodecError(f"cannot stream Content-Encoding {header!r}")
    return value


class _ZlibDecoder:
    def __init__(self, wbits: int) -> None:
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, data: bytes) -> bytes:
        try:
            out = self._obj.decompress(data)
        except zlib.error as e:
            if self._wbits == zlib.MAX_WBITS and not self._started:
                # "deflate" is raw DEFLATE on some servers (mitmproxy and browsers accept both).
                self._wbits, self._obj = -zlib.MAX_WBITS, zlib.decompressobj(-zlib.MAX_WBITS)
                return self.feed(data)
            raise CodecError(str(e)) from e
        self._started = True
        return out

    def finish(self) -> bytes:
        try:
            out = self._obj.flush()
        except zlib.error as e:
            raise CodecError(str(e)) from e
        if not self._obj.eof:
            raise CodecError("compressed body ends early")
        return out


class _BrotliDecoder:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes) -> bytes:
        try:
            return self._obj.process(data)
        except brotli.error as e:
            raise CodecError(str(e)) from e

    def finish(self) -> bytes:
        if not self._obj.is_finished():
            raise CodecError("brotli body ends early")
        return b""


class _ZstdDecoder:
    def __init__(self) -> None:
        self._obj = zstandard.ZstdDecompressor().decompressobj()

    def feed(self, data: bytes) -> bytes:
        try:
            return self._obj.decompress(data)
        except zstandard.ZstdError as e:
            raise CodecError(str(e)) from e

    def finish(self) -> bytes:
        return b""


class _ZlibEncoder:
    def __init__(self, wbits: int) -> None:
        self._obj = zlib.compressobj(1, zlib.DEFLATED, wbits)

    def feed(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zlib.Z_SYNC_FLUSH) if data else b""

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    def __init__(self) -> None:
        self._obj = brotli.Compressor(quality=4)

    def feed(self, data: bytes) -> bytes:
        return self._obj.process(data) + self._obj.flush() if data else b""

    def finish(self) -> bytes:
        return self._obj.finish()


class _ZstdEncoder:
    def __init__(self) -> None:
        self._obj = zstandard.ZstdCompressor(level=1).compressobj()

    def feed(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) if data else b""

    def finish(self) -> bytes:
        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


_GZIP_WBITS = 16 + zlib.MAX_WBITS
_DECODERS = {
    "gzip": lambda: _ZlibDecoder(_GZIP_WBITS),
    "x-gzip": lambda: _ZlibDecoder(_GZIP_WBITS),
    "deflate": lambda: _ZlibDecoder(zlib.MAX_WBITS),
    "br": _BrotliDecoder,
    "zstd": _ZstdDecoder,
}
_ENCODERS = {
    "gzip": lambda: _ZlibEncoder(_GZIP_WBITS),
    "x-gzip": lambda: _ZlibEncoder(_GZIP_WBITS),
    "deflate": lambda: _ZlibEncoder(zlib.MAX_WBITS),
    "br": _BrotliEncoder,
    "zstd": _ZstdEncoder,
}


def decoder(encoding: str):
    """An object with feed(bytes) -> bytes and finish() -> bytes (CodecError on bad input)."""
    return _DECODERS[encoding]()


def encoder(encoding: str):
    """An object with feed(bytes) -> bytes (flushed: decodable up to here) and finish() -> bytes."""
    return _ENCODERS[encoding]()

