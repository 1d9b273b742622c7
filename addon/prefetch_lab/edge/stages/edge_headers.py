"""The edge's headers on what the origin sent: `x-edg-caching-status` (from
`state.caching_status`, which stages.stream or stages.store wrote), `x-edg-p` for Edgio
prefetches, the rules' response headers (`x-sw-cache-control`, `set_response_headers`,
`bypass_client_cache`) and, on HTML pages, the Speculation-Rules header.

A streamed response gets them in `responseheaders` (its headers leave before its body), a
buffered one in `response`, once it is stored. Answers the edge makes itself carry them from
where they are made (edge/answers.py).

Every response that passes the edge, whoever made it, also gets `x-prefetch-lab-edge: 1`
(`responseheaders`, which mitmproxy runs for answers made in `request` too): our service worker
removes itself when a navigation comes back without it (the edge is no longer in front).
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import answers
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.context import EdgeContext


EDGE_MARKER = b"x-prefetch-lab-edge"


class EdgeHeaders:
    name = "prefetch.edgeheaders"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        header_reads.set(flow.response.headers, EDGE_MARKER, "1")
        if flow.response.stream:
            self._add(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        if not flow.response.stream:
            self._add(flow)

    def _add(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None or state.served_by_edge or state.handled or state.caching_status is None:
            return
        answers.add_edge_headers(self.edge, flow, state, state.caching_status)
