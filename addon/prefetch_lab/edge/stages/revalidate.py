"""Revalidation (RFC 9111 4.3): a stale entry with a validator is checked with the origin by a
conditional request, and a 304 freshens it instead of the origin sending the body again.

An entry past its freshness and past stale-while-revalidate that has an `ETag` or
`Last-Modified` stays stored (cachestore); a request for it goes to the origin with
`If-None-Match` / `If-Modified-Since` from the stored validators (the client's own are held back,
as on a miss, and answered by the edge). The stale-while-revalidate background refresh sends
them too, so a 304 costs the origin no body. A 304 updates the stored header fields (RFC 9111
3.2) and gives the entry new freshness; the client gets the stored response (200 with its body,
or a 304 when its own validators match). Any other answer takes the ordinary path: a 200
replaces the entry. A gated prefetch never revalidates: an entry that is not servable is
refused like a miss (the gate is unchanged).

PrefetchLab calls `begin` in `request` and `not_modified` in `response`: a 304 has no body, so
streaming.py never streams it and it reaches `response` whole.
"""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING

from mitmproxy import http

from prefetch_lab.http import cachepolicy
from prefetch_lab.edge import headers as headerlookup
from prefetch_lab.http.cachestore import CacheEntry
from prefetch_lab.edge.origin_fetches import CLIENT_VALIDATORS

if TYPE_CHECKING:
    from prefetch_lab.edge.lab import FlowState, PrefetchLab


def hold_client_validators(flow: http.HTTPFlow, state: "FlowState") -> None:
    """Take the client's validators off a request the edge forwards as a miss: forwarded, they
    would let the origin answer 304 and the edge would never fill; the edge answers them itself."""
    headers = flow.request.headers
    for name in CLIENT_VALIDATORS:
        if headerlookup.has(headers, name.encode()):
            state.client_validators[name] = headers.pop(name)


def headers_without_validators(flow: http.HTTPFlow) -> list[tuple[str, str]]:
    """The request's header pairs less the client's validators (what the cache decides on)."""
    return [(n, v) for n, v in flow.request.headers.items(multi=True) if n.lower() not in CLIENT_VALIDATORS]


def use_client_validators(flow: http.HTTPFlow, state: "FlowState") -> None:
    """Put back the client's own validators in place of the edge's (to answer them here)."""
    for name in CLIENT_VALIDATORS:
        flow.request.headers.pop(name, None)
    for name, value in state.client_validators.items():
        flow.request.headers[name] = value
    state.client_validators.clear()


class Revalidation:
    def __init__(self, lab: "PrefetchLab") -> None:
        self.lab = lab
        self.not_modified_count = 0  # 304s that freshened an entry

    def begin(self, flow: http.HTTPFlow, state: "FlowState", entry: CacheEntry) -> None:
        """In `request`: send the stored validators instead of the client's."""
        headers = flow.request.headers
        for name in CLIENT_VALIDATORS:
            if name in headers:
                value = headers.pop(name)
                if not state.background:
                    state.client_validators[name] = value
        for name, value in entry.validators:
            headers[name] = value
        state.revalidating = entry

    def not_modified(self, flow: http.HTTPFlow, state: "FlowState") -> None:
        """In `response`, for the origin's 304 to a revalidation: freshen, then answer."""
        from prefetch_lab.edge.lab import rule_caching  # addon imports this module

        lab, entry, now = self.lab, state.revalidating, time.time()
        assert entry is not None
        if not cachepolicy.not_modified_selects(entry.headers, list(flow.response.headers.items(multi=True))):
            self._selects_nothing(flow, state, entry)
            return
        headers = cachepolicy.freshened_headers(entry.headers, list(flow.response.headers.items(multi=True)))
        request_headers = headers_without_validators(flow)
        decision = cachepolicy.storage_decision(
            "GET", entry.status, request_headers + list(state.client_validators.items()), headers,
            rule_caching(state.features), len(entry.body), lab.store.max_object_size, now, lab.rules_active,
        )
        freshened = dataclasses.replace(entry, headers=headers, stored_at=now, initial_age=decision.initial_age,
                                        ttl=decision.ttl, swr=decision.swr, sie=decision.sie)
        if decision.store and lab.store.put(freshened):
            caching_status = "revalidated"
            self.not_modified_count += 1
        else:  # the 304 made it unstorable (no-store, private...): it goes, but this answer stands
            lab.store.remove(entry)
            caching_status = decision.caching_status if not decision.store else "body-too-big"
        lab.record("revalidated", flow, status=304, caching_status=caching_status, ttl=decision.ttl,
                   reason=None if decision.store else decision.reason)
        if state.background:
            lab.store.end_revalidation(state.key)
            lab.origin.background_done(flow)
            return
        use_client_validators(flow, state)
        lab.serve_entry(flow, state, freshened, stale=False, caching_status=caching_status)

    def _selects_nothing(self, flow: http.HTTPFlow, state: "FlowState", entry: CacheEntry) -> None:
        """RFC 9111 4.3.4: a 304 whose validators match no stored response (another strong ETag)
        updates nothing. The stored response is no longer the current one: it goes, and a
        client request is answered by a fresh unconditional fetch (stalefallback.py)."""
        lab = self.lab
        lab.store.remove(entry)
        lab.record("revalidated", flow, status=304, caching_status="not-selected",
                   reason="the 304's validators select no stored response (RFC 9111 4.3.4)")
        if state.background:
            lab.store.end_revalidation(state.key)
            lab.origin.background_done(flow)
            return
        state.refetch = True
