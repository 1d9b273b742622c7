"""Soft navigations measured in a real Chromium (page_scripts.py): a page that routes on the
client (pushState in the link's click handler, the new view inserted 300 ms later, with a mark)
is told from a document navigation, and timed from the press's release by Chromium's
soft-navigation entries, or by our own method where those entries are missing (an older Chromium:
the test hides them from the page). Then both drivers walk it through a real proxy, as an audit
does, and record the step as soft, its filmstrip starting at the press."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefetch_lab.audit.gather.page_scripts import COLLECT_JS, OBSERVERS_JS, WHERE_JS, settle_kind
from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser]

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
ROUTER_PAGE = b"""<!doctype html><html><head><title>router</title></head><body style="margin:0">
<a id="go" href="/view" style="display:block;width:400px;height:100px;font-size:40px">go to the view</a>
<main id="m"></main>
<script>
document.getElementById("go").addEventListener("click", (event) => {
  event.preventDefault();
  history.pushState({}, "", "/view");
  setTimeout(() => {
    performance.mark("view-inserted");
    const view = document.createElement("p");
    view.style.cssText = "width:900px;height:400px;margin:0;background:#36c;color:#fff;font-size:48px";
    view.textContent = "the new view, painted by the router";
    document.getElementById("m").append(view);
  }, 300);
});
</script></body></html>"""
# An older Chromium: no soft-navigation or interaction-contentful-paint entries.
HIDE_SOFT_NAVIGATION_ENTRIES = """(() => {
  const observe = PerformanceObserver.prototype.observe;
  PerformanceObserver.prototype.observe = function (options) {
    if (options && ["soft-navigation", "interaction-contentful-paint"].includes(options.type)) throw new TypeError("unsupported");
    return observe.call(this, options);
  };
})();"""
MEASURED = "() => { const s = (%s)().soft_navigation; return !!s && s.lcp !== null; }" % COLLECT_JS


def routes() -> dict:
    return {"/": Reply(200, HTML, ROUTER_PAGE), "/view": Reply(200, HTML, ROUTER_PAGE)}


@pytest.mark.parametrize("method", ["chromium", "own"])
def test_a_soft_navigation_is_timed_from_the_press_and_its_view_after_the_router_painted_it(browser, method):
    with Origin(routes()) as origin:
        context = browser.new_context()
        try:
            if method == "own":
                context.add_init_script(HIDE_SOFT_NAVIGATION_ENTRIES)
            context.add_init_script(OBSERVERS_JS)
            page = context.new_page()
            page.goto(origin.base + "/")
            before = page.evaluate(WHERE_JS)
            box = page.locator("#go").bounding_box()
            page.mouse.move(box["x"] + 50, box["y"] + 50, steps=5)
            page.mouse.down()
            page.wait_for_timeout(100)
            page.mouse.up()
            page.wait_for_function(MEASURED, timeout=15_000)
            record = {"trigger": "link", "error": None, "page": page.evaluate(COLLECT_JS)}
        finally:
            context.close()
    settle_kind(record, *before)
    got = record["page"]
    soft = got["soft_navigation"]
    inserted = next(m["startTime"] for m in got["marks"] if m["name"] == "view-inserted")
    assert record["kind"] == "soft" and record["error"] is None and got["url"] == origin.base + "/view"
    assert soft["method"] == method and soft["url"] == origin.base + "/view"
    # The order of what happened: press, release, pushState (in the click handler), the view's
    # insertion 300 ms later, then its paint.
    assert soft["press"] <= soft["start"] <= soft["url_change"] < inserted
    assert inserted <= soft["first_paint"] <= soft["lcp"]
    if method == "chromium":
        assert soft["navigation_type"] == "push" and soft["lcp_element"] == "p"
    else:
        assert soft["navigation_type"] is None and soft["lcp_element"] is None
    # The landing document's own figures are still there, and still the landing document's.
    assert got["lcp"] is not None and got["lcp"] < soft["start"]


def walk_router(driver_name: str, proxy_address: str, base: str, out: str) -> list[dict]:
    """In a child process (one Playwright per process): open / and press its link, filmstrips on."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves
    from prefetch_lab.audit.gather.trace_frames import FrameFolder
    from prefetch_lab.audit.gather.walk import Step

    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, "none", False)
    try:
        with browser.session(proxy_address, Moves(dwell_ms=1200), frames=FrameFolder(Path(out), f"frames/{driver_name}")) as session:
            return session.walk([Step(0, base + "/", "start"), Step(1, base + "/view", "link")])
    finally:
        browser.close()


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["playwright", "cdp-pipe"])
def test_both_drivers_record_the_press_as_a_soft_step_with_its_own_filmstrip(driver, tmp_path):
    with Origin(routes()) as origin, Mitmdump(tmp_path / "proxy", {"prefetch_inject": "off"}) as proxy:
        child = subprocess.run(
            [sys.executable, "-c", "import json, sys; from tests.browser.test_soft_navigation_measure import walk_router as f; "
             "print(json.dumps(f(*sys.argv[1:])))", driver, proxy.address, origin.base, str(tmp_path)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
            capture_output=True, text=True, timeout=120)
        assert child.returncode == 0, child.stderr[-3000:]
        landing, routed = json.loads(child.stdout.strip().splitlines()[-1])
        documents = [r.path for r in origin.seen if r.headers.get("sec-fetch-dest") == "document"]
    assert (landing["kind"], routed["kind"]) == ("document", "soft"), routed
    assert routed["error"] is None and routed["trigger"] == "link" and routed["document"] is None
    assert documents == ["/"]  # the press asked the origin for no document
    page = routed["page"]
    assert page["time_origin"] == landing["page"]["time_origin"] and page["url"].endswith("/view")
    soft = page["soft_navigation"]
    assert soft["method"] == "chromium" and soft["first_paint"] <= soft["lcp"]
    if driver == "cdp-pipe":
        assert routed["delivery"] == "soft"
    # The filmstrip is timed from the press's release: the landing page is the before picture
    # at 0, and the view's paint comes at or after its insertion, 300 ms on.
    inserted = next(m["startTime"] for m in page["marks"] if m["name"] == "view-inserted")
    strip = routed["filmstrip"]
    assert strip and strip[0]["t_ms"] == 0 and all((tmp_path / f["file"]).is_file() for f in strip)
    assert strip[-1]["t_ms"] >= inserted - soft["start"] - 1.0, (strip, inserted, soft)
