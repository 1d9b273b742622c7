"""Request collapsing: concurrent misses for one cache key reach the origin once.

The first miss for a key goes to the origin; misses for the same key that arrive while it is in
flight wait for it (as Varnish, nginx's proxy_cache_lock and CDNs do) and are then answered from
the cache. When the first answer was not stored (not cacheable, another Vary variant or the
visitor's cookies differ), the waiters are released to the origin; when it streams and will not
be stored (body-too-big, decided on its headers), they are released in its `responseheaders`
rather than after its whole body. The trail marks their records `collapsed: served` or
`collapsed: released` (a released waiter is an origin request of its own). A sub-addon of PrefetchLab
(its `addons`): mitmproxy runs its `request` right after PrefetchLab's, which has looked the key
up and marked the flow `collapsible`; its `response`/`error` run after PrefetchLab has stored.
Prefetches never get here: the gate answers them in PrefetchLab's `request`.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from mitmproxy import http

from prefetch_lab.edge.stages.revalidate import use_client_validators

if TYPE_CHECKING:
    from prefetch_lab.edge.lab import FlowState, PrefetchLab

# The longest a waiter waits without an origin timeout (prefetch_origin_timeout=0).
MAX_WAIT = 60.0


class Collapse:
    def __init__(self, lab: "PrefetchLab") -> None:
        self.lab = lab
        self._in_flight: dict[str, asyncio.Future] = {}
        self._leaders: weakref.WeakKeyDictionary[http.HTTPFlow, tuple[str, asyncio.Future]] = weakref.WeakKeyDictionary()
        self.collapsed = 0  # waiters answered from the first request's response
        self.released = 0

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        # A plain hook that returns the wait only for a waiter: mitmproxy awaits what a hook
        # returns, and the first request for a key (nearly every request) makes no coroutine.
        state = self.lab.state_of(flow)
        if flow.response or flow.error or state is None or not state.collapsible:
            return None
        first = self._in_flight.get(state.key)
        if first is None:
            future = asyncio.get_running_loop().create_future()
            self._in_flight[state.key] = future
            self._leaders[flow] = (state.key, future)
            return None
        return self._wait(flow, state, first)

    async def _wait(self, flow: http.HTTPFlow, state: "FlowState", first: asyncio.Future) -> None:
        origin = self.lab.origin
        origin.arrived(flow)  # not at the origin yet: its clock starts if it is released
        try:
            await asyncio.wait_for(asyncio.shield(first), origin.timeout or MAX_WAIT)
        except asyncio.TimeoutError:
            pass
        if not flow.live or flow.error:
            return
        if self._serve_from_cache(flow, state):
            self.collapsed += 1
            return
        self.released += 1  # the first answer was not stored for this request: to the origin
        state.collapsed = "released"
        origin.watch(flow)

    def _serve_from_cache(self, flow: http.HTTPFlow, state: "FlowState") -> bool:
        lab, now = self.lab, time.time()
        entry = lab.store.get(state.key, list(flow.request.headers.items(multi=True)), now)
        if entry is None:
            return False
        use_client_validators(flow, state)  # held back for the origin: answer them
        state.collapsed = "served"
        lab.serve_entry(flow, state, entry, entry.state(now) != "fresh")
        return True

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """A first answer that streams without being kept for the cache cannot serve the
        waiters: release them now, not once its whole body has passed."""
        if flow in self._leaders and flow.response.stream and not self.lab.streaming.keeps_body(flow):
            self._release(flow)

    def response(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._release(flow)

    def _release(self, flow: http.HTTPFlow) -> None:
        leader = self._leaders.pop(flow, None)
        if leader is None:
            return
        key, future = leader
        if self._in_flight.get(key) is future:
            del self._in_flight[key]
        if not future.done():
            future.set_result(None)
