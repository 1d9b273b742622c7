"""Streaming: origin responses go to the client as they arrive, injected and kept for the cache
in the stream (edge/body_stream.py), rather than buffered whole.

`responseheaders` decides on the headers: bodiless answers, HEAD, a small body of known length
(below), a response stages.stale_if_error holds whole (`state.hold_response`) or one whose
client validators the edge answers take the buffered path. A streamed response gets its caching
status predicted from its headers (`state.caching_status`, sent by stages.edge_headers) and
whether its body is kept for the cache (`state.keeps_body`, read by stages.collapse); an HTML
page is injected in the stream, its framing becomes chunked. `response` (after the last chunk)
records the injection and hands the finished stream to stages.store (`state.streamed`). An
errored stream never gets there: nothing is stored.
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import compat
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge import storage
from prefetch_lab.edge.body_stream import BodyStream
from prefetch_lab.edge.context import EdgeContext, FlowState, note
from prefetch_lab.edge.html_rewrite import declared_charset, install_tag, is_html_document
from prefetch_lab.html import csp
from prefetch_lab.html import stream_codec
from prefetch_lab.html.stream_inject import StreamInjector

BODILESS_STATUSES = (204, 304)
# A body of a known length up to this goes the buffered path. An origin that declares the length
# had the whole body when it sent the headers (a page flushed early is chunked: its length is not
# known yet), so the body follows at network speed; and mitmproxy's streaming path costs more
# than that wait on small bodies (`stream = True` alone, 8-40 KB assets: CPU 1.2x, p50 1.3x).
BUFFER_KNOWN_LENGTH_UP_TO = 64 * 1024


class Stream:
    name = "prefetch.stream"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
        compat.read_unknown_codings_until_close()

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        _reframe_unknown_coding(flow)
        state = self.edge.state_of(flow)
        if state is not None and not state.served_by_edge and state.features.remove_origin_response_headers:
            # First of the response stages: the edge stores, and the client gets, the response without them.
            for name in state.features.remove_origin_response_headers:
                flow.response.headers.pop(name, None)
        if (state is None or state.served_by_edge or state.background or state.hold_response
                or not self._streams(flow, state)):
            return
        resp = flow.response
        origin_headers = list(resp.headers.items(multi=True))
        state.caching_status, state.keeps_body = storage.predict(
            self.edge, flow, state, origin_headers, _content_length(resp.headers))
        body_stream = BodyStream(keep_limit=self.edge.store.max_object_size if state.keeps_body else None,
                                 origin_headers=origin_headers, **self._injection(flow))
        if body_stream.injector is not None:
            # The length changes: let the framing carry the body (HTTP/2 strips this header).
            resp.headers.pop("content-length", None)
            if flow.request.http_version == "HTTP/1.1" and "chunked" not in resp.headers.get("transfer-encoding", "").lower():
                resp.headers["transfer-encoding"] = "chunked"
        resp.stream = body_stream

    @staticmethod
    def _streams(flow: http.HTTPFlow, state: FlowState) -> bool:
        req, resp = flow.request, flow.response
        length = _content_length(resp.headers)
        return not (
            req.method == "HEAD" or resp.status_code < 200 or resp.status_code in BODILESS_STATUSES
            or (length is not None and length <= BUFFER_KNOWN_LENGTH_UP_TO) or state.client_validators
        )  # no body to stream, a small complete one, or validators the edge answers

    def _injection(self, flow: http.HTTPFlow) -> dict:
        options = self.edge.options
        if options.inject_mode not in ("both", "edgio") or not is_html_document(flow):
            return {}
        resp = flow.response
        try:
            encoding = stream_codec.single_encoding(resp.headers.get("content-encoding"))
        except stream_codec.CodecError:
            return {"undecodable": True}
        injector = StreamInjector(self._tag_for(flow), options.inject_at,
                                  charset=declared_charset(resp.headers.get("content-type", "")))
        return {"injector": injector, "encoding": encoding}

    def _tag_for(self, flow: http.HTTPFlow):
        include_cache_misses, force_ratio = self.edge.options.include_cache_misses, self.edge.options.force_ratio

        def tag_for(metas: list[bytes]) -> bytes | str:
            tag, detail = install_tag(flow, csp.find_meta_csp(b"".join(metas)), include_cache_misses, force_ratio)
            flow.response.stream.inject_detail = detail
            return detail["reason"] if tag is None else tag

        return tag_for

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        body_stream = flow.response.stream
        if state is None or not isinstance(body_stream, BodyStream):
            return
        if body_stream.candidate:
            self._record_injection(flow, body_stream)
        state.streamed = body_stream

    def _record_injection(self, flow: http.HTTPFlow, body_stream: BodyStream) -> None:
        injector, edge = body_stream.injector, self.edge
        if body_stream.undecodable:
            edge.record("inject-skipped", flow, reason="undecodable-encoding",
                        content_encoding=flow.response.headers.get("content-encoding"))
        elif injector.injected:
            note(flow, "injected", "install.js injected")
            edge.record("injected", flow, placement=edge.options.inject_at, offset=injector.offset,
                        **body_stream.inject_detail)
        else:
            # An empty body is skipped before the CSP is looked at, as in the buffered path.
            edge.record("inject-skipped", flow, reason="empty" if not body_stream.raw_size else injector.reason)


def _reframe_unknown_coding(flow: http.HTTPFlow) -> None:
    """A body in a coding nobody here knows was read until the origin closed (compat): the
    coding is the origin's hop, so the client gets the bytes in its own framing."""
    if compat.unknown_transfer_coding(flow.response):
        del flow.response.headers["transfer-encoding"]
        if flow.request.http_version == "HTTP/1.1":
            flow.response.headers["transfer-encoding"] = "chunked"


def _content_length(headers: http.Headers) -> int | None:
    value = header_reads.get(headers, b"content-length")
    try:
        return None if value is None else int(value)
    except ValueError:
        return None
