"""The walk on pages as real sites make them, through both drivers and a real proxy: a cookie
banner covering a link (the planner never chooses it, and says why), a link that answers 404
(skipped in planning, another chosen), a link that redirects twice (followed, the chain
recorded), a banner that appears late over the next link (the press scrolls it clear and says
so), a blank page that never gives an LCP (a reason recorded, the walk goes on), and a
low-priority script fetch (the site's prefetch, seen by the driver)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefetch_lab.audit.computed.navigations import lcp_missing_reason
from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
LINK_STYLE = "display:block;width:300px;height:60px;font-size:24px;margin:10px"
START = f"""<!doctype html><html><body style="margin:0">
<div id="cookie-banner" style="position:fixed;top:0;left:0;right:0;height:160px;background:#eee;z-index:9">We use cookies</div>
<a href="/covered" style="{LINK_STYLE}">covered by the banner</a>
<div style="height:200px"></div>
<a href="/missing" style="{LINK_STYLE}">a page that is gone</a>
<a href="/moved" style="{LINK_STYLE}">a page that moved</a>
</body></html>""".encode()
# The banner comes 400 ms after load, over the bottom of the viewport, where the link is at first.
FINAL = f"""<!doctype html><html><body style="margin:0">
<h1 style="font-size:40px">Moved here</h1>
<div style="height:480px"></div>
<a href="/blank" style="{LINK_STYLE}">a blank page</a>
<div style="height:1500px"></div>
<script>fetch("/data.json", {{priority: "low"}}); fetch("/data.json?now=1");  // the site's script prefetch, and a fetch
setTimeout(() => document.body.insertAdjacentHTML("beforeend",
  '<div id="late-banner" style="position:fixed;bottom:0;left:0;right:0;height:260px;background:#fe9;z-index:9">Accept?</div>'), 400);</script>
</body></html>""".encode()


def routes() -> dict:
    return {
        "/": Reply(200, HTML, START),
        "/covered": Reply(200, HTML, b"<!doctype html><p>covered</p>"),
        "/missing": Reply(404, HTML, b"<!doctype html><p>not here</p>"),
        "/moved": Reply(302, {"location": "/moved-again", "content-length": "0"}, b""),
        "/moved-again": Reply(301, {"location": "/final", "content-length": "0"}, b""),
        "/final": Reply(200, HTML, FINAL),
        "/blank": Reply(200, HTML, b"<!doctype html><html><body></body></html>"),
        "/data.json": Reply(200, {"content-type": "application/json", "cache-control": "no-store"}, b"{}"),
    }


def plan_and_walk(driver_name: str, proxy_address: str, base: str) -> dict:
    """In a child process (one Playwright per process): plan a walk from /, then take it."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves
    from prefetch_lab.audit.gather.walk import WalkPolicy, plan_random_walk
    from prefetch_lab.rules.rule_file import load_rules

    policy = WalkPolicy([load_rules([ROOT / "rules" / "default.yaml"])])
    alphabetical = lambda page, candidates, visited, rng: min(candidates, key=lambda c: c["href"])  # noqa: E731
    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, "none", False)
    try:
        with browser.session(proxy_address, Moves(dwell_ms=1200)) as session:
            plan = plan_random_walk(base + "/", 4, 1, policy, session.visible_links, alphabetical)
        with browser.session(proxy_address, Moves(dwell_ms=1200)) as session:
            steps = session.walk(plan)
            script_prefetches = session.script_prefetches
        return {"plan": [step.to_dict() for step in plan], "steps": steps, "script_prefetches": script_prefetches}
    finally:
        browser.close()


@pytest.mark.parametrize("driver", ["playwright", "cdp-pipe"])
def test_the_walk_handles_covers_404s_redirects_and_a_page_without_lcp(driver, tmp_path):
    with Origin(routes()) as origin, Mitmdump(tmp_path / "proxy", {"prefetch_inject": "off"}) as proxy:
        child = subprocess.run(
            [sys.executable, "-c", "import json, sys; from tests.browser.test_walk_on_rough_pages import plan_and_walk as f; "
             "print(json.dumps(f(*sys.argv[1:])))", driver, proxy.address, origin.base],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
            capture_output=True, text=True, timeout=180)
        assert child.returncode == 0, child.stderr[-3000:]
        got = json.loads(child.stdout.strip().splitlines()[-1])
        asked = [r.path for r in origin.seen]
    plan, steps = got["plan"], got["steps"]
    base = origin.base
    # Planning: the covered link never chosen, the 404 tried and skipped, the redirect followed.
    assert [(s["url"], s["via"]) for s in plan] == [(base + "/", "start"), (base + "/moved", "link"), (base + "/blank", "link")]
    assert plan[1]["skipped"] == [{"href": base + "/covered", "why": "covered by div#cookie-banner"},
                                  {"href": base + "/missing", "why": "answered 404"}]
    assert "/covered" not in asked and asked.count("/missing") == 1  # tried in planning only
    # The walk: each step pressed, none failed.
    assert [s["error"] for s in steps] == [None, None, None] and [s["trigger"] for s in steps] == ["start", "link", "link"]
    moved = steps[1]
    assert moved["page"]["url"] == base + "/final" and moved["document"]["status"] == 200
    assert moved["document"]["redirects"] == [{"url": base + "/moved", "status": 302}, {"url": base + "/moved-again", "status": 301}]
    # The late banner covered /blank's link: the press scrolled it clear, and says what covered it.
    blank = steps[2]
    assert blank["press"] == {"scrolled": True, "covered_by": "div#late-banner"} and blank["press_problem"] is None
    assert blank["page"]["url"] == base + "/blank" and blank["kind"] == "document"
    # A blank page gives no LCP: the dwell ended the wait, and the reason is recorded.
    assert blank["page"]["lcp"] is None and blank["page"]["fcp"] is None
    assert lcp_missing_reason(blank, blank["page"]).startswith("nothing contentful was painted")
    # The site's script prefetch (a low-priority fetch) is seen, its ordinary fetch is not.
    assert [(f["url"], f["type"], f["hint"]) for f in got["script_prefetches"]] == [(base + "/data.json", "Fetch", "priority Low")]
