"""Origin responses streamed to the client as they arrive, injected and cached in the stream.

`BodyStream` is the `flow.response.stream` callable (plain bytes in, bytes out; mitmproxy calls it
per chunk and once with b"" at the end): for HTML pages it decodes, injects (streaminject) and
re-encodes (streamcodec) with a flush per chunk, and it keeps what the client gets beside the
stream for the cache (up to the object limit, then it lets go of it). As in the buffered path,
the cache holds the page as served, tag included and in the origin's Content-Encoding, so a hit
is served as stored.

`StreamingResponses` is the mitmproxy side: `start` in `responseheaders` (where everything decided
on headers happens: edge headers, Speculation-Rules, framing), `finish` in `response` (the
audit records and the cache store, once the body is complete). An errored stream never gets to
`finish`: nothing is stored, the addon's `error` hook audits it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mitmproxy import http

from prefetch_lab.html import csp
from prefetch_lab.edge import headers as headerlookup
from prefetch_lab.html import stream_codec as streamcodec
from prefetch_lab.edge.html_rewrite import declared_charset, install_tag, is_html_document
from prefetch_lab.html.stream_inject import StreamInjector

if TYPE_CHECKING:
    from prefetch_lab.edge.lab import FlowState, PrefetchLab

logger = logging.getLogger(__name__)

BODILESS_STATUSES = (204, 304)
# A body of a known length up to this goes the buffered path. An origin that declares the length
# had the whole body when it sent the headers (a page flushed early is chunked: its length is not
# known yet), so the body follows at network speed; and mitmproxy's streaming path costs more
# than that wait on small bodies (`stream = True` alone, 8-40 KB assets: CPU 1.2x, p50 1.3x).
BUFFER_KNOWN_LENGTH_UP_TO = 64 * 1024


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
        self._decoder = streamcodec.decoder(encoding) if injector and encoding else None
        self._encoder = streamcodec.encoder(encoding) if injector and encoding else None
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
        except streamcodec.CodecError:
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
        except streamcodec.CodecError:
            if self._raw_until_output is not None:
                return self._undecodable(b"")
            self.undecodable = True
            tail = b""
        return self._encoder.feed(self.injector.feed(tail) + self.injector.finish()) + self._encoder.finish()


class StreamingResponses:
    """The addon's streamed response path (it keeps the per-flow state in the BodyStream)."""

    def __init__(self, addon: "PrefetchLab") -> None:
        self.addon = addon

    @staticmethod
    def body_stream(flow: http.HTTPFlow) -> BodyStream | None:
        stream = flow.response.stream if flow.response else None
        return stream if isinstance(stream, BodyStream) else None

    @classmethod
    def keeps_body(cls, flow: http.HTTPFlow) -> bool:
        """Is this streamed response's body being kept for the cache (so far)?"""
        body_stream = cls.body_stream(flow)
        return body_stream is not None and body_stream.kept is not None

    def start(self, flow: http.HTTPFlow, state: "FlowState", options: Any) -> bool:
        """In `responseheaders`: stream this origin response? (False: the buffered path takes it.)"""
        req, resp = flow.request, flow.response
        length = _content_length(resp.headers)
        if (
            req.method == "HEAD" or resp.status_code < 200 or resp.status_code in BODILESS_STATUSES
            or (length is not None and length <= BUFFER_KNOWN_LENGTH_UP_TO) or state.client_validators
        ):
            return False  # no body to stream, a small complete one, or validators the edge answers
        addon = self.addon
        origin_headers = list(resp.headers.items(multi=True))
        caching_status, storable = addon.predict_storage(flow, state, origin_headers, length)
        injector, encoding, undecodable = None, None, False
        if options.prefetch_inject in ("both", "edgio") and is_html_document(flow):
            try:
                encoding = streamcodec.single_encoding(resp.headers.get("content-encoding"))
            except streamcodec.CodecError:
                undecodable = True
            else:
                injector = StreamInjector(
                    self._tag_for(flow, options, addon.force_ratio), options.prefetch_inject_at,
                    charset=declared_charset(resp.headers.get("content-type", "")),
                )
        body_stream = BodyStream(keep_limit=addon.store.max_object_size if storable else None, injector=injector,
                                 encoding=encoding, origin_headers=origin_headers, undecodable=undecodable)
        if injector is not None:
            # The length changes: let the framing carry the body (HTTP/2 strips this header).
            resp.headers.pop("content-length", None)
            if req.http_version == "HTTP/1.1" and "chunked" not in resp.headers.get("transfer-encoding", "").lower():
                resp.headers["transfer-encoding"] = "chunked"
        addon.add_edge_headers(flow, state, caching_status)
        resp.stream = body_stream
        return True

    @staticmethod
    def _tag_for(flow: http.HTTPFlow, options: Any, force_ratio: float | None):
        include_cache_misses, force_ratio = options.prefetch_include_cache_misses, force_ratio

        def tag_for(metas: list[bytes]) -> bytes | str:
            tag, detail = install_tag(flow, csp.find_meta_csp(b"".join(metas)), include_cache_misses, force_ratio)
            flow.response.stream.inject_detail = detail
            return detail["reason"] if tag is None else tag

        return tag_for

    def finish(self, flow: http.HTTPFlow, state: "FlowState", placement: str) -> str:
        """In `response`, after the last chunk went out: audit and store; returns the caching status."""
        addon, body_stream = self.addon, flow.response.stream
        if body_stream.candidate:
            injector = body_stream.injector
            if body_stream.undecodable:
                addon.record("inject-skipped", flow, reason="undecodable-encoding",
                             content_encoding=flow.response.headers.get("content-encoding"))
            elif injector.injected:
                addon.note_injected(flow)
                addon.record("injected", flow, placement=placement, offset=injector.offset, **body_stream.inject_detail)
            else:
                # An empty body is skipped before the CSP is looked at, as in the buffered path.
                addon.record("inject-skipped", flow, reason="empty" if not body_stream.raw_size else injector.reason)
        if body_stream.cut_short:
            addon.record("cache-bypass", flow, status=flow.response.status_code, caching_status="bypassed",
                         reason="undecodable-encoding")
            return "bypassed"
        return addon.store_response(flow, state, body_stream.body or b"", body_stream.origin_headers,
                                    too_big=body_stream.too_big)


def _content_length(headers: http.Headers) -> int | None:
    value = headerlookup.get(headers, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None
