"""Chromium paints an early-flushing page through the proxy about as soon as it does directly:
the head and the visible h1 reach the browser when the origin sends them, not with the rest."""

from __future__ import annotations

import pytest

from tests.harness import Mitmdump, launch_chromium
from tests.streaming_origin import Flush, FlushingOrigin

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LATE = 1.5  # seconds before the origin sends the rest of the page
EARLY = (b"<!doctype html><html><head><meta charset=utf-8><title>early</title>"
         b"<style>h1{font:48px sans-serif}</style></head>\n<body><h1>Visible at once</h1>\n")
REST = b"<p>more</p>\n" * 5000 + b"</body></html>\n"
FCP = """() => new Promise(resolve => {
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') resolve(e.startTime);
  }).observe({type: 'paint', buffered: true});
})"""


def fcp_ms(url: str, proxy: Mitmdump | None) -> float:
    browser = launch_chromium(**({"proxy": {"server": proxy.address}} if proxy else {}))
    try:
        page = browser.new_page()
        page.goto(url, wait_until="commit")
        fcp = page.evaluate(FCP)
        page.wait_for_load_state("load")
        assert page.locator("script[src='/__edgio__/prefetch/install.js']").count() == (1 if proxy else 0)
        return fcp
    finally:
        browser.close()


def test_first_contentful_paint_through_the_proxy_is_close_to_direct(tmp_path):
    route = Flush([(0, EARLY), (LATE, REST)], {"content-type": "text/html; charset=utf-8"}, chunked=True)
    with FlushingOrigin({"/page": route}) as origin, Mitmdump(tmp_path / "conf") as proxy:
        url = origin.base + "/page"
        direct = fcp_ms(url, None)
        proxied = fcp_ms(url, proxy)
    # Buffered, the paint would wait for the rest (LATE seconds); streamed, it is the direct one
    # plus the proxy's own latency and this busy machine's noise.
    assert proxied < LATE * 1000 / 2, (direct, proxied)
    assert proxied < direct + 300, (direct, proxied)
