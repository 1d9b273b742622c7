"""`--throttle` slows every request Chromium makes, not only the page's own (issue 12's honest
comparison). DevTools throttling left speculation-rules prefetches alone (Chromium 156: a page's
fetch took 161 ms under its 150 ms profile, an immediate prefetch was Ready after 6 ms), so the
audit puts the network between the browser and the proxy (netshaper.py). Here, through both
drivers and a real proxy: a 100 KB prefetch under `4g` (1.6 Mbps down, 150 ms RTT) cannot be
Ready sooner than its transfer takes.

Each driver runs in a child process, as in an audit: Playwright's sync API cannot start a second
instance beside the one the other browser tests share (tests/harness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser]

HTML = {"content-type": "text/html; charset=utf-8"}
NEXT = b"<!doctype html><title>next</title><p>" + b"x" * (100 * 1024) + b"</p>"
PAGE = b"""<!doctype html><title>start</title><a href="/next">next</a>
<script type="speculationrules">{"prefetch": [{"source": "list", "urls": ["/next"], "eagerness": "immediate"}]}</script>"""
TRANSFER_S = len(NEXT) / (1.6e6 / 8)  # 0.51 s at 4g's 1.6 Mbps, before any round trip


def prefetch_statuses(driver_name: str, proxy_address: str, url: str) -> list[dict]:
    """In a child process: open `url` through the driver's 4g session, wait for the prefetch of
    /next to end, return its status events (with their receive times)."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves

    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, "4g", False)
    try:
        with browser.session(proxy_address, Moves()) as session:
            session.visible_links(url)
            # Playwright delivers CDP events only while the driver is inside one of its calls.
            playwright_page = session.page if driver is AuditBrowser else None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                events = [e for e in session.preload_events if e["event"] == "prefetchStatusUpdated"
                          and e.get("prefetchUrl", "").endswith("/next")]
                if any(e["status"] in ("Ready", "Failure") for e in events):
                    break
                playwright_page.wait_for_timeout(50) if playwright_page else time.sleep(0.05)
            return events
    finally:
        browser.close()


@pytest.mark.parametrize("driver", ["playwright", "cdp-pipe"])
def test_a_prefetch_pays_the_profiles_bandwidth_like_everything_else(driver, tmp_path):
    routes = {"/": Reply(200, HTML, PAGE), "/next": Reply(200, {**HTML, "cache-control": "max-age=600"}, NEXT)}
    with Origin(routes) as origin, Mitmdump(tmp_path, {"prefetch_inject": "off"}) as proxy:
        assert proxy.request("GET", origin.base + "/next")[0] == 200  # the edge holds it: no refusal
        child = subprocess.run(
            [sys.executable, "-c", "import json, sys; from tests.browser.test_throttle_everything import "
             "prefetch_statuses as p; print(json.dumps(p(*sys.argv[1:])))", driver, proxy.address, origin.base + "/"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
            capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr[-3000:]
    events = json.loads(child.stdout.strip().splitlines()[-1])
    assert [e["status"] for e in events][-1] == "Ready", events
    started = next(e["ts"] for e in events if e["status"] in ("Pending", "Running"))
    ready = next(e["ts"] for e in events if e["status"] == "Ready")
    assert ready - started >= TRANSFER_S, (ready - started, events)
