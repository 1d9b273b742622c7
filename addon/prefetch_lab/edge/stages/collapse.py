"""Request collapsing: concurrent misses for one cache key reach the origin once.

The first miss for a key goes to the origin; misses for the same key that arrive while it is in
flight wait for it (as Varnish, nginx's proxy_cache_lock and CDNs do) and are then answered from
the cache. When the first answer was not stored (not cacheable, another Vary variant or the
visitor's cookies differ), the waiters are released to the origin; when it streams and will not
be stored (body-too-big, decided on its headers: `state.keeps_body` from stages.stream), they are
released in its `responseheaders` rather than after its whole body. The trail marks their
records `collapsed: served` or `collapsed: released` (a released waiter is an origin request of
its own).

Who collapses: a GET the lookup decided MISS or REVALIDATE. Two addons, one position each in
the route: `Collapse` (request: lead or wait) before the origin, and its `release` (response,
error) after stages.store; the route isolates each stage (edge/route.py), so the release runs
whatever an earlier stage did, and a waiter is never held past its leader.
Prefetches never get here: the gate answers them.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable

from mitmproxy import http

from prefetch_lab.edge import answers
from prefetch_lab.edge.context import Action, EdgeContext, FlowState
from prefetch_lab.edge.validators import use_client_validators

# The longest a waiter waits without an origin timeout (prefetch_origin_timeout=0).
MAX_WAIT = 60.0
COLLAPSING = (Action.MISS, Action.REVALIDATE)


class Collapse:
    name = "prefetch.collapse"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge
        self._in_flight: dict[str, asyncio.Future] = {}
        self._leaders: weakref.WeakKeyDictionary[http.HTTPFlow, tuple[str, asyncio.Future]] = weakref.WeakKeyDictionary()
        self.collapsed = 0  # waiters answered from the first request's response
        self.released = 0
        self.release = CollapseRelease(self)  # its place in the route: after the store

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # A plain hook that returns the wait only for a waiter: mitmproxy awaits what a hook
        # returns, and the first request for a key (nearly every request) makes no coroutine.
        state = self.edge.state_of(flow)
        if (flow.response or flow.error or state is None or state.background
                or state.action not in COLLAPSING or flow.request.method != "GET"):
            return None
        first = self._in_flight.get(state.key)
        if first is None:
            future = asyncio.get_running_loop().create_future()
            self._in_flight[state.key] = future
            self._leaders[flow] = (state.key, future)
            return None
        return self._wait(flow, state, first)

    async def _wait(self, flow: http.HTTPFlow, state: FlowState, first: asyncio.Future) -> None:
        # Not at the origin yet: stages.origin_clock starts its clock only if it is released.
        try:
            await asyncio.wait_for(asyncio.shield(first), self.edge.origin.timeout or MAX_WAIT)
        except asyncio.TimeoutError:
            pass
        if not flow.live or flow.error:
            return
        if self._serve_from_cache(flow, state):
            self.collapsed += 1
            return
        self.released += 1  # the first answer was not stored for this request: to the origin
        state.collapsed = "released"

    def _serve_from_cache(self, flow: http.HTTPFlow, state: FlowState) -> bool:
        now = time.time()
        entry = self.edge.store.get(state.key, list(flow.request.headers.items(multi=True)), now)
        if entry is None:
            return False
        use_client_validators(flow, state)  # held back for the origin: answer them
        state.collapsed = "served"
        answers.serve_entry(self.edge, flow, state, entry, entry.state(now) != "fresh")
        return True


class CollapseRelease:
    """The waiters of a leader go once its answer is stored (or will not be)."""

    name = "prefetch.collapse.release"

    def __init__(self, collapse: Collapse) -> None:
        self.collapse = collapse

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """A first answer that streams without being kept for the cache cannot serve the
        waiters: release them now, not once its whole body has passed."""
        if flow in self.collapse._leaders and flow.response.stream:
            state = self.collapse.edge.state_of(flow)
            if state is None or not state.keeps_body:
                self._release(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def _release(self, flow: http.HTTPFlow) -> None:
        collapse = self.collapse
        leader = collapse._leaders.pop(flow, None)
        if leader is None:
            return
        key, future = leader
        if collapse._in_flight.get(key) is future:
            del collapse._in_flight[key]
        if not future.done():
            future.set_result(None)
