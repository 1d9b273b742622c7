"""The answers the edge gives itself, shared by the stages that answer: a stored entry, a
prefetch refusal, and the edge's headers on any answer (x-edg-*, the rules' response headers,
the Speculation-Rules header on HTML pages).
"""

from __future__ import annotations

import time

from mitmproxy import http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge import responses
from prefetch_lab.edge.context import EdgeContext, FlowState, note
from prefetch_lab.edge.html_rewrite import is_html_document
from prefetch_lab.http import cachepolicy, ranges
from prefetch_lab.http.cachestore import CacheEntry
from prefetch_lab.http.speculation_headers import merge_header
from prefetch_lab.rules.speculation_rules import RULES_PATH

PRERENDER_REFUSAL_STATUS = 503  # as Speed Brain refuses speculations (and Chromium expects)
OUR_SPECULATION_HEADER = merge_header([], RULES_PATH)


def serve_entry(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry, stale: bool,
                caching_status: str | None = None, reason: str | None = None) -> None:
    """Answer from the edge cache: 200 (or 304 to a matching validator, 206 / 416 to a Range on a
    stored 200; HEAD without body). A prefetch gets the whole response: it never carries Range."""
    req = flow.request
    now = time.time()
    response = responses.from_entry(entry, now)
    if not cachepolicy.client_accepts_encoding(header_reads.get(req.headers, b"accept-encoding"),
                                               header_reads.get(response.headers, b"content-encoding")):
        try:  # never send a br body to a client that did not offer br...
            response.decode()
        except ValueError:  # ...but one that does not decode goes as stored, with its label
            pass
    if not state.prefetch and cachepolicy.conditional_response(header_reads.pairs(req.headers), entry.status, entry.headers):
        response = responses.not_modified(entry.headers, entry.age(now))
    elif req.method == "GET" and entry.status == 200 and not state.prefetch and header_reads.has(req.headers, b"range"):
        response = _range_of(req, response)
    elif req.method == "HEAD":
        responses.without_body(response)
    flow.response = response
    flow.is_replay = "response"
    state.served_by_edge = True
    status = caching_status or ("stale" if stale else "hit")
    add_edge_headers(edge, flow, state, status)
    _audit_served(edge, flow, state, entry, stale, status, reason)


def _range_of(req: http.Request, response: http.Response) -> http.Response:
    # After any decoding: the range is of the bytes this client gets.
    body = response.raw_content or b""
    answer = ranges.answer(req.method, header_reads.pairs(req.headers),
                           header_reads.pairs(response.headers), len(body))
    return response if answer is None else responses.partial(response, answer, body)


def _audit_served(edge, flow, state, entry, stale, status, reason) -> None:
    if state.prefetch:
        note(flow, "prefetch-hit", f"prefetch served from the edge cache ({status})")
        content_type = next((v for n, v in entry.headers if n.lower() == "content-type"), None)
        edge.record("prefetch-hit", flow, status=flow.response.status_code, caching_status=status,
                    size=len(entry.body), content_type=content_type)
    else:
        note(flow, "stale" if stale else "hit", f"served from the edge cache ({status})")
        edge.record("cache-stale" if stale else "cache-hit", flow, status=flow.response.status_code,
                    caching_status=status, reason=reason)


def refuse(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, reason: str) -> None:
    """Refuse a prefetch: 412 (Edgio) or 503 (Speed Brain, and any prerender), never the origin."""
    status = PRERENDER_REFUSAL_STATUS if state.prerender else edge.options.refusal_status
    flow.response = responses.refusal(status, reason)
    state.served_by_edge = True
    add_edge_headers(edge, flow, state, "miss" if reason == "not-cached" else "bypassed", from_origin=False)
    note(flow, "prefetch-refused", f"prefetch refused ({reason}) with {status}")
    edge.record("prefetch-refused", flow, status=status, reason=reason)


def answered_by_edge(flow: http.HTTPFlow, state: FlowState, why: str) -> None:
    """A response the edge made from its own origin fetch (not a stored entry)."""
    if flow.request.method == "HEAD":
        responses.without_body(flow.response)
    flow.is_replay = "response"
    state.served_by_edge = True
    note(flow, "background", why)


def add_edge_headers(edge: EdgeContext, flow: http.HTTPFlow, state: FlowState, caching_status: str,
                     from_origin: bool = True) -> None:
    headers = flow.response.headers
    header_reads.set(headers, b"x-edg-caching-status", caching_status)
    if state.edgio_prefetch:
        headers["x-edg-p"] = "1"
    if not from_origin:
        return  # a refusal: the rules' response features describe responses, not refusals
    features = state.features
    if features.service_worker_max_age and not features.bypass_cache:
        headers["x-sw-cache-control"] = f"max-age={features.service_worker_max_age}"
    for name, value in features.set_response_headers:
        headers[name] = value
    if features.bypass_client_cache:
        headers["cache-control"] = "private, no-cache, no-store, must-revalidate"
    if edge.options.inject_mode in ("both", "speculation") and is_html_document(flow):
        _speculation_rules_header(edge, flow, headers)


def _speculation_rules_header(edge: EdgeContext, flow: http.HTTPFlow, headers: http.Headers) -> None:
    host, eagerness = flow.request.host.lower(), edge.options.eagerness
    if not edge.edge_files.has_speculation_rules(host, flow.request.scheme, eagerness):
        return
    theirs = headers.get_all("speculation-rules")
    ours = edge.edge_files.speculation_rules_url(flow.request.path)  # fixed, or the page's own
    header_reads.set(headers, b"speculation-rules", (
        OUR_SPECULATION_HEADER if not theirs and ours == RULES_PATH
        else merge_header(theirs, ours)
    ))
