"""Issue 12's Done: through the proxy, a page the graph predicts is prerendered from the edge,
activates (activationStart > 0, document.prerendering was true) and renders with all its
subresources.

The proxy learns / -> /next from navigations (15 of 15 views: p = 15 / (16 + prior 2) = 0.83 once
Chromium's own view of / is counted), so the page's learned rules prerender /next at once. The
edge holds /next (the training navigations filled it); its subresources are cold and reach the
origin as ordinary requests. Chromium is driven over the CDP pipe (cdppipe.py): a
Playwright-attached tab does not prerender.
"""

from __future__ import annotations

import json

import pytest

from prefetch_lab.audit.gather.cdp_pipe import PipeChromium
from tests.harness import CHROMIUM, CHROMIUM_ARGS, Mitmdump, Origin, Reply, wait_until

pytestmark = [pytest.mark.browser]

HTML = {"content-type": "text/html; charset=utf-8"}
NAVIGATE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"}
PNG = bytes.fromhex(  # a valid 1x1 PNG: naturalWidth tells whether the image loaded
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201a5d6a1f00000000049454e44ae426082"
)
LANDING = b'<!doctype html><title>landing</title><a id="next" href="/next">next</a>'
NEXT_PAGE = b"""<!doctype html><title>next</title>
<link rel=stylesheet href="/next.css"><script src="/next.js"></script>
<script>window.wasPrerendering = document.prerendering;</script>
<h1>next</h1><img id="hero" src="/hero.png">"""
SUBRESOURCES = ("/next.css", "/next.js", "/hero.png", "/api.json")
TRAINING_VISITS = 15


def test_a_learned_prerender_activates_and_renders_with_its_subresources(tmp_path):
    routes = {
        "/": Reply(200, HTML, LANDING),
        "/next": Reply(200, HTML, NEXT_PAGE),
        "/next.css": Reply(200, {"content-type": "text/css"}, b"h1 { color: rgb(0, 128, 128) }"),
        "/next.js": Reply(200, {"content-type": "text/javascript"},
                          b"window.apiAnswer = fetch('/api.json').then(r => r.json());"),
        "/hero.png": Reply(200, {"content-type": "image/png"}, PNG),
        "/api.json": Reply(200, {"content-type": "application/json"}, b'{"ok": true}'),
    }
    trail = tmp_path / "trail.jsonl"
    # Each training visit is another visitor (a trusted header, as the audit's training names its
    # walks); Chromium's own view comes from 127.0.0.1 without it.
    options = {"prefetch_speculation": "learned", "prefetch_inject": "speculation", "prefetch_audit_file": str(trail),
               "prefetch_learn_visitor_header": "x-visitor"}
    with Origin(routes) as origin, Mitmdump(tmp_path, options) as proxy:
        for visit in range(TRAINING_VISITS):
            visitor = {"x-visitor": f"v{visit}"}
            assert proxy.request("GET", origin.base + "/", {**NAVIGATE, **visitor})[0] == 200
            assert proxy.request("GET", origin.base + "/next", {**NAVIGATE, **visitor, "referer": origin.base + "/"})[0] == 200
        documents_before = origin.paths_seen().count("/next")

        with PipeChromium(CHROMIUM, [*CHROMIUM_ARGS, f"--proxy-server={proxy.address}"]) as chromium:
            tab = chromium.first_tab()
            chromium.send("Preload.enable", session=tab)
            chromium.send("Page.enable", session=tab)
            chromium.send("Page.navigate", {"url": f"{origin.base}/"}, tab)
            ready = chromium.event("Preload.prerenderStatusUpdated", lambda p: p["status"] in ("Ready", "Failure"),
                                   timeout=20)
            assert ready["params"]["status"] == "Ready", ready["params"]
            prerendered = chromium.event("Target.attachedToTarget",
                                         lambda p: p["targetInfo"].get("subtype") == "prerender")["params"]["sessionId"]
            # Ready can come before the prerendered document commits (seen through the proxy): until
            # then the session's document is the initial empty one. Wait for /next to finish loading.
            assert wait_until(lambda: chromium.evaluate(
                prerendered, "location.pathname === '/next' && document.readyState === 'complete'"), timeout=10)
            chromium.click(tab, "#next")
            chromium.event("Target.targetInfoChanged", lambda p: p["targetInfo"]["url"] == f"{origin.base}/next")
            state = chromium.evaluate(prerendered, """new Promise(done => {
                const report = async () => done({
                    activationStart: performance.getEntriesByType('navigation')[0].activationStart,
                    wasPrerendering: window.wasPrerendering, prerendering: document.prerendering,
                    url: location.href,
                    color: getComputedStyle(document.querySelector('h1')).color,
                    imageWidth: document.getElementById('hero').naturalWidth,
                    api: await window.apiAnswer,
                    resources: performance.getEntriesByType('resource').map(
                        e => [new URL(e.name).pathname, e.responseStatus]),
                });
                document.prerendering ? document.addEventListener('prerenderingchange', report) : report();
            })""")

    assert state["url"] == f"{origin.base}/next"
    assert state["wasPrerendering"] is True and state["prerendering"] is False
    assert state["activationStart"] > 0
    # It rendered with everything it needs: the style applied, the script ran and fetched, the image decoded.
    assert state["color"] == "rgb(0, 128, 128)"
    assert state["api"] == {"ok": True}
    assert state["imageWidth"] == 1
    # Every resource it loaded got a 200 (its own learned rules document among them).
    assert sorted(path for path, _ in state["resources"]) == sorted([*SUBRESOURCES, "/__edgio__/speculation-rules.json"])
    assert {status for _, status in state["resources"]} == {200}

    records = [json.loads(line) for line in trail.read_text(encoding="utf-8").splitlines() if line.strip()]
    [offered] = [r for r in records if r["event"] == "learned-rules" and r["page"] == "/"]
    assert offered["prerender_immediate"] == ["/next"]
    # The prerender came from the edge (the origin never saw it); the subresources from the origin,
    # as ordinary requests, none refused.
    [prerender] = [r for r in records if r["event"] == "prefetch-hit" and r["url"] == f"{origin.base}/next"]
    assert prerender["prefetch"] == "speculation"
    assert origin.paths_seen().count("/next") == documents_before
    assert all(origin.paths_seen().count(path) == 1 for path in SUBRESOURCES)
    assert not [r for r in records if r["event"] == "prefetch-refused"]
    assert not [r for r in records if r.get("status") in (412, 503)]
