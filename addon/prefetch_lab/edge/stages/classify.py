"""Classification: what a request is, before anything is decided about it.

Writes the flow's `FlowState`: its cache key (edgio_* params stripped from the request that goes
on, as Edgio's edge does), the rules' features for it, and whether it is a prefetch: Edgio's
(`edgio_prefetch`: gated, answered only from cache; `edgio_dt_pf` alone: include-cache-misses,
allowed to miss) or a speculation (`Sec-Purpose: prefetch`, gated unless the site's own rules
sent it, and 503 for a prerender; with `prefetch_gate=off` none is gated). A prerendered page's
own subresources are ordinary requests.
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.context import EdgeContext, FlowState
from prefetch_lab.http.cachestore import cache_key, strip_edgio_params
from prefetch_lab.http import speculation_headers
from prefetch_lab.rules.model import RequestInfo


class Classify:
    name = "prefetch.classify"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return  # answered already (an edge file, the learned rules document)
        req, edge = flow.request, self.edge
        path, _, query = req.path.partition("?")
        # A fresh state every time: a flow the user replays is decided anew. The URL as asked
        # (edgio_* included) is only needed for the trail. The state is tracked only once it
        # is complete: a request whose classification failed has none (stages.gate refuses it
        # if it looks like a prefetch; the other stages let it pass).
        state = FlowState(background=edge.origin.queued.pop(flow, None),
                          url=header_reads.pretty_url(req) if edge.recording else "")
        stripped = strip_edgio_params(query)
        state.key = cache_key(req.method, req.scheme, req.host, req.port, path, stripped, header_reads.host_header(req))
        state.features = edge.match(RequestInfo(req.method.upper(), req.scheme, req.host.lower(), path, stripped))
        forwarded = None if state.background else self._classify_prefetch(flow, state, header_reads.query_param_names(query))
        if state.gated and not edge.options.gate:  # prefetch_gate=off: the site as it is, no gating edge
            state.gated, forwarded = False, "gate-off"
        if stripped != query:
            req.path = path + ("?" + stripped if stripped else "")
        edge.track(flow, state)
        if forwarded:
            edge.record("prefetch-forwarded", flow, reason=forwarded)

    @staticmethod
    def _classify_prefetch(flow: http.HTTPFlow, state: FlowState, params: set[str]) -> str | None:
        """Sets the prefetch fields; returns why an ungated prefetch goes to the origin."""
        headers = flow.request.headers
        state.edgio_prefetch = "edgio_prefetch" in params
        # edgio_* params decide before Sec-Purpose: Edgio's own client prefetches with
        # <link rel=prefetch>, so its requests carry Sec-Purpose: prefetch as well.
        if state.edgio_prefetch:
            state.prefetch, state.gated = "edgio", True
        elif "edgio_dt_pf" in params:
            state.prefetch = "edgio"  # include-cache-misses: the origin may answer (and so fill the cache)
            return "include-cache-misses"
        elif speculation_headers.is_speculative(purpose := header_reads.get(headers, b"sec-purpose")):
            if speculation_headers.is_prerender_subresource(purpose, headers.get("sec-fetch-dest")):
                return None  # a prerendered page's own subresource: an ordinary request
            state.prerender = speculation_headers.is_prerender(purpose)
            state.prefetch = "speculation"
            state.gated = speculation_headers.refusal_applies(headers.get("sec-speculation-tags"))
            if not state.gated:
                return "site-speculation"
        return None
