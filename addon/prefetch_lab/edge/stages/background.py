"""The edge's own background fetches (stale-while-revalidate refreshes, warming, stale-if-error
and refetch fetches: edge/origin_fetches.py) end here: once one has its answer, or failed, its
slot and its key's revalidation lock are freed, and the requests waiting on it (stages
.stale_if_error) are released.

A stage of its own, after the store in the route: the route isolates each stage's hooks
(edge/route.py), so a slot is freed whatever failed in an earlier stage (a full disk under the
trail).
A fetch that mitmproxy streams (stream_large_bodies) is freed in `responseheaders`: its body
never reaches `response`.
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import storage
from prefetch_lab.edge.context import EdgeContext


class BackgroundFetches:
    name = "prefetch.background"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if flow.response.stream is True:  # stream_large_bodies: no `response` with a body follows
            self._done(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._done(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._done(flow)

    def _done(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is not None and state.background:
            storage.background_done(self.edge, flow, state)
