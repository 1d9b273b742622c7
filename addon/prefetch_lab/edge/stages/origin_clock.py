"""The origin clock (`prefetch_origin_timeout`): seconds an origin may take to send its response
headers, as an edge's origin timeout. Last of the request stages, so the clock starts only for a
request that does go to the origin (a collapsed waiter released, a stale-if-error request sent
on); stopped when the headers (or an error) arrive.

A hung origin gets the edge's own 504 (edge/origin_fetches.py says how): its `response` is
recorded here as an `origin-error`, marked `state.handled` so that the rewrite, the store and
the edge headers leave it alone; stages.stale_if_error, later, may still swap it for a stale
entry. An error (the origin failed, or a TLS connection cut at the timeout) is recorded too.
"""

from __future__ import annotations

from mitmproxy import ctx, exceptions, http

from prefetch_lab.edge import answers, compat
from prefetch_lab.edge.context import EdgeContext, add_comment
from prefetch_lab.edge.origin_fetches import DEFAULT_TIMEOUT, TIMEOUT_REASON


class OriginClock:
    name = "prefetch.originclock"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_origin_timeout", int, DEFAULT_TIMEOUT,
            "Seconds an origin fetch may take to send its response headers, as an edge's origin "
            "timeout: past it the client gets a gateway error and the audit an origin-error. 0: no limit.",
        )

    def configure(self, updated: set[str]) -> None:
        if "prefetch_origin_timeout" in updated:
            timeout = ctx.options.prefetch_origin_timeout
            if timeout < 0:
                raise exceptions.OptionsError(f"prefetch_origin_timeout must be 0 (no limit) or more seconds, got {timeout}")
            self.edge.origin.timeout = timeout

    def running(self) -> None:
        compat.unqueue_replays()

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is None and flow.error is None:
            self.edge.origin.watch(flow)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self.edge.origin.arrived(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None or state.served_by_edge or flow not in self.edge.origin.gateway_timeouts:
            return
        state.handled = "origin-timeout"
        answers.add_edge_headers(self.edge, flow, state, "code", from_origin=False)  # as any uncacheable status
        add_comment(flow, "origin timeout, 504 from the edge")
        self.edge.record("origin-error", flow, status=504,
                         reason=f"{TIMEOUT_REASON}: no response headers in {self.edge.origin.timeout:g}s")

    def error(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None:
            return
        self.edge.origin.arrived(flow)
        reason = str(flow.error)
        if flow in self.edge.origin.timed_out:
            reason = f"{TIMEOUT_REASON}: no response headers in {self.edge.origin.timeout:g}s ({reason})"
        self.edge.record("origin-error", flow, reason=reason)
