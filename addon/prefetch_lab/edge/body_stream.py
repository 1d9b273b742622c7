"""`BodyStream`: the `flow.response.stream` callable of a streamed origin response (plain bytes
in, bytes out; mitmproxy calls it per chunk and once with b"" at the end). For HTML pages it
decodes, injects (html.stream_inject) and re-encodes (html.stream_codec) with a flush per chunk,
and it keeps what the client gets beside the stream for the cache (up to the object limit, then
it lets go of it). As in the buffered path, the cache holds the page as served, tag included and
in the origin's Content-Encoding, so a hit is served as stored.
"""

from __future__ import annotations

import logging
from typing import Any

from prefetch_lab.html import stream_codec
from prefetch_lab.html.stream_inject import StreamInjector

logger = logging.getLogger(__name__)


class BodyStream:
    def __init__(
        self, *, keep_limit: int | None, injector: StreamInjector | None = None, encoding: str | None = None,
        origin_headers: list[tuple[str, str]] | None = None, undecodable: bool = False,
    ) -> None:
        self.origin_headers = origin_headers or []  # as the origin sent them, for the cache
        self.candidate = injector is not None or undecodable  # an HTML page the audit reports on
        self.inject_detail: dict[str, Any] = {}  # from the CSP decision, for the `injected` record
        self.kept: list[bytes] | None = [] if keep_limit is not None else None
        self.kept_size = 0
        self.raw_size = 0
        self.keep_limit = keep_limit or 0
        self.too_big = False
        self.finished = False
        self.undecodable = undecodable
        self.cut_short = False  # the body stopped decoding after re-encoded bytes went out
        self.injector = injector
        self._decoder = stream_codec.decoder(encoding) if injector and encoding else None
        self._encoder = stream_codec.encoder(encoding) if injector and encoding else None
        self._raw_until_output: list[bytes] | None = [] if self._decoder else None  # to fall back on

    @property
    def body(self) -> bytes | None:
        """What the origin sent, when it was kept whole."""
        return b"".join(self.kept) if self.kept is not None else None

    def __call__(self, data: bytes) -> list[bytes]:
        # A list, never b"" for a chunk: mitmproxy would send an empty chunk, which ends a chunked body.
        if not data:
            self.finished = True
            out = self._finish() if self.injector else b""
        else:
            self.raw_size += len(data)
            out = self._transform(data) if self.injector else data
        if out:
            self._keep(out)
            return [out]
        return []

    def _keep(self, data: bytes) -> None:
        if self.kept is None:
            return
        self.kept_size += len(data)
        if self.kept_size > self.keep_limit:
            self.kept, self.too_big = None, True  # over the object limit: stop buffering
        else:
            self.kept.append(data)

    def _transform(self, data: bytes) -> bytes:
        if self._decoder is None:
            return self.injector.feed(data)
        try:
            decoded = self._decoder.feed(data)
        except stream_codec.CodecError:
            return self._undecodable(data)
        out = self._encoder.feed(self.injector.feed(decoded))
        if self._raw_until_output is not None:
            if out:
                self._raw_until_output = None
            else:
                self._raw_until_output.append(data)
        return out

    def _undecodable(self, data: bytes) -> bytes:
        self.undecodable = True
        injector, self.injector = self.injector, None
        if self._raw_until_output is not None:
            # Nothing went out yet: the body passes through untouched, as the origin sent it.
            raw, self._raw_until_output = b"".join(self._raw_until_output) + data, None
            return raw
        # Re-encoded bytes went out already: close that stream with what was decoded (the rest
        # of the origin's body cannot be decoded, so it cannot follow).
        logger.warning("prefetch-lab: compressed body stopped decoding mid-stream; the client's copy ends there")
        self.cut_short = True
        return self._encoder.feed(injector.finish()) + self._encoder.finish()

    def _finish(self) -> bytes:
        if self._decoder is None:
            return self.injector.finish()
        try:
            tail = self._decoder.finish()
        except stream_codec.CodecError:
            if self._raw_until_output is not None:
                return self._undecodable(b"")
            self.undecodable = True
            tail = b""
        return self._encoder.feed(self.injector.feed(tail) + self.injector.finish()) + self._encoder.finish()
