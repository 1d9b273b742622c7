"""Storing origin answers in the edge cache (`prefetch_cache_mb`; `prefetch.cache.clear`,
`prefetch.cache.stats`), with one `cache-store` or `cache-bypass` trail record per answer.

A buffered answer is stored as the client gets it (injected); a streamed one from what
stages.stream kept (`state.streamed`); one mitmproxy streams by itself (stream_large_bodies)
is never stored (`body-too-big`). The caching status it gets goes to stages.edge_headers
(`state.caching_status`). When the edge held back the client's validators on a miss, it
answers them from what it stored (a 304). The edge's own background fetches are recorded here
as `warmed` / `revalidated`.
"""

from __future__ import annotations

import logging

from mitmproxy import command, ctx, exceptions, http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge import responses, storage
from prefetch_lab.edge.context import MB, META, EdgeContext, FlowState
from prefetch_lab.http import cachepolicy

logger = logging.getLogger(__name__)


class Store:
    name = "prefetch.store"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_cache_mb", int, 256,
            "Edge cache budget in MiB (least recently used entries are evicted; an object over "
            "1/8 of the budget is not cached). 0 disables the edge cache.",
        )

    def configure(self, updated: set[str]) -> None:
        if "prefetch_cache_mb" not in updated:
            return
        budget = ctx.options.prefetch_cache_mb
        if budget < 0:
            raise exceptions.OptionsError(f"prefetch_cache_mb must be 0 or more, got {budget}")
        self.edge.options.cache_enabled = budget > 0
        if budget:
            self.edge.store.resize(budget * MB)
        else:
            self.edge.store.clear()

    @command.command("prefetch.cache.clear")
    def clear_cache(self) -> None:
        """Drop every entry of the edge cache."""
        self.edge.store.clear()
        logger.info("prefetch-lab: edge cache cleared")

    @command.command("prefetch.cache.stats")
    def cache_stats(self) -> str:
        """Entries, bytes, budget, hits, misses, stores and evictions of the edge cache."""
        return " ".join(f"{k}={v}" for k, v in self.edge.store.stats().items())

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None or state.served_by_edge or flow.response.stream is not True:
            return
        # Streamed by mitmproxy's stream_large_bodies: the body never reaches `response`.
        state.caching_status = "body-too-big"
        self.edge.record("cache-bypass", flow, status=flow.response.status_code, caching_status="body-too-big",
                         reason="streamed")

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None or state.served_by_edge or state.handled or flow.response.stream is True:
            return
        if state.streamed is not None:
            state.caching_status = self._store_streamed(flow, state)
        else:
            resp = flow.response
            state.caching_status = storage.store_response(
                self.edge, flow, state, resp.raw_content or b"", header_reads.pairs(resp.headers))
            if state.caching_status.startswith("cached"):
                self._answer_client_validators(flow, state)
        flow.metadata[META] = {**state.summary(), "caching_status": state.caching_status}
        if state.background:  # (never streamed: stages.stream leaves the edge's own fetches buffered)
            self.edge.record("warmed" if state.background == "warm" else "revalidated", flow,
                             status=flow.response.status_code, caching_status=state.caching_status)

    def _store_streamed(self, flow: http.HTTPFlow, state: FlowState) -> str:
        body_stream = state.streamed
        if body_stream.cut_short:
            self.edge.record("cache-bypass", flow, status=flow.response.status_code, caching_status="bypassed",
                             reason="undecodable-encoding")
            return "bypassed"
        return storage.store_response(self.edge, flow, state, body_stream.body or b"", body_stream.origin_headers,
                                      too_big=body_stream.too_big)

    @staticmethod
    def _answer_client_validators(flow: http.HTTPFlow, state: FlowState) -> None:
        """The edge held back the client's validators on a miss; answer them from what it stored."""
        if not state.client_validators or flow.response.status_code != 200:
            return
        headers = header_reads.pairs(flow.response.headers)
        if cachepolicy.conditional_response(list(state.client_validators.items()), 200, headers):
            flow.response = responses.not_modified(headers, 0)
