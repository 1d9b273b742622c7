"""The edge's waits on the origin: background fetches side by side, and a timeout on every fetch.

Background fetches (stale-while-revalidate refreshes, `prefetch_warm_on_refusal`) are copies of a
flow replayed with mitmproxy's `replay.client`, so they use the proxy's upstream settings and show
in mitmweb. mitmproxy replays one flow at a time unless `client_replay_concurrency` is -1, which
the edge sets at start: a slow origin then delays only its own fetches.

The origin timeout (`prefetch_origin_timeout`, seconds until the response headers): mitmproxy has
no per-request upstream timeout and cannot kill a flow in transit (mitmproxy#4711), and a server
connection it sees fail always ends in its own 502 (`HttpStream.handle_protocol_error`: the
status of that error response is fixed). When the time is up on a plain-HTTP/1 origin connection
(an open one, no TLS: then the bytes mitmproxy reads from it are the bytes on the wire), the edge
hands the connection's handler what the origin would have sent for a gateway timeout, a `504`
with `Connection: close`, as a `DataReceived` event (exactly how mitmproxy feeds it what the
socket read): the response hooks run for it (stages.origin_clock records an `origin-error`, never a
store; stale-if-error may swap it) and mitmproxy closes the connection after it. On a TLS or
not yet open connection it closes the server connection the way its peer closing it would be
handled (a `ConnectionClosed` event): the client gets mitmproxy's 502 ("server closed
connection") and the `error` hook audits the timeout. A background fetch's connection is not
reachable either way: its slot and its key's revalidation lock are released instead, so the next
request may try again.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable

from mitmproxy import http

from prefetch_lab.edge import compat

logger = logging.getLogger(__name__)

# What a background fetch must not inherit from the request it copies.
CLIENT_VALIDATORS = ("if-none-match", "if-modified-since")
BACKGROUND_DROP = ("sec-purpose", "sec-speculation-tags", "purpose", "range", "if-range", *CLIENT_VALIDATORS)
# Past this many background fetches waiting on origins, new ones are skipped rather than piling up.
MAX_BACKGROUND = 32
DEFAULT_TIMEOUT = 30  # seconds: Fastly's first-byte timeout is 15 s, Cloudflare's 100 s
TIMEOUT_REASON = "origin-timeout"


class OriginFetches:
    def __init__(self, mark: str) -> None:
        self.mark = mark
        self.timeout = DEFAULT_TIMEOUT
        self.queued: weakref.WeakKeyDictionary[http.HTTPFlow, str] = weakref.WeakKeyDictionary()
        self._running: weakref.WeakKeyDictionary[http.HTTPFlow, Callable[[], None]] = weakref.WeakKeyDictionary()
        # Flows on their way to the origin -> the loop time their headers are due. One timer for
        # all, at the earliest deadline: a timer per request cost more than the rest of `request`.
        self._deadlines: dict[http.HTTPFlow, float] = {}
        self._check: asyncio.TimerHandle | None = None
        self.timed_out: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()
        self.gateway_timeouts: weakref.WeakSet[http.HTTPFlow] = weakref.WeakSet()  # answered by the edge's 504
        self._warned = False

    # ---- background fetches ------------------------------------------------------------

    def fetch(self, flow: http.HTTPFlow, purpose: str, release: Callable[[], None]) -> http.HTTPFlow | None:
        """GET the flow's URL from the origin in the background; `release` runs once it is over
        (response, error or timeout). Returns the fetch's flow, None when it cannot start
        (nothing to release then)."""
        if len(self._running) >= MAX_BACKGROUND:
            logger.warning(f"prefetch-lab: {len(self._running)} background fetches running, skipping {purpose} of {flow.request.pretty_url}")
            return None
        try:
            copy = flow.copy()
            copy.response = None
            copy.error = None
            copy.request.method = "GET"  # a stale HEAD hit refreshes the GET entry it came from
            copy.marked = self.mark
            copy.comment = f"prefetch-lab: background fetch ({purpose})"
            copy.metadata = {}
            for name in BACKGROUND_DROP:
                copy.request.headers.pop(name, None)
            self.queued[copy] = purpose
            self._running[copy] = release
            compat.replay_in_background(copy)
            return copy
        except Exception as e:  # no client replay addon (e.g. embedded use): the edge stays cold
            self._running.pop(copy, None)
            logger.warning(f"prefetch-lab: background {purpose} fetch not possible: {e}")
            return None

    def background_done(self, flow: http.HTTPFlow) -> None:
        release = self._running.pop(flow, None)
        if release:
            release()

    # ---- timeouts ----------------------------------------------------------------------

    def watch(self, flow: http.HTTPFlow) -> None:
        """In `request`, for a request that goes to the origin: start its clock."""
        if self.timeout <= 0:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop (e.g. a plain unit test): nothing to time
        due = loop.time() + self.timeout
        self._deadlines.pop(flow, None)  # watched again (a released collapse waiter): the new clock counts
        self._deadlines[flow] = due
        if self._check is None or due < self._check.when():
            self._schedule(loop, due)

    def arrived(self, flow: http.HTTPFlow) -> None:
        """Response headers (or an error) came in time."""
        self._deadlines.pop(flow, None)

    def _schedule(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._check is not None:
            self._check.cancel()
        self._check = loop.call_at(when, self._expire_due)

    def _expire_due(self) -> None:
        self._check = None
        loop = asyncio.get_running_loop()
        now = loop.time() + 0.001  # the loop may call a timer up to its clock resolution early
        due = [flow for flow, deadline in self._deadlines.items() if deadline <= now]
        for flow in due:
            del self._deadlines[flow]
        if self._deadlines:
            self._schedule(loop, min(self._deadlines.values()))
        for flow in due:
            self._expired(flow)

    def _expired(self, flow: http.HTTPFlow) -> None:
        if flow.response is not None or flow.error is not None:
            return
        self.timed_out.add(flow)
        logger.warning(f"prefetch-lab: no response from the origin in {self.timeout:g}s: {flow.request.pretty_url}")
        if flow in self._running:
            self.background_done(flow)
            return
        try:
            if compat.cut_origin_connection(flow, self.gateway_timeout_response(flow.request.method)):
                self.gateway_timeouts.add(flow)
        except Exception as e:
            if not self._warned:
                self._warned = True
                logger.warning(f"prefetch-lab: cannot cut a hung origin connection in this mitmproxy: {e!r}")

    def gateway_timeout_response(self, method: str) -> http.Response:
        """A 504 as an origin would send it (no body to a HEAD: it reads none)."""
        body = b"" if method.upper() == "HEAD" else f"prefetch-lab: no response headers from the origin in {self.timeout:g}s\n".encode()
        return http.Response.make(504, body, {"content-type": "text/plain", "connection": "close", "cache-control": "no-store"})
