#!/usr/bin/env python3
"""A long run of the edge: a real mitmdump driven with a mix of traffic for a bounded time.

    .venv/bin/python scripts/soak.py                  # 10 minutes, 4 clients
    .venv/bin/python scripts/soak.py --minutes 1 --out soak.json

The mix: page misses and hits, assets, Edgio-style and speculation prefetches (gated: answered
only from the edge), streamed pages (chunked, injected in the stream), revalidations (ETags that
expire every 2 s), client validators, client aborts mid-stream, origin failures (500s and
connections reset without an answer). All on 127.0.0.1; every loop bounded in time.

It reports requests by kind and outcome, errors by kind, the proxy's RSS and open descriptors
over time, the asyncio tasks alive in it (scripts/soak_probe.py), and the prefetches that reached
the origin (from the trail). Goals: RSS flat within 20 MB after warm-up, no descriptors or tasks
left over, no prefetch miss at the origin; the exit status is 1 when one is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "addon"))

from prefetch_lab import trail  # noqa: E402
from prefetch_lab.audit.gather.proxy_process import ProxyProcess  # noqa: E402

PAGE = b"<!doctype html><html><head><title>soak</title></head><body>" + b"<p>text</p>" * 300 + b"</body></html>"
STREAM_PART = b"<p>" + b"s" * 4000 + b"</p>"
ASSET = bytes(range(256)) * 80
RSS_GOAL_MB, FD_SLACK, TASK_SLACK = 20.0, 5, 2


class Origin(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OriginHandler)
        self.hits: Counter[str] = Counter()
        threading.Thread(target=self.serve_forever, daemon=True).start()


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        kind, _, name = self.path.lstrip("/").partition("/")
        self.server.hits[kind] += 1
        try:
            {"page": self._page, "asset": self._asset, "stream": self._stream, "fail": self._fail,
             "reset": self._reset}.get(kind, self._missing)(name)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client (or the proxy for an aborted client) left

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**headers, "content-length": str(len(body))}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _page(self, name: str) -> None:
        etag = f'"v{name.partition("?")[0]}-{int(time.time()) // 2}"'  # a new version every 2 s
        headers = {"content-type": "text/html; charset=utf-8", "cache-control": "max-age=2", "etag": etag}
        if self.headers.get("if-none-match") == etag:
            self._send(304, headers, b"")
        else:
            self._send(200, headers, PAGE)

    def _asset(self, name: str) -> None:
        self._send(200, {"content-type": "application/octet-stream", "cache-control": "max-age=60"}, ASSET)

    def _stream(self, name: str) -> None:
        self.send_response(200)
        for header, value in (("content-type", "text/html"), ("cache-control", "max-age=5"),
                              ("transfer-encoding", "chunked")):
            self.send_header(header, value)
        self.end_headers()
        for part in [b"<!doctype html><html><body>"] + [STREAM_PART] * 20 + [b"</body></html>"]:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def _fail(self, name: str) -> None:
        self._send(500, {"content-type": "text/plain", "cache-control": "no-store"}, b"down")

    def _reset(self, name: str) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.close_connection = True
        self.connection.close()

    def _missing(self, name: str) -> None:
        self._send(404, {"content-type": "text/plain"}, b"")


MIX = {  # kind: weight
    "page": 30, "asset": 15, "edgio-prefetch": 12, "speculation-prefetch": 12, "stream": 8,
    "client-validator": 8, "abort": 5, "fail": 5, "reset": 5,
}


def one(conn_box: list, proxy_port: int, base: str, kind: str, rng: random.Random) -> str:
    """One request of `kind`; returns its outcome (a status, or 'aborted')."""
    n = rng.randrange(200)
    if kind == "abort":
        with socket.create_connection(("127.0.0.1", proxy_port), timeout=10) as raw:
            raw.sendall(f"GET {base}/stream/{n % 10} HTTP/1.1\r\nHost: {base[7:]}\r\n\r\n".encode())
            raw.recv(2000)
        return "aborted"
    path, headers = {
        "page": (f"/page/{n}", {}),
        "asset": (f"/asset/{n % 50}", {}),
        "edgio-prefetch": (f"/page/{n}?edgio_dt_pf=1&edgio_prefetch=1", {}),
        "speculation-prefetch": (f"/page/{n}", {"sec-purpose": "prefetch"}),
        "stream": (f"/stream/{n % 10}", {}),
        "client-validator": (f"/page/{n % 20}", {"if-none-match": f'"v{n % 20}-{int(time.time()) // 2}"'}),
        "fail": (f"/fail/{n}", {}),
        "reset": (f"/reset/{n}", {}),
    }[kind]
    if conn_box[0] is None:
        conn_box[0] = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)
    conn = conn_box[0]
    try:
        conn.request("GET", base + path, headers={"accept-encoding": "gzip", **headers})
        response = conn.getresponse()
        response.read()
        if response.getheader("connection", "").lower() == "close":
            conn.close()
            conn_box[0] = None
        return str(response.status)
    except Exception:
        conn.close()
        conn_box[0] = None
        raise


def client(proxy: ProxyProcess, base: str, seed: int, until: float, tally: Counter, errors: Counter,
           lock: threading.Lock) -> None:
    rng, conn_box = random.Random(seed), [None]
    kinds, weights = list(MIX), list(MIX.values())
    while time.monotonic() < until:
        kind = rng.choices(kinds, weights)[0]
        try:
            outcome = one(conn_box, proxy.port, base, kind, rng)
        except Exception as e:  # counted, never fatal: the point is what the proxy does over time
            with lock:
                errors[f"{kind}: {type(e).__name__}"] += 1
            continue
        with lock:
            tally[f"{kind} {outcome}"] += 1


def sample(pid: int, probe: Path, started: float) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    rss_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    tasks = None
    try:
        tasks = int(probe.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        pass
    return {"t_s": round(time.monotonic() - started, 1), "rss_mb": round(rss_kb / 1024, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")), "tasks": tasks}


def prefetch_misses_at_origin(trail_path: Path) -> int:
    """Gated prefetches the origin answered: the gate must answer every one at the edge."""
    return sum(1 for record in trail.read_records(trail_path)
               if record["event"] in trail.ORIGIN_EVENTS and record.get("prefetch")
               and record["event"] != "origin-error")


def run(minutes: float, clients: int, sample_s: float, out: Path | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="prefetch-lab-soak-") as tmp:
        tmp_path = Path(tmp)
        trail_path, probe = tmp_path / "trail.jsonl", tmp_path / "tasks.txt"
        origin = Origin()
        options = {"prefetch_audit_file": str(trail_path), "prefetch_origin_timeout": "5", "flow_detail": "0",
                   "soak_probe_file": str(probe)}
        with ProxyProcess(tmp_path, options, extra_args=["-s", str(ROOT / "scripts" / "soak_probe.py")]) as proxy:
            base = f"http://127.0.0.1:{origin.server_address[1]}"
            started = time.monotonic()
            time.sleep(1.5)
            samples = [sample(proxy.proc.pid, probe, started)]
            tally, errors, lock = Counter(), Counter(), threading.Lock()
            until = started + minutes * 60
            threads = [threading.Thread(target=client, args=(proxy, base, i, until, tally, errors, lock), daemon=True)
                       for i in range(clients)]
            for thread in threads:
                thread.start()
            while time.monotonic() < until:
                time.sleep(min(sample_s, max(0.0, until - time.monotonic())))
                samples.append(sample(proxy.proc.pid, probe, started))
            for thread in threads:
                thread.join(60)
            time.sleep(6)  # background fetches and origin timeouts settle
            samples.append(sample(proxy.proc.pid, probe, started))
            alive = proxy.proc.poll() is None
        origin.shutdown()
        result = summarize(minutes, clients, samples, tally, errors, prefetch_misses_at_origin(trail_path), alive)
    if out:
        out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summarize(minutes, clients, samples, tally, errors, prefetch_misses, alive) -> dict:
    warm = next((s for s in samples if s["t_s"] >= max(30.0, minutes * 60 / 5)), samples[min(1, len(samples) - 1)])
    last = samples[-1]
    goals = {
        "proxy alive": alive,
        "no prefetch miss at the origin": prefetch_misses == 0,
        f"RSS within {RSS_GOAL_MB} MB of warm-up": last["rss_mb"] - warm["rss_mb"] <= RSS_GOAL_MB,
        "no descriptors left over": last["fds"] <= samples[0]["fds"] + FD_SLACK,
        "no tasks left over": last["tasks"] is not None and samples[0]["tasks"] is not None
        and last["tasks"] <= samples[0]["tasks"] + TASK_SLACK,
    }
    return {"minutes": minutes, "clients": clients, "requests": sum(tally.values()), "by_kind": dict(sorted(tally.items())),
            "errors": dict(sorted(errors.items())), "prefetch_misses_at_origin": prefetch_misses, "samples": samples,
            "warm_up": warm, "goals": goals, "ok": all(goals.values())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None, help="write the result as JSON here")
    args = parser.parse_args()
    if not 0 < args.minutes <= 240 or not 1 <= args.clients <= 64:
        parser.error("--minutes must be in (0, 240] and --clients in [1, 64]")
    result = run(args.minutes, args.clients, args.sample_s, args.out)
    print(f"{result['requests']} requests in {args.minutes:g} min; errors: {result['errors'] or 'none'}")
    for s in result["samples"]:
        print(f"  t={s['t_s']:>7}s  RSS {s['rss_mb']:>7} MB  fds {s['fds']:>4}  tasks {s['tasks']}")
    for goal, met in result["goals"].items():
        print(f"  {'ok  ' if met else 'MISS'} {goal}")
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
