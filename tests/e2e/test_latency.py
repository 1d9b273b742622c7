"""Emulated distance (prefetch_edge_delay_ms, prefetch_origin_delay_ms) through a real mitmdump.

The assertions are lower bounds (a delay was added) and one loose upper bound that tells a
delayed flow from a serialised one; no performance figure is asserted here.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.harness import Mitmdump, Origin, Reply

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}
EDGE_MS, ORIGIN_MS = 150, 400


@pytest.fixture(scope="module")
def origin():
    with Origin({f"/p{i}": Reply(200, HTML, b"<html><body>page</body></html>") for i in range(8)}) as server:
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


def test_origin_responses_pay_both_distances_and_edge_answers_only_the_edge(proxy, origin):
    status, headers, cold_ms = timed(proxy, f"{origin.base}/p0")
    assert status == 200 and headers["x-edg-caching-status"] == "cached"
    assert cold_ms >= EDGE_MS + ORIGIN_MS

    status, headers, hit_ms = timed(proxy, f"{origin.base}/p0")
    assert status == 200 and headers["x-edg-caching-status"] == "hit"
    assert EDGE_MS <= hit_ms < EDGE_MS + ORIGIN_MS

    seen_before = len(origin.seen)
    status, _, refused_ms = timed(proxy, f"{origin.base}/p1?edgio_dt_pf=1&edgio_prefetch=1")
    assert status == 412
    assert EDGE_MS <= refused_ms < EDGE_MS + ORIGIN_MS
    assert len(origin.seen) == seen_before  # the delay changed nothing about the gate

    status, _, file_ms = timed(proxy, f"{origin.base}/__edgio__/prefetch/install.js")
    assert status == 200 and EDGE_MS <= file_ms < EDGE_MS + ORIGIN_MS


def test_delays_do_not_hold_up_other_flows(proxy, origin):
    urls = [f"{origin.base}/p{i}" for i in range(2, 8)]
    started = time.monotonic()
    with ThreadPoolExecutor(len(urls)) as pool:
        statuses = [status for status, _, _ in pool.map(lambda url: timed(proxy, url), urls)]
    elapsed_ms = (time.monotonic() - started) * 1000
    assert statuses == [200] * len(urls)
    # Serialised they would take 6 x 550 ms = 3.3 s; concurrent ones overlap.
    assert elapsed_ms < 3 * (EDGE_MS + ORIGIN_MS)


@pytest.mark.parametrize("value", ["-1", "60001"])
def test_out_of_range_delays_stop_the_proxy_at_start(tmp_path, value):
    # mitmdump may report its listening address before the script's configure fails.
    try:
        proxy = Mitmdump(tmp_path, {"prefetch_origin_delay_ms": value})
    except RuntimeError as e:
        output = str(e)
    else:
        assert proxy.proc.wait(20) == 1
        time.sleep(0.2)  # let the drain thread read the last lines
        output = proxy.log()
    assert "prefetch_origin_delay_ms must be from 0 to 60000" in output
