"""The cache lookup: one decision per request, `FlowState.action` (context.Action), and the
answer when the edge holds one.

  SERVE           a fresh entry, or a stale one inside stale-while-revalidate (refreshed in the
                  background, once per key): answered here
  REVALIDATE      expired with validators: stages.revalidate sends them
  STALE_IF_ERROR  expired inside its stale-if-error window: stages.stale_if_error fetches it
  MISS / FORCED   to the origin (a GET miss may collapse; the client's validators are held back
                  and answered by the edge); FORCED: the client asked for the origin (no-cache)
  BYPASS          not the cache's business (method, upgrade, a bypass rule, the cache off)
  REFUSED         a gated prefetch the edge cannot serve as is (`refusal` says why): stages.gate
  BACKGROUND      the edge's own fetch: straight to the origin (REVALIDATE with stored validators)

A gated prefetch gets only what the edge may serve as is: never a revalidation, never a stored
204 (Chromium uses a prefetched 204 and cancels the user's navigation).
"""

from __future__ import annotations

import time

from mitmproxy import http

from prefetch_lab.edge import answers, storage
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.context import Action, EdgeContext, FlowState
from prefetch_lab.edge.validators import hold_client_validators
from prefetch_lab.http import cachepolicy


class CacheLookup:
    name = "prefetch.lookup"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def request(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if flow.response or flow.error or state is None or state.served_by_edge:
            return
        if state.background:
            self._background(flow, state)
        else:
            self._decide(flow, state)
        if state.action is Action.SERVE:
            self._serve(flow, state)
        elif state.action is Action.MISS and flow.request.method == "GET":
            hold_client_validators(flow, state)

    def _background(self, flow: http.HTTPFlow, state: FlowState) -> None:
        # Conditional when the stored entry has validators, so a 304 freshens it without a body.
        entry = self.edge.store.find(state.key, header_reads.pairs(flow.request.headers))
        if entry is not None and entry.validators:
            state.action, state.entry = Action.REVALIDATE, entry
        else:
            state.action = Action.BACKGROUND

    def _decide(self, flow: http.HTTPFlow, state: FlowState) -> None:
        req, edge = flow.request, self.edge
        uncacheable = (
            "method" if req.method not in ("GET", "HEAD")
            else "upgrade" if header_reads.has(req.headers, b"upgrade")  # a WebSocket handshake is never a cached page
            else "bypassed" if state.features.bypass_cache
            else "cache-disabled" if not edge.options.cache_enabled
            else None
        )
        if uncacheable:
            self._set(state, Action.BYPASS, refusal=uncacheable)
            return
        request_headers = header_reads.pairs(req.headers)
        if not state.prefetch and cachepolicy.request_forces_origin(request_headers, edge.rules_active):
            self._set(state, Action.FORCED, refusal="not-cached")
            return
        now = time.time()
        entry = edge.store.get(state.key, request_headers, now, allow_expired=True)
        if entry is None:
            self._set(state, Action.MISS, refusal="not-cached")
        elif entry.state(now) == "expired":  # with validators, or inside stale-if-error
            action = Action.STALE_IF_ERROR if entry.within_stale_if_error(now) else Action.REVALIDATE
            # the gate: a prefetch gets only what the edge may serve as is
            self._set(state, action, entry, refusal="not-cached")
        elif state.gated and entry.status == 204:
            self._set(state, Action.REFUSED, entry, refusal="no-content")
        else:
            self._set(state, Action.SERVE, entry)

    @staticmethod
    def _set(state: FlowState, action: Action, entry=None, refusal: str = "") -> None:
        if state.gated and action is not Action.SERVE:
            state.action, state.refusal = Action.REFUSED, refusal  # stages.gate answers it
        else:
            state.action = action
        state.entry = entry

    def _serve(self, flow: http.HTTPFlow, state: FlowState) -> None:
        entry = state.entry
        stale = entry.state(time.time()) != "fresh"
        if stale:  # first: the refresh must not depend on the trail record of the answer
            storage.background_fetch_once(self.edge, flow, state, "revalidate")
        answers.serve_entry(self.edge, flow, state, entry, stale)
