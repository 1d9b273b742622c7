"""An origin that sends a body in several writes with pauses (and can die mid-body).

For the streaming tests and the early-flush benchmark. Additive to tests/harness.py's Origin (which
answers with one write): a route is a `Flush` with the parts and the pause before each.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.harness import LocalServer


@dataclass
class Flush:
    parts: list[tuple[float | threading.Event, bytes]]  # (seconds to wait, or an Event to wait for, then bytes)
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # Transfer-Encoding: chunked (else Content-Length of the whole body)
    die_after: int | None = None  # close the connection after this many parts, body unfinished
    status: int = 200

    @property
    def body(self) -> bytes:
        return b"".join(data for _, data in self.parts)


class FlushingOrigin(LocalServer):
    def __init__(self, routes: dict[str, Flush] | None = None) -> None:
        self.routes: dict[str, Flush] = dict(routes or {})
        self.hits: dict[str, int] = {}
        self.sent_at: dict[str, list[float]] = {}  # path -> monotonic time each part was written
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                origin.hits[path] = origin.hits.get(path, 0) + 1
                route = origin.routes.get(path)
                if route is None:
                    try:
                        self.send_error(404)
                    except (BrokenPipeError, ConnectionResetError):
                        pass  # Chromium's /favicon.ico: it closes before reading the answer
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                if route.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.flush()
                times = origin.sent_at.setdefault(path, [])
                for i, (pause, data) in enumerate(route.parts):
                    if route.die_after is not None and i >= route.die_after:
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if isinstance(pause, threading.Event):
                        pause.wait(30)  # the test says when (bounded: a test that forgets still ends)
                    elif pause:
                        time.sleep(pause)
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if route.chunked else data)
                    self.wfile.flush()
                    times.append(time.monotonic())
                if route.chunked:
                    self.wfile.write(b"0\r\n\r\n")

        self.serve(Handler)
