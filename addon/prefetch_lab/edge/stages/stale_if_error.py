"""The edge's own origin fetch for a request it may have to answer itself: stale-if-error
(RFC 5861) and the refetch after a 304 that selects no stored response (RFC 9111 4.3.4).

Stale-if-error: after a failed upstream connection mitmproxy (11, 12) always sends its own 502
once the `error` hook has run (`HttpStream.handle_protocol_error`), and a hung origin's request
can only be cut the same way (edge/origin_fetches.py). So the edge decides before it forwards: a request
whose stored entry is expired but inside its stale-if-error window (the lookup decides
STALE_IF_ERROR) does not go to the origin. In `request` the edge GETs the URL itself,
the background fetch of edge/origin_fetches.py (a replayed copy of the flow: the stored validators, the
origin timeout) and waits for it; concurrent requests for the same variant wait for the same
fetch. Then:
- 304: the copy's `response` freshened the entry (stages.revalidate), which answers the client;
- another answer that is no origin error: stored per policy by the copy's `response`, and the
  client gets the stored entry, or (not stored) the answer itself;
- connection failure, reset, timeout, or 500/502/503/504: the stale entry, if it is still
  inside its window (`x-edg-caching-status: stale-if-error`, a `cache-stale` record saying why,
  a flow comment), else the failure: the origin's 5xx, or the edge's own 502/504.
A 5xx answer to a request that did go to the origin (no fetch slot free, a collapsed waiter
released) is held in `responseheaders` (not streamed) and swapped for the stale entry in
`response` when it is inside its window. Prefetches keep the gate: a gated prefetch never gets
here (the lookup refuses what it cannot serve as is).

Refetch: stages.revalidate drops the entry a 304 does not select and sets the action REFETCH;
this stage's `response` (after it in the route, before stages.collapse releases the waiters)
fetches the URL unconditionally and answers from that.

The 5xx hold is decided in `responseheaders` before stages.stream (which then leaves the
response whole: `state.hold_response`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from mitmproxy import http

from prefetch_lab.edge import answers
from prefetch_lab.edge.context import Action, EdgeContext, FlowState, note
from prefetch_lab.edge.validators import (
    headers_without_validators, hold_client_validators, send_stored_validators, use_client_validators,
)
from prefetch_lab.http import cachepolicy
from prefetch_lab.http.cachestore import CacheEntry, VaryValues
from prefetch_lab.http.stale_window import CACHING_STATUS, is_origin_error

logger = logging.getLogger(__name__)

# Beyond the origin timeout (which releases the fetch), how long a waiter waits for safety.
SLACK = 5.0
PURPOSE = "stale-if-error"


class StaleIfError:
    name = "prefetch.staleiferror"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge
        self._fetches: dict[tuple[str, VaryValues], tuple[asyncio.Future, http.HTTPFlow]] = {}
        self.served_stale = 0  # origin failures answered with a stale entry
        self.fallback = StaleFallback(self)  # its place in the route: after the store

    # ---- request: a stale-if-error candidate is fetched by the edge --------------------------

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        state = self.edge.state_of(flow)
        if flow.response or flow.error or state is None or state.action is not Action.STALE_IF_ERROR:
            return None  # a plain hook: no coroutine for the other requests
        return self._fetch_and_answer(flow, state, state.entry)

    async def _fetch_and_answer(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry) -> None:
        slot = (state.key, entry.vary)
        running = self._fetches.get(slot)
        leader = running is None
        if leader:
            running = self._start(flow, slot, PURPOSE)
            if running is None:  # no background slot free: the request goes to the origin itself
                self._forward(flow, state, entry)
                return
        copy = await self._wait(running)
        if not flow.live or flow.error:
            return  # the client left
        if not self._answer(flow, state, copy, leader):
            self._forward(flow, state, entry)

    def _start(self, flow: http.HTTPFlow, slot, purpose: str) -> tuple[asyncio.Future, http.HTTPFlow] | None:
        future = asyncio.get_running_loop().create_future()

        def release() -> None:
            if self._fetches.get(slot, (None,))[0] is future:
                del self._fetches[slot]
            if not future.done():
                future.set_result(None)

        copy = self.edge.origin.fetch(flow, purpose, release)
        if copy is None:
            return None
        self._fetches[slot] = (future, copy)
        return future, copy

    async def _wait(self, running: tuple[asyncio.Future, http.HTTPFlow]) -> http.HTTPFlow:
        future, copy = running
        timeout = self.edge.origin.timeout
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout + SLACK if timeout else None)
        except asyncio.TimeoutError:
            pass
        return copy

    def _forward(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry) -> None:
        """Send the request on to the origin as a revalidation or a miss would go (a 5xx is
        swapped in `response`); stages.origin_clock, later in the route, starts its clock."""
        if entry.validators and self.edge.store.find(state.key, list(flow.request.headers.items(multi=True))) is entry:
            send_stored_validators(flow, state, entry)
        else:  # a miss: the client's validators are answered by the edge
            hold_client_validators(flow, state)

    # ---- the answer, from the edge's fetch ----------------------------------------------------

    def failure(self, copy: http.HTTPFlow | None) -> str | None:
        """Why the origin failed the edge's fetch (None: it answered)."""
        if copy is None or copy in self.edge.origin.timed_out:
            return f"timeout: no response headers in {self.edge.origin.timeout:g}s"
        if copy.error is not None or copy.response is None:  # also a body cut short
            return f"error: {copy.error}" if copy.error else "no answer"
        if is_origin_error(copy.response.status_code):
            return f"status {copy.response.status_code}"
        return None

    def _answer(self, flow: http.HTTPFlow, state: FlowState, copy: http.HTTPFlow, leader: bool) -> bool:
        """Answer the flow from the edge's fetch; False when it must go to the origin itself."""
        edge, now = self.edge, time.time()
        request_headers = headers_without_validators(flow)
        entry = edge.store.find(state.key, request_headers)
        failure = self.failure(copy)
        if failure is None:
            if copy.response.stream:
                return False  # streamed by stream_large_bodies: nothing to answer from
            if entry is not None and entry.state(now) == "fresh":  # stored or freshened by the fetch
                caching_status = "revalidated" if copy.response.status_code == 304 else None
                self._serve(flow, state, entry, False, caching_status or copy.response.headers.get("x-edg-caching-status"))
                return True
            if not leader or copy.response.status_code == 304:
                return False  # not stored for this request (or a 304 that selected nothing)
            flow.response = copy.response.copy()  # not storable: the answer itself, once
            answers.answered_by_edge(flow, state, f"the edge's own fetch answered {copy.response.status_code}")
            return True
        if entry is not None and entry.state(now) != "expired":
            self._serve(flow, state, entry, entry.state(now) != "fresh", None)
        elif entry is not None and entry.within_stale_if_error(now):
            self.serve_stale(flow, state, entry, failure)
        else:  # past the window: the client gets the failure
            if copy.response is not None:
                flow.response = copy.response.copy()
            else:
                status = 504 if failure.startswith("timeout") else 502
                flow.response = http.Response.make(status, f"prefetch-lab: origin {failure}\n".encode(),
                                                   {"content-type": "text/plain"})
            answers.answered_by_edge(flow, state, f"origin {failure}")
            edge.record("origin-error", flow, reason=f"{failure} (edge fetch {copy.id})")
        return True

    def _serve(self, flow, state, entry, stale: bool, caching_status: str | None, reason: str | None = None) -> None:
        if state.revalidating is not None or state.client_validators:
            use_client_validators(flow, state)  # the edge answers the client's own validators
        answers.serve_entry(self.edge, flow, state, entry, stale, caching_status=caching_status, reason=reason)

    def serve_stale(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry, failure: str) -> None:
        self.served_stale += 1
        logger.info(f"prefetch-lab: origin {failure}, serving the stale entry: {flow.request.pretty_url}")
        self._serve(flow, state, entry, True, CACHING_STATUS, reason=f"origin {failure}")
        note(flow, "stale", f"origin {failure}: stale entry served (stale-if-error)")

    # ---- a 5xx from a forwarded request; the refetch after an unselected 304 -----------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if (state is None or state.served_by_edge or state.background or state.gated
                or not is_origin_error(flow.response.status_code)):
            return
        if self._candidate(flow, state, time.time()) is not None:
            state.hold_response = True  # stages.stream leaves it whole: `response` may swap it
            flow.response.stream = False

    def _candidate(self, flow: http.HTTPFlow, state: FlowState, now: float) -> CacheEntry | None:
        request_headers = headers_without_validators(flow)
        if cachepolicy.request_forces_origin(request_headers, self.edge.rules_active):
            return None  # the client asked for the origin's answer
        entry = self.edge.store.find(state.key, request_headers)
        return entry if entry is not None and entry.within_stale_if_error(now) else None

    async def _refetch(self, flow: http.HTTPFlow, state: FlowState) -> None:
        running = self._start(flow, (state.key, ()), "refetch")
        copy = await self._wait(running) if running else None
        if copy is None or not self._answer(flow, state, copy, leader=True):
            # Nothing to answer with: the client must not get a 304 it did not ask for.
            flow.response = http.Response.make(502, b"prefetch-lab: the origin's 304 matched no stored response\n",
                                               {"content-type": "text/plain"})
            answers.answered_by_edge(flow, state, "304 selected no stored response; refetch failed")


class StaleFallback:
    """In `response`, once the origin's answer is stored and recorded: the refetch after a 304
    that selected nothing, and an origin 5xx swapped for the stale entry inside its window."""

    name = "prefetch.staleiferror.fallback"

    def __init__(self, stale_if_error: StaleIfError) -> None:
        self.stale_if_error = stale_if_error

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        state = self.stale_if_error.edge.state_of(flow)
        if state is None or state.background or flow.response is None:
            return None
        if state.action is Action.REFETCH:
            return self.stale_if_error._refetch(flow, state)
        if state.served_by_edge or not is_origin_error(flow.response.status_code) or flow.response.stream:
            return None
        entry = self.stale_if_error._candidate(flow, state, time.time())
        if entry is not None:
            self.stale_if_error.serve_stale(flow, state, entry, f"status {flow.response.status_code}")
        return None

