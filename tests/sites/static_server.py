"""A static host for a built site, as a CDN's origin bucket serves one: clean URLs (/guide is
guide.html), 404.html for what is missing, hashed assets immutable, pages briefly fresh. Logs one
JSON line per request with the headers that tell who asked (Sec-Purpose, Sec-Fetch-Dest,
Sec-Speculation-Tags). Run: python static_server.py ROOT PORT LOG
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LOGGED_HEADERS = ("sec-purpose", "sec-fetch-dest", "sec-speculation-tags", "purpose", "referer")
PAGE_CACHE_CONTROL = "public, max-age=300"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"


class Handler(SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    log_lock = threading.Lock()
    log_file = None

    def translate_path(self, path: str) -> str:
        found = Path(super().translate_path(path))
        if not found.exists() and found.with_suffix(".html").is_file():
            return str(found.with_suffix(".html"))
        return str(found)

    def send_head(self):
        target = Path(self.translate_path(self.path))
        if not target.exists():
            return self.not_found()
        return super().send_head()

    def not_found(self):
        body = (Path(self.directory) / "404.html").read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        return None

    def end_headers(self) -> None:
        path = self.path.split("?", 1)[0]
        asset = path.startswith("/assets/")
        self.send_header("Cache-Control", ASSET_CACHE_CONTROL if asset else PAGE_CACHE_CONTROL)
        super().end_headers()

    def log_request(self, code="-", size="-") -> None:
        record = {"ts": time.time(), "method": self.command, "target": self.path, "status": int(code) if str(code).isdigit() else code,
                  "headers": {h: self.headers[h] for h in LOGGED_HEADERS if self.headers.get(h) is not None}}
        with self.log_lock:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()

    def log_message(self, format, *args) -> None:
        pass  # only the JSON lines of log_request


def main() -> None:
    root, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    Handler.log_file = open(log, "a", encoding="utf-8")
    handler = lambda *a, **k: Handler(*a, directory=root, **k)  # noqa: E731
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


if __name__ == "__main__":
    main()
