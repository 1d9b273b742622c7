"""What a mitmdump user sees in the console: prefetch decisions, the cold-edge hint (once), and a
session summary at exit."""

from __future__ import annotations

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}


def test_the_console_says_what_the_edge_did_and_sums_up_at_exit(tmp_path):
    page = b"<!doctype html><html><head></head><body><a href='/b'>b</a></body></html>"
    with Origin({"/a": Reply(200, HTML, page), "/b": Reply(200, HTML, page),
                 "/c": Reply(200, {**HTML, "set-cookie": "s=1"}, page)}) as origin:
        proxy = Mitmdump(tmp_path)  # flow_detail 1, mitmdump's default
        try:
            for path in ("/b", "/c", "/d"):  # three cold prefetches
                assert proxy.request("GET", f"{origin.base}{path}", {"sec-purpose": "prefetch"})[0] == 412
            assert proxy.request("GET", f"{origin.base}/a")[0] == 200  # injected, stored
            assert proxy.request("GET", f"{origin.base}/a")[0] == 200  # an edge hit
            assert proxy.request("GET", f"{origin.base}/a?edgio_dt_pf=1&edgio_prefetch=1")[0] == 200
            assert proxy.request("GET", f"{origin.base}/c")[0] == 200  # sets a cookie: not stored
        finally:
            assert proxy.stop() == 0
        log = proxy.log()
    assert f"prefetch-lab: {origin.base}/b: speculation prefetch refused 412 (not-cached)" in log
    assert f"prefetch-lab: {origin.base}/a?edgio_dt_pf=1&edgio_prefetch=1: edgio prefetch hit 200" in log
    assert f"prefetch-lab: {origin.base}/a: install.js injected" in log
    assert f"prefetch-lab: {origin.base}/a: from the origin, stored for 300 s" in log
    assert f"prefetch-lab: {origin.base}/a: edge hit" in log
    assert f"prefetch-lab: {origin.base}/c: from the origin, not stored (set-cookie)" in log
    assert log.count("prefetches are refused while the edge does not hold the page") == 1
    summary = log[log.index("prefetch-lab session summary:"):]
    assert "pages injected: 2" in summary  # /a and /c
    assert "prefetches: 4 (edgio: 1 hit; speculation: 3 refused)" in summary
    assert "refused by reason: not-cached 3" in summary
    assert "edge cache (other than prefetches): hit 1, stale 0, stored 1, not stored 1 (set-cookie 1)" in summary
    assert "--set prefetch_audit_file=trail.jsonl keeps a trail" in summary


def test_flow_detail_0_keeps_the_console_quiet_but_the_summary_still_comes(tmp_path):
    with Origin({"/a": Reply(200, HTML, b"<html><body>a</body></html>")}) as origin:
        proxy = Mitmdump(tmp_path, {"flow_detail": "0"})
        try:
            assert proxy.request("GET", f"{origin.base}/a")[0] == 200
        finally:
            assert proxy.stop() == 0
    log = proxy.log()
    assert "install.js injected" not in log.split("prefetch-lab session summary:")[0]
    assert "pages injected: 1" in log
