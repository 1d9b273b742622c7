"""How the audit's training tells its visitors apart (issue 22): every walk comes from 127.0.0.1,
so the training proxy names a trusted header (prefetch_learn_visitor_header) and each walk's
browser sends its own value with the requests of its tab (CdpSession.set_extra_headers). Here,
in real Chromium over the DevTools pipe and through a real mitmdump: the header is on the
navigations (the only requests the edge counts), and two walks are two visitors of the link in
the graph file. Observed on the way (Chromium 156): a prerender the page starts fetches its
document without the tab's extra headers (the browser fetches it, as a prefetch ahead of the
prerender); a prerender is never a page view, and training runs with speculation off."""

from __future__ import annotations

import json

import pytest

from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
from prefetch_lab.audit.gather.playwright_driver import Moves
from prefetch_lab.audit.gather.proxy_process import ProxyProcess
from prefetch_lab.audit.settings import TRAINING_VISITOR_HEADER
from tests.harness import CHROMIUM, Origin, Reply, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}  # each walk reaches the origin
LANDING = b"""<!doctype html><script type=speculationrules>
{"prerender": [{"source": "list", "urls": ["/pre"], "eagerness": "immediate"}]}</script>
<p><a href="/next">next</a></p>"""


def test_each_training_walk_is_its_own_visitor_of_the_links_it_takes(tmp_path):
    routes = {"/": Reply(200, HTML, LANDING), "/next": Reply(200, HTML, b"<!doctype html><p>next"),
              "/pre": Reply(200, HTML, b"<!doctype html><p>prerendered")}
    graph = tmp_path / "graph.json"
    options = {"prefetch_inject": "off", "prefetch_traversal_file": str(graph),
               "prefetch_learn_visitor_header": TRAINING_VISITOR_HEADER}
    with Origin(routes) as origin:
        with ProxyProcess(tmp_path, options) as proxy:
            browser = CdpBrowser(CHROMIUM, None, "none", False)
            try:
                walker_ids: list[str] = []
                for walker in ("walk-a", "walk-b"):
                    walker_ids.append(walker)
                    with browser.session(proxy.address, Moves(dwell_ms=0, hover_ms=0, press_ms=20)) as session:
                        session.set_extra_headers({TRAINING_VISITOR_HEADER: walker})
                        session.visible_links(origin.base + "/")
                        # The page's own prerender, before the walk goes on.
                        assert wait_until(lambda: len([r for r in origin.seen if r.path == "/pre"]) == len(walker_ids), timeout=30)
                        session.follow(origin.base + "/next")
            finally:
                browser.close()
        seen = [(r.path, r.headers.get("sec-purpose"), r.headers.get(TRAINING_VISITOR_HEADER))
                for r in origin.seen if r.path != "/favicon.ico"]
    for walker in ("walk-a", "walk-b"):
        assert ("/", None, walker) in seen and ("/next", None, walker) in seen
    assert [entry for entry in seen if entry[2] is None] == [("/pre", "prefetch;prerender", None)] * 2, seen
    [host] = json.loads(graph.read_text())["hosts"].values()
    # Two walks, two visitors recorded on the link / -> /next (2 bytes of hash each).
    assert host["pages"]["/"]["next"]["/next"] == pytest.approx(2.0, abs=0.01)
    assert len(bytes.fromhex(host["pages"]["/"]["visitors"]["/next"])) == 4
