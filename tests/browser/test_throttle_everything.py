"""`--throttle` slows every request Chromium makes, not only the page's own (issue 12's honest
comparison). DevTools throttling left speculation-rules prefetches alone (Chromium 156: a page's
fetch took 161 ms under its 150 ms profile, an immediate prefetch was Ready after 6 ms), so the
audit puts the network between the browser and the proxy (netshaper.py). Here, through both
drivers and a real proxy: a 100 KB prefetch under `4g` (1.6 Mbps down, 150 ms RTT) cannot be
Ready sooner than its transfer takes."""

from __future__ import annotations

import time

import pytest

from prefetch_lab.auditcdp import CdpBrowser
from prefetch_lab.auditdriver import AuditBrowser, Moves
from tests.harness import CHROMIUM, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser]

HTML = {"content-type": "text/html; charset=utf-8"}
NEXT = b"<!doctype html><title>next</title><p>" + b"x" * (100 * 1024) + b"</p>"
PAGE = b"""<!doctype html><title>start</title><a href="/next">next</a>
<script type="speculationrules">{"prefetch": [{"source": "list", "urls": ["/next"], "eagerness": "immediate"}]}</script>"""
TRANSFER_S = len(NEXT) / (1.6e6 / 8)  # 0.51 s at 4g's 1.6 Mbps, before any round trip


@pytest.mark.parametrize("driver", [AuditBrowser, CdpBrowser], ids=["playwright", "cdp-pipe"])
def test_a_prefetch_pays_the_profiles_bandwidth_like_everything_else(driver, tmp_path):
    routes = {"/": Reply(200, HTML, PAGE), "/next": Reply(200, {**HTML, "cache-control": "max-age=600"}, NEXT)}
    with Origin(routes) as origin, Mitmdump(tmp_path, {"prefetch_inject": "off"}) as proxy:
        assert proxy.request("GET", origin.base + "/next")[0] == 200  # the edge holds it: no refusal
        browser = driver(CHROMIUM, None, "4g", False)
        try:
            with browser.session(proxy.address, Moves()) as session:
                session.visible_links(origin.base + "/")
                # Playwright delivers CDP events only while the driver is inside one of its calls.
                playwright_page = session.page if driver is AuditBrowser else None
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    events = [e for e in session.preload_events if e["event"] == "prefetchStatusUpdated"
                              and e.get("prefetchUrl", "").endswith("/next")]
                    if any(e["status"] in ("Ready", "Failure") for e in events):
                        break
                    playwright_page.wait_for_timeout(50) if playwright_page else time.sleep(0.05)
        finally:
            browser.close()
    statuses = [e["status"] for e in events]
    assert statuses[-1] == "Ready", events
    started = next(e["ts"] for e in events if e["status"] in ("Pending", "Running"))
    ready = next(e["ts"] for e in events if e["status"] == "Ready")
    assert ready - started >= TRANSFER_S, (ready - started, events)
