"""Emulated distance (prefetch_edge_delay_ms, prefetch_origin_delay_ms) through a real mitmdump.

No upper bound on any duration (a loaded machine would break it): a delay that was added is a
lower bound; a delay that was *not* added, and delays not holding up other flows, are shown by
the order of events: while one flow waits out its origin delay (the origin has answered it, the
client has not had it yet), an edge answer is served in full and other flows reach the origin.
The origin delay is long so that this order is the only one a working edge can produce.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}
EDGE_MS, ORIGIN_MS = 150, 2500


@pytest.fixture(scope="module")
def origin():
    with Origin({f"/p{i}": Reply(200, HTML, b"<html><body>page</body></html>") for i in range(12)}) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(origin, tmp_path_factory):
    options = {"prefetch_edge_delay_ms": str(EDGE_MS), "prefetch_origin_delay_ms": str(ORIGIN_MS)}
    with Mitmdump(tmp_path_factory.mktemp("conf"), options) as mitm:
        yield mitm


def timed(proxy: Mitmdump, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict, float]:
    started = time.monotonic()
    status, response_headers, _ = proxy.request("GET", url, headers)
    return status, response_headers, (time.monotonic() - started) * 1000


def in_origin_delay(pool: ThreadPoolExecutor, proxy: Mitmdump, origin: Origin, path: str) -> Future:
    """A cold request for `path`, returned once the origin has seen it: from then on its response
    waits ORIGIN_MS at the edge before the client gets it."""
    cold = pool.submit(timed, proxy, origin.base + path)
    assert wait_until(lambda: path in origin.paths_seen(), timeout=30), f"the origin never saw {path}"
    return cold


def test_origin_responses_pay_both_distances_and_edge_answers_only_the_edge(proxy, origin):
    status, headers, cold_ms = timed(proxy, f"{origin.base}/p0")
    assert status == 200 and headers["x-edg-caching-status"] == "cached"
    assert cold_ms >= EDGE_MS + ORIGIN_MS

    with ThreadPoolExecutor(1) as pool:
        cold = in_origin_delay(pool, proxy, origin, "/p1")
        seen_before = len(origin.seen)
        status, headers, hit_ms = timed(proxy, f"{origin.base}/p0")
        assert status == 200 and headers["x-edg-caching-status"] == "hit"
        assert hit_ms >= EDGE_MS

        status, _, refused_ms = timed(proxy, f"{origin.base}/p2?edgio_dt_pf=1&edgio_prefetch=1")
        assert status == 412 and refused_ms >= EDGE_MS

        status, _, file_ms = timed(proxy, f"{origin.base}/__edgio__/prefetch/install.js")
        assert status == 200 and file_ms >= EDGE_MS
        assert len(origin.seen) == seen_before  # the delay changed nothing about the gate
        # The three edge answers came back while /p1 still waited out its origin delay: none of
        # them paid it (each would have taken ORIGIN_MS at least).
        assert not cold.done(), "an edge answer waited as long as an origin response"
        status, _, cold_ms = cold.result(timeout=60)
        assert status == 200 and cold_ms >= EDGE_MS + ORIGIN_MS


def test_delays_do_not_hold_up_other_flows(proxy, origin):
    paths = [f"/p{i}" for i in range(3, 9)]
    with ThreadPoolExecutor(len(paths)) as pool:
        first = in_origin_delay(pool, proxy, origin, paths[0])
        others = [pool.submit(timed, proxy, origin.base + path) for path in paths[1:]]
        # Each of them reaches the origin while the first flow waits out its delay: a delay that
        # blocked the proxy (or serialised its flows) would hold them back until it is over.
        assert wait_until(lambda: set(paths) <= set(origin.paths_seen()), timeout=30)
        assert not first.done(), "the other flows reached the origin only after the first one's delay"
        results = [first.result(timeout=60), *(future.result(timeout=60) for future in others)]
    assert [status for status, _, _ in results] == [200] * len(paths)
    assert all(elapsed_ms >= EDGE_MS + ORIGIN_MS for _, _, elapsed_ms in results)


@pytest.mark.parametrize("value", ["-1", "60001"])
def test_out_of_range_delays_stop_the_proxy_at_start(tmp_path, value):
    expected = "prefetch_origin_delay_ms must be from 0 to 60000"
    # mitmdump may report its listening address before the script's configure fails.
    try:
        proxy = Mitmdump(tmp_path, {"prefetch_origin_delay_ms": value})
    except RuntimeError as e:
        assert expected in str(e)
    else:
        assert proxy.proc.wait(20) == 1
        # The drain thread reads the last lines after the exit: wait for the line, not a while.
        assert wait_until(lambda: expected in proxy.log(), timeout=20), proxy.log()
