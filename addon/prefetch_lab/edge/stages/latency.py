"""Distance, emulated: a real edge is tens of milliseconds from the browser, and the origin
further still. On localhost both are zero, which flatters every edge hit and every cold page
alike, so a comparison says little about a real CDN.

  prefetch_edge_delay_ms    browser <-> edge: every answer waits this long (edge hits, refusals,
                            edge files, and responses forwarded from the origin, which pass the
                            edge on their way)
  prefetch_origin_delay_ms  edge <-> origin: added to responses that come from the origin
                            (also the edge's own background fetches), never to what the edge
                            answers itself

Both delays are asynchronous sleeps awaited in the flow's own hook (mitmproxy runs each hook as a task),
so other flows go on meanwhile. The origin delay waits in `responseheaders`: it delays the start
of the response, and a streamed body then flows as the origin sends it, never buffered.

After every stage that may answer a request in the route: a response present when its
`request` hook runs was made by the edge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from mitmproxy import ctx, exceptions, http

EDGE_ANSWERED = "prefetch_lab_edge_answered"
MAX_DELAY_MS = 60_000


class EdgeLatency:
    name = "prefetch.latency"

    def __init__(self) -> None:
        self.edge_delay = 0.0
        self.origin_delay = 0.0

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_edge_delay_ms", int, 0,
            "Milliseconds between the browser and the emulated edge: every response waits this "
            "long (edge hits, refusals, edge files, and forwarded origin responses). A real edge "
            "is tens of ms away; the audit command uses 20.",
        )
        loader.add_option(
            "prefetch_origin_delay_ms", int, 0,
            "Milliseconds between the edge and the origin: added to every response that comes "
            "from the origin, never to what the edge answers itself. Lets a near origin play a "
            "far one; the response starts later and then streams as the origin sends it.",
        )

    def configure(self, updated: set[str]) -> None:
        for name in ("prefetch_edge_delay_ms", "prefetch_origin_delay_ms"):
            if name in updated:
                value = getattr(ctx.options, name)
                if not 0 <= value <= MAX_DELAY_MS:
                    raise exceptions.OptionsError(f"{name} must be from 0 to {MAX_DELAY_MS} ms, got {value}")
        self.edge_delay = ctx.options.prefetch_edge_delay_ms / 1000
        self.origin_delay = ctx.options.prefetch_origin_delay_ms / 1000
        # mitmproxy looks every hook up on the addon per event and calls what it finds: without
        # a delay this addon has nothing to do on a flow, so it offers no flow hooks at all.
        delayed = bool(self.edge_delay or self.origin_delay)
        self.request = self._edge_request if delayed else None
        self.responseheaders = self._origin_responseheaders if delayed else None

    # Plain hooks that return the sleep when there is one: mitmproxy awaits what a hook returns,
    # and without a delay no coroutine is made per flow.
    def _edge_request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.response is None:
            return None
        flow.metadata[EDGE_ANSWERED] = True
        return asyncio.sleep(self.edge_delay) if self.edge_delay else None

    def _origin_responseheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.metadata.get(EDGE_ANSWERED):
            return None  # made in `request` (mitmproxy emulates this hook for it): already delayed
        # The edge's own background fetch has no browser waiting on the near side.
        delay = self.origin_delay + (0 if flow.is_replay == "request" else self.edge_delay)
        return asyncio.sleep(delay) if delay else None
