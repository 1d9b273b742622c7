"""Headless Chromium driven over the DevTools protocol on --remote-debugging-pipe (stdlib only).

Why not Playwright: Chromium refuses to prerender in a tab whose page target has a DevTools
session attached directly (`PrerenderingDisabledByDevTools`; content/browser/devtools/
devtools_instrumentation.cc IsPrerenderAllowed: HasSessionsWithoutTabTargetSupport), which is
how Playwright attaches. Here the page is reached through its *tab* target, as Puppeteer does,
so speculation rules can prerender and activate.

The pipe: Chromium reads commands on fd 3 and writes replies and events on fd 4, each message a
JSON object ended by NUL.
"""

from __future__ import annotations

import base64
import fcntl
import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence

DEFAULT_TIMEOUT = 10.0
STREAM_CHUNK = 1 << 20
MAX_STREAM_CHUNKS = 1024  # a step's trace is a few MB: a GB means something is wrong

logger = logging.getLogger(__name__)
# The events kept: one browser serves a whole audit (every arm and run), so without a bound the
# buffer grows with the audit. A session reads only its own events (from its `mark()`), and a
# step's are a few thousand at most; past the bound the oldest quarter goes.
MAX_EVENTS = 50_000
DROPPED = {"method": "", "params": {}, "dropped": True}


