"""Real headless Chromium through the proxy: the Speculation-Rules header makes Chromium prefetch
a warm page on pointer down, the edge answers from its cache, and the navigation uses it."""

from __future__ import annotations

import json

import pytest

from tests.harness import Mitmdump, Origin, Reply, chromium_through

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

HTML = {"content-type": "text/html; charset=utf-8"}
PAGE_A = b"""<!doctype html><html><head><title>A</title></head><body>
<p><a id="to-b" href="/b" style="display:inline-block;padding:20px">to B</a></p>
<p><a id="to-c" href="/c" style="display:inline-block;padding:20px">to C</a></p>
</body></html>"""
PAGE = b"<!doctype html><html><head><title>%s</title></head><body><h1>%s</h1></body></html>"


@pytest.fixture()
def setup(tmp_path):
    routes = {
        "/a": Reply(200, HTML, PAGE_A),
        "/b": Reply(200, HTML, PAGE % (b"B", b"B")),
        "/c": Reply(200, HTML, PAGE % (b"C", b"C")),
    }
    audit = tmp_path / "audit.jsonl"
    with Origin(routes) as origin, Mitmdump(
        tmp_path / "conf", {"prefetch_inject": "speculation", "prefetch_audit_file": str(audit)}
    ) as proxy:
        yield origin, proxy, audit


def press_link(page, selector: str) -> None:
    """Pointer down on a link (what conservative eagerness waits for), held long enough for
    Chromium to start and finish the prefetch, then released: the navigation."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(700)
    with page.expect_navigation():
        page.mouse.up()


def delivery_type(page) -> str:
    return page.evaluate("performance.getEntriesByType('navigation')[0].deliveryType")


def records(audit) -> list[dict]:
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


def test_warm_page_is_prefetched_from_the_edge_and_used(setup):
    origin, proxy, audit = setup
    with chromium_through(proxy) as browser:
        page = browser.new_page()
        page.goto(f"{origin.base}/b")  # a normal visit warms B at the edge
        page.goto(f"{origin.base}/a")
        press_link(page, "#to-b")
        assert page.url == f"{origin.base}/b"
        assert delivery_type(page) == "navigational-prefetch"

    hits = [r for r in records(audit) if r["event"] == "prefetch-hit"]
    assert [r["url"] for r in hits] == [f"{origin.base}/b"]
    assert hits[0]["prefetch"] == "speculation"
    assert [p for p in origin.paths_seen() if p == "/b"] == ["/b"]  # B came from the origin once


def test_cold_page_prefetch_is_refused_and_the_click_still_works(setup):
    origin, proxy, audit = setup
    with chromium_through(proxy) as browser:
        page = browser.new_page()
        page.goto(f"{origin.base}/a")
        press_link(page, "#to-c")
        assert page.url == f"{origin.base}/c"
        assert page.locator("h1").inner_text() == "C"
        assert delivery_type(page) != "navigational-prefetch"

    refused = [r for r in records(audit) if r["event"] == "prefetch-refused"]
    assert [(r["url"], r["status"]) for r in refused] == [(f"{origin.base}/c", 412)]
    assert origin.paths_seen().count("/c") == 1  # only the real navigation reached the origin
