"""Real parts for end-to-end tests: a recording origin, a mitmdump process, headless Chromium.

Used by tests/e2e, tests/browser and scripts/bench.py. Nothing here is a mock: the origin is a
real HTTP server on 127.0.0.1, the proxy is `mitmdump -s addon/prefetch.py`, the browser is
Debian's chromium driven by Playwright.
"""

from __future__ import annotations

import atexit
import http.client
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "addon") not in sys.path:  # pytest puts it there; the benchmark's processes may not
    sys.path.insert(0, str(ROOT / "addon"))

from prefetch_lab.audit.gather.playwright_driver import CHROMIUM_ARGS  # noqa: E402,F401  (the tests launch Chromium as the audit does)
from prefetch_lab.audit.gather.proxy_process import ADDON_SCRIPT, ProxyProcess  # noqa: E402,F401
CHROMIUM = "/usr/bin/chromium"


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str | list[str]] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0  # seconds before answering, to emulate a slow origin


@dataclass
class SeenRequest:
    method: str
    path: str  # path with query, as the origin received it
    headers: dict[str, str]
    ts: float = field(default_factory=time.time)  # when it arrived (epoch s), to window by run


Route = Reply | Callable[[SeenRequest], Reply]


class LocalServer:
    """A threaded HTTP server on a free loopback port (http, or https with `tls`), stopped on exit."""

    def serve(self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1",
              tls: "ssl.SSLContext | None" = None) -> None:
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.server.daemon_threads = True
        if tls is not None:  # an https origin (e.g. with a self-signed certificate: tests/site.py)
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.base = f"{'https' if tls else 'http'}://{host}:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class Origin(LocalServer):
    """A threaded HTTP/1.1 origin on 127.0.0.1 that records every request it receives."""

    def __init__(
        self, routes: dict[str, Route] | None = None, host: str = "127.0.0.1", tls: "ssl.SSLContext | None" = None
    ) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self.seen: list[SeenRequest] = []
        self.extra_delay = 0.0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else small replies wait ~40 ms for a delayed ACK

            def log_message(self, *args) -> None:  # keep test output readable
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                seen = SeenRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                origin.seen.append(seen)
                route = origin.routes.get(urlsplit(self.path).path)
                reply = route(seen) if callable(route) else route
                if reply is None:
                    reply = Reply(404, {"content-type": "text/plain"}, b"not found")
                if reply.delay or origin.extra_delay:
                    time.sleep(reply.delay + origin.extra_delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    for v in value if isinstance(value, list) else [value]:
                        self.send_header(name, v)
                no_body = self.command == "HEAD" or reply.status in (204, 304)
                if "content-length" not in {k.lower() for k in reply.headers} and reply.status not in (204, 304):
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if not no_body:
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _serve

        self.serve(Handler, host, tls)

    def paths_seen(self) -> list[str]:
        return [r.path for r in self.seen]


class Mitmdump(ProxyProcess):
    """`mitmdump -s addon/prefetch.py` (or another script) on a free port, output captured; the
    audit command's own proxy process, plus a way to send requests through it."""

    def request(
        self, method: str, url: str, headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request through the proxy in absolute form; headers come back lower-cased
        (repeated headers joined with '\\n' so multiple Set-Cookie stay visible)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, url, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            merged: dict[str, str] = {}
            for name, value in resp.getheaders():
                key = name.lower()
                merged[key] = f"{merged[key]}\n{value}" if key in merged else value
            return resp.status, merged, data
        finally:
            conn.close()


_playwright = None


def playwright():
    """The process's one Playwright: its sync API cannot start a second instance while one
    runs, so every test module and the benchmark share this one (stopped at exit)."""
    global _playwright
    if _playwright is None:
        from playwright.sync_api import sync_playwright

        _playwright = sync_playwright().start()
        atexit.register(_playwright.stop)
    return _playwright


def launch_chromium(**options):
    return playwright().chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options)


@contextmanager
def chromium_through(proxy: Mitmdump) -> Iterator:
    """A fresh headless Chromium whose traffic (loopback included) goes through `proxy`."""
    browser = launch_chromium(proxy={"server": proxy.address})
    try:
        yield browser
    finally:
        browser.close()


def wait_until(predicate: Callable[[], object], timeout: float = 10, interval: float = 0.05) -> bool:
    """Poll `predicate` (outside a browser page; for pages use page.wait_for_function)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