class EventLog:
    """Events in arrival order, indexed from the browser's first event for its whole life, of which
    the last `limit` are kept. `log[since:]` gives the kept events from index `since`; an index
    below the kept ones reads as an empty `DROPPED` event, so a reader walking by index skips it."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or MAX_EVENTS
        self.first = 0  # the index of the oldest event kept
        self._kept: list[dict] = []

    def append(self, event: dict) -> None:
        self._kept.append(event)
        if len(self._kept) > self.limit:
            drop = max(1, self.limit // 4)  # in batches: one list move per `drop` events
            del self._kept[:drop]
            self.first += drop
            logger.debug(f"prefetch-lab: {self.first} DevTools events dropped, the oldest first")

    def __len__(self) -> int:
        return self.first + len(self._kept)

    def __getitem__(self, index):
        if isinstance(index, slice):
            if index.step is not None or index.stop is not None:
                raise TypeError("EventLog takes [since:] slices only")
            return self._kept[max((index.start or 0) - self.first, 0):]
        if index < 0:
            raise IndexError("EventLog has absolute indices only")
        return DROPPED if index < self.first else self._kept[index - self.first]

    def __iter__(self):
        return iter(self._kept)


class CdpError(RuntimeError):
    """A command failed, went unanswered, or an awaited event did not come."""


class PipeChromium:
    """One headless Chromium process and its CDP pipe.

    `events` keeps the events in arrival order (the last MAX_EVENTS: EventLog), each with `received` (epoch s) added;
    `event(..., since=n)` looks only at events from index n, so a caller can wait for what
    follows its own action (`mark()` gives n). Thread-safe: any thread may send.
    """

    def __init__(self, executable: str, args: Sequence[str] = ()) -> None:
        self.profile = tempfile.TemporaryDirectory(prefix="prefetch-lab-cdp-")
        child_reads, self._write_fd = os.pipe()
        self._read_fd, child_writes = os.pipe()
        # Keep the child's ends off 3 and 4, or moving them there would close one of them.
        child_reads, child_writes = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (child_reads, child_writes))
        script = f'exec 3<&{child_reads} 4>&{child_writes} {child_reads}<&- {child_writes}>&-; exec "$@"'
        self.process = subprocess.Popen(
            ["bash", "-c", script, "bash", executable, "--headless", "--remote-debugging-pipe",
             f"--user-data-dir={self.profile.name}", *args, "about:blank"],
            pass_fds=(child_reads, child_writes), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_reads)
        os.close(child_writes)
        self.events = EventLog()
        self._replies: dict[int, dict] = {}
        self._unawaited: set[int] = set()  # posted commands: their replies are dropped
        self._last_id = 0
        self._disconnected = False
        self._write_lock = threading.Lock()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> PipeChromium:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _read(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self._read_fd, 1 << 16):
                *messages, pending = (pending + chunk).split(b"\0")
                with self._changed:
                    received = time.time()
                    for message in map(json.loads, messages):
                        if "id" in message:
                            if message["id"] in self._unawaited:
                                self._unawaited.discard(message["id"])
                            else:
                                self._replies[message["id"]] = message
                        else:
                            message["received"] = received
                            self.events.append(message)
                    self._changed.notify_all()
        except OSError:
            pass
        except Exception:  # a message that does not decode: the pipe can no longer be trusted
            logger.exception("prefetch-lab: the DevTools pipe sent what is not CDP; treating the browser as gone")
        with self._changed:  # Chromium exited (or we closed): wake every waiter now, not at its timeout
            self._disconnected = True
            self._changed.notify_all()

    def _write(self, method: str, params: dict | None, session: str | None, awaited: bool) -> int:
        with self._changed:
            self._last_id += 1
            ident = self._last_id
            if not awaited:
                self._unawaited.add(ident)
        message = {"id": ident, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        with self._write_lock:
            try:
                os.write(self._write_fd, json.dumps(message).encode() + b"\0")
            except OSError as error:
                raise CdpError(f"{method}: the browser is gone ({error})") from error
        return ident

    def post(self, method: str, params: dict | None = None, session: str | None = None) -> None:
        """Send a command without waiting for its reply. A target paused by `waitForDebuggerOnStart`
        answers its setup commands (Page.enable, ...) only once it runs, so they are posted, then
        Runtime.runIfWaitingForDebugger; the pipe keeps their order."""
        self._write(method, params, session, awaited=False)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = DEFAULT_TIMEOUT) -> dict:
        """Run one command (in `session`, a flattened target session, if given) and return its result."""
        ident = self._write(method, params, session, awaited=True)
        with self._changed:
            self._changed.wait_for(lambda: ident in self._replies or self._disconnected, timeout)
            reply = self._replies.pop(ident, None)
        if reply is None:
            raise CdpError(f"no reply to {method}" + (" (the browser exited)" if self._disconnected else f" within {timeout}s"))
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply["result"]

    def mark(self) -> int:
        """The index the next event will have: pass it as `since` to wait only for later events."""
        with self._changed:
            return len(self.events)

    def find(self, method: str, where: Callable[[dict], bool] = lambda params: True,
             session: str | None = None, since: int = 0) -> dict | None:
        """The first event so far named `method` (from `session`, if given, at index >= since) matching `where`."""
        with self._changed:
            return next((e for e in self.events[since:] if e["method"] == method and where(e["params"])
                         and (session is None or e.get("sessionId") == session)), None)

    def event(self, method: str, where: Callable[[dict], bool] = lambda params: True,
              session: str | None = None, timeout: float = DEFAULT_TIMEOUT, since: int = 0) -> dict:
        """Like `find`, but waits up to `timeout` seconds for the event; CdpError if it does not come."""
        def found():
            return next((e for e in self.events[since:] if e["method"] == method and where(e["params"])
                         and (session is None or e.get("sessionId") == session)), None)
        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self._disconnected, timeout)
            event = found()
        if event is None:
            raise CdpError(f"no {method} event within {timeout}s" + (" (the browser exited)" if self._disconnected else ""))
        return event

    def first_tab(self) -> str:
        """The session of the page in the browser's one tab (about:blank), reached through its tab target."""
        auto_attach = {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True}
        self.send("Target.setAutoAttach", {**auto_attach, "filter": [{"type": "tab"}]})
        tab = self.event("Target.attachedToTarget", lambda p: p["targetInfo"]["type"] == "tab")["params"]["sessionId"]
        self.send("Target.setAutoAttach", auto_attach, tab)
        return self.event("Target.attachedToTarget", lambda p: p["targetInfo"]["type"] == "page",
                          session=tab)["params"]["sessionId"]

    def evaluate(self, session: str, expression: str, timeout: float = DEFAULT_TIMEOUT):
        """The value of a JavaScript expression in the session's page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session, timeout)
        if "exceptionDetails" in result:
            raise CdpError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def read_stream(self, handle: str, session: str | None = None) -> bytes:
        """All of an IO stream (a trace's `ReturnAsStream`), then closed."""
        chunks = []
        try:
            for _ in range(MAX_STREAM_CHUNKS):
                chunk = self.send("IO.read", {"handle": handle, "size": STREAM_CHUNK}, session, timeout=30)
                chunks.append(base64.b64decode(chunk["data"]) if chunk.get("base64Encoded") else chunk["data"].encode())
                if chunk.get("eof"):
                    return b"".join(chunks)
            raise CdpError(f"stream {handle}: more than {MAX_STREAM_CHUNKS * STREAM_CHUNK >> 20} MB")
        finally:
            self.post("IO.close", {"handle": handle}, session)

    def mouse(self, session: str, x: float, y: float, kinds: Sequence[str] = ("mouseMoved", "mousePressed", "mouseReleased")) -> None:
        """Pointer events at viewport point (x, y): by default a move there and a left click."""
        for kind in kinds:
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left" if kind != "mouseMoved" else "none",
                                                   "clickCount": 1 if kind != "mouseMoved" else 0}, session)

    def click(self, session: str, selector: str) -> None:
        """A left click at the centre of the first element matching a CSS selector."""
        box = self.evaluate(session, f"(r => [r.x + r.width / 2, r.y + r.height / 2])"
                                     f"(document.querySelector({json.dumps(selector)}).getBoundingClientRect())")
        self.mouse(session, box[0], box[1])

    def close(self) -> None:
        try:
            with self._write_lock:
                os.write(self._write_fd, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            self.process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        os.close(self._write_fd)
        self._reader.join(5)  # Chromium's exit closed its end: the reader sees EOF
        os.close(self._read_fd)
        self.profile.cleanup()
