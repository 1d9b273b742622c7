"""Collapsing, what issue 9 left: waiters are marked in the trail (a released one is an origin
request of its own), and a first answer that streams without being kept for the cache releases
its waiters when its headers arrive, not after its whole body. Real mitmdump, real origins."""

from __future__ import annotations

import json
import threading

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until
from tests.streaming_origin import Flush, FlushingOrigin

pytestmark = pytest.mark.e2e


def records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def in_background(call) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def test_waiters_are_marked_served_or_released_in_the_trail(tmp_path):
    trail = tmp_path / "trail.jsonl"
    routes = {"/shared": Reply(200, {"content-type": "text/plain", "cache-control": "max-age=60"}, b"s", delay=0.6),
              "/private": Reply(200, {"content-type": "text/plain", "cache-control": "private"}, b"p", delay=0.6)}
    with Origin(routes) as origin, Mitmdump(tmp_path, {"prefetch_audit_file": str(trail)}) as proxy:
        for path in ("/shared", "/private"):
            first = in_background(lambda: proxy.request("GET", f"{origin.base}{path}"))
            assert wait_until(lambda: sum(p == path for p in origin.paths_seen()) == 1, timeout=5)
            assert proxy.request("GET", f"{origin.base}{path}")[0] == 200  # waits on the first
            first.join(10)
    by_path = {path: [r for r in records(trail) if r.get("url", "").endswith(path)] for path in ("/shared", "/private")}
    shared = [(r["event"], r.get("collapsed")) for r in by_path["/shared"]]
    assert shared == [("cache-store", None), ("cache-hit", "served")]
    private = [(r["event"], r.get("collapsed")) for r in by_path["/private"]]
    assert set(private) == {("cache-bypass", None), ("cache-bypass", "released")} and len(private) == 2
    assert origin.paths_seen().count("/private") == 2


def test_waiters_are_released_when_the_first_answer_streams_uncached(tmp_path):
    rest = threading.Event()  # the first answer's body ends only when the test says so
    big = Flush([(0, b"a" * 100_000), (rest, b"b" * 200_000)],  # 300 kB, over a 1 MiB cache's 128 KiB object limit
                {"content-type": "application/octet-stream", "cache-control": "max-age=60"})
    with FlushingOrigin({"/big": big}) as origin, Mitmdump(tmp_path, {"prefetch_cache_mb": "1"}) as proxy:
        url = f"{origin.base}/big"
        results = []
        first = in_background(lambda: results.append(proxy.request("GET", url)))
        assert wait_until(lambda: origin.hits.get("/big") == 1, timeout=5)
        second = in_background(lambda: results.append(proxy.request("GET", url)))
        # Released at the first answer's headers: at the origin while the first body is still held.
        assert wait_until(lambda: origin.hits.get("/big") == 2, timeout=10)
        assert first.is_alive()  # the first body is still held at the origin
        rest.set()
        first.join(10)
        second.join(10)
        assert [(status, headers["x-edg-caching-status"], body) for status, headers, body in results] == [
            (200, "body-too-big", big.body)] * 2
