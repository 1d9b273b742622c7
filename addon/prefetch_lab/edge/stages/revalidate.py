"""Revalidation (RFC 9111 4.3): a stale entry with a validator is checked with the origin by a
conditional request, and a 304 freshens it instead of the origin sending the body again.

An entry past its freshness and past stale-while-revalidate that has an `ETag` or
`Last-Modified` stays stored (cachestore); a request the lookup decided REVALIDATE goes to the
origin with `If-None-Match` / `If-Modified-Since` from the stored validators (the client's own
are held back, as on a miss, and answered by the edge). The stale-while-revalidate background
refresh sends them too, so a 304 costs the origin no body. A 304 updates the stored header
fields (RFC 9111 3.2) and gives the entry new freshness; the client gets the stored response
(200 with its body, or a 304 when its own validators match). Any other answer takes the
ordinary path: a 200 replaces the entry. A 304 whose validators select no stored response
(RFC 9111 4.3.4) drops the entry and sets the action REFETCH: stages.stale_if_error fetches the
URL again unconditionally. A gated prefetch never revalidates (the lookup refuses it instead).
"""

from __future__ import annotations

import dataclasses
import time

from mitmproxy import http

from prefetch_lab.edge import answers, storage
from prefetch_lab.edge.context import Action, EdgeContext, FlowState
from prefetch_lab.edge.validators import headers_without_validators, send_stored_validators, use_client_validators
from prefetch_lab.http import cachepolicy
from prefetch_lab.http.cachestore import CacheEntry


class Revalidation:
    name = "prefetch.revalidate"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge
        self.not_modified_count = 0  # 304s that freshened an entry

    def request(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if flow.response is None and state is not None and state.action is Action.REVALIDATE:
            send_stored_validators(flow, state, state.entry)

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if (state is None or state.served_by_edge or state.handled or state.revalidating is None
                or flow.response.status_code != 304 or flow.response.stream):
            return
        state.handled = "revalidate"  # a 304 to the edge's own question: not the client's answer
        if cachepolicy.not_modified_selects(state.revalidating.headers, list(flow.response.headers.items(multi=True))):
            self._freshen(flow, state, state.revalidating)
        else:
            self._selects_nothing(flow, state, state.revalidating)

    def _freshen(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry) -> None:
        edge, now = self.edge, time.time()
        headers = cachepolicy.freshened_headers(entry.headers, list(flow.response.headers.items(multi=True)))
        decision = storage.decide(edge, flow, state, headers, len(entry.body), headers_without_validators(flow),
                                  status=entry.status, method="GET")
        freshened = dataclasses.replace(entry, headers=headers, stored_at=now, initial_age=decision.initial_age,
                                        ttl=decision.ttl, swr=decision.swr, sie=decision.sie)
        if decision.store and edge.store.put(freshened):
            caching_status = "revalidated"
            self.not_modified_count += 1
        else:  # the 304 made it unstorable (no-store, private...): it goes, but this answer stands
            edge.store.remove(entry)
            caching_status = decision.caching_status if not decision.store else "body-too-big"
        edge.record("revalidated", flow, status=304, caching_status=caching_status, ttl=decision.ttl,
                    reason=None if decision.store else decision.reason)
        if state.background:
            return  # the edge's own refresh: stages.background frees its slot and key lock
        use_client_validators(flow, state)
        answers.serve_entry(edge, flow, state, freshened, stale=False, caching_status=caching_status)

    def _selects_nothing(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry) -> None:
        """The stored response is no longer the current one: it goes, and a client request is
        answered by a fresh unconditional fetch (stages.stale_if_error)."""
        edge = self.edge
        edge.store.remove(entry)
        edge.record("revalidated", flow, status=304, caching_status="not-selected",
                    reason="the 304's validators select no stored response (RFC 9111 4.3.4)")
        if state.background:
            return  # the edge's own refresh: stages.background frees its slot and key lock
        state.action = Action.REFETCH
