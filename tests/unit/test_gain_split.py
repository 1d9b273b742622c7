"""Where an arm's gain comes from (computed/sources.py, computed/gain_split.py,
findings/gain_sources.py), on hand-built runs that reproduce issue 19's story: a documentation
site whose origin sends no caching headers; the control re-downloads the pages' CSS and JS on
every page, while in the edgio arm the worker serves them from Cache Storage (kept from the
first page, not prefetched) and prefetches the documents."""

from __future__ import annotations

import pytest

from prefetch_lab.audit.analyze import analyze
from tests.unit.test_auditanalysis import SITE, doc, edgio_hit, nav_of, rec, resource, run, step

CSS, JS = "/site.css", "/site.js"
PAGES = ["/", "/guide", "/api", "/faq"]


def blocking(path, end, delivery="", start=40.0, worker=0.0):
    entry = resource(path, start=start, end=end, blocking=True, delivery=delivery,
                     transfer=0 if delivery == "cache-storage" else 9_000,
                     initiator="link" if path.endswith(".css") else "script")
    entry["workerStart"] = worker
    return entry


def control_run(index=0):
    """Every page from the origin (TTFB 300 ms), its CSS and JS downloaded again (end at 1,200 ms)."""
    steps = [step(k, path, 10.0 * k + 1, response_start=300.0, fcp=1_300.0, lcp=1_400.0, load=1_500.0,
                  resources=[blocking(CSS, 1_100.0, start=320.0), blocking(JS, 1_200.0, start=320.0)])
             for k, path in enumerate(PAGES)]
    trail = []
    for k, path in enumerate(PAGES):
        at = 10.0 * k + 1
        trail += [doc("cache-bypass", path, at + 0.1, status=200, caching_status="no-max-age"),
                  rec("cache-bypass", CSS, at + 0.4, dest="style", status=200, caching_status="no-max-age"),
                  rec("cache-bypass", JS, at + 0.4, dest="script", status=200, caching_status="no-max-age")]
    return run("control", steps, trail, index=index)


def edgio_run(index=0):
    """The landing page loads CSS and JS from the network (the worker keeps them); every later page
    is a document the worker prefetched (TTFB 20 ms) with CSS and JS from Cache Storage (end 40 ms)."""
    steps = [step(0, PAGES[0], 1.0, response_start=300.0, fcp=1_300.0, lcp=1_400.0, load=1_500.0,
                  resources=[blocking(CSS, 1_100.0, start=320.0, worker=310.0), blocking(JS, 1_200.0, start=320.0, worker=310.0)])]
    steps += [step(k, path, 10.0 * k + 1, delivery="cache-storage", response_start=20.0, fcp=130.0, lcp=150.0,
                   load=300.0, transfer=0,
                   resources=[blocking(CSS, 35.0, "cache-storage", start=25.0, worker=24.0),
                              blocking(JS, 40.0, "cache-storage", start=25.0, worker=24.0)])
              for k, path in enumerate(PAGES) if k >= 1]
    trail = [doc("cache-store", PAGES[0], 1.1, status=200, caching_status="cached"),
             rec("injected", PAGES[0], 1.11, dest="document"),
             rec("cache-bypass", CSS, 1.4, dest="style", status=200, caching_status="no-max-age"),
             rec("cache-bypass", JS, 1.4, dest="script", status=200, caching_status="no-max-age")]
    for k, path in enumerate(PAGES):
        if k >= 1:
            trail.append(edgio_hit(path, 10.0 * k - 5))  # after the previous page loaded
    return run("edgio", steps, trail, index=index)


@pytest.fixture(scope="module")
def audit():
    return analyze([control_run(i) for i in range(3)] + [edgio_run(i) for i in range(3)])


def test_sources_of_the_document_and_each_render_blocking_subresource(audit):
    control = nav_of(audit, "control", 2)["sources"]
    assert control["document"] == "network"
    assert [(e["url"], e["source"]) for e in control["render_blocking"]] == [(SITE + CSS, "network"), (SITE + JS, "network")]
    assert control["render_blocking_done_ms"] == 1_200.0
    edgio = nav_of(audit, "edgio", 2)["sources"]
    assert edgio["document"] == "prefetch"  # the worker served a document it had prefetched
    # CSS and JS from Cache Storage, never prefetched: the worker kept them from the landing page
    assert {e["source"] for e in edgio["render_blocking"]} == {"service-worker-cache"}
    assert all(e["via_worker"] for e in edgio["render_blocking"])
    assert edgio["render_blocking_done_ms"] == 40.0


def test_the_split_adds_up_and_credits_document_to_prefetching_and_css_js_to_the_worker(audit):
    split = audit["summary"]["edgio"]["gain_split"]
    assert split["n_pairs"] == 9  # steps 1..3 × 3 runs
    # by hand, per pair: LCP 150 − 1,400 = −1,250; document 20 − 300 = −280;
    # subresources (40 − 20) − (1,200 − 300) = −880; the rest −1,250 + 280 + 880 = −90
    assert split["lcp_diff_ms"] == {"p50": -1250.0, "mean": -1250.0}
    assert split["document_ms"]["mean"] == -280.0
    assert split["subresources_ms"]["mean"] == -880.0
    assert split["other_ms"]["mean"] == -90.0
    assert split["document_by_source"] == {"prefetch": -280.0}
    assert split["subresources_by_source"] == {"service-worker-cache": -880.0}
    text = split["explanation"]
    assert "prefetching made \u2212280 ms" in text
    assert "the worker's Cache Storage \u2212880 ms (worker caching, not prefetching)" in text


def test_advice_says_caching_headers_are_the_cheaper_fix(audit):
    entry = next(a for a in audit["advice"] if a["code"] == "worker-cache-gain")
    assert entry["arms"] == ["edgio"]
    # the control re-downloaded CSS and JS on steps 1..3 of 3 runs: 9 navigations, 18 downloads
    assert entry["count"] == 9 and "(18 downloads)" in entry["reason"]
    assert set(entry["example_urls"]) == {SITE + CSS, SITE + JS}
    assert "Cache-Control" in entry["remedy"] and "cheaper fix" in entry["remedy"]


def test_no_worker_caching_no_cheap_fix_advice():
    """Speculation-like arm: the document prefetched, CSS/JS from the network as in the control."""
    arm = control_run()
    arm["arm"] = "speculation"
    for s in arm["steps"][1:]:
        s["page"]["nav"]["deliveryType"] = "navigational-prefetch"
        s["page"]["nav"]["responseStart"] = 10.0
    audit = analyze([control_run(), arm])
    split = audit["summary"]["speculation"]["gain_split"]
    assert split["document_by_source"] == {"prefetch": -290.0}
    assert split["subresources_by_source"] == {"network": 290.0}  # the wait after the first byte grew
    assert "worker" not in split["explanation"]
    assert not [a for a in audit["advice"] if a["code"] == "worker-cache-gain"]


def test_subresource_sources_from_resource_timing_and_the_trail():
    """One page's render-blocking files, each from another place: Cache Storage after Edgio's deep
    fetch (prefetch), the edge's cache (a cache-hit in the step's window), the HTTP cache (no
    transfer, a body), the origin; and two the worker fetched itself, told apart by the trail."""
    from tests.unit.test_auditanalysis import edgio_refused

    files = [blocking("/deep.css", 60.0, "cache-storage"), blocking("/edge.css", 80.0), blocking("/cached.js", 30.0),
             blocking("/origin.js", 120.0),
             # the worker fetched these itself: no transfer, and Chromium says "cache" even for the network
             blocking("/via-worker.js", 110.0, "cache", worker=45.0), blocking("/worker-cached.js", 50.0, "cache", worker=45.0)]
    files[2].update(transferSize=0, encodedBodySize=5_000)
    for entry in files[4:]:
        entry.update(transferSize=0, encodedBodySize=5_000)
    steps = [step(0, "/", 1.0), step(1, "/guide", 10.0, resources=files)]
    trail = [doc("cache-hit", "/", 1.05, status=200, caching_status="hit"),
             rec("prefetch-hit", "/deep.css", 2.0, prefetch="deep-fetch", dest="empty", status=200, caching_status="hit",
                 size=3_000, content_type="text/css"),
             edgio_refused("/guide", 2.1),
             doc("cache-store", "/guide", 10.02, status=200, caching_status="cached"),
             rec("cache-hit", "/edge.css", 10.05, dest="style", status=200, caching_status="hit"),
             rec("cache-store", "/origin.js", 10.06, dest="script", status=200, caching_status="cached"),
             rec("cache-hit", "/via-worker.js", 10.07, dest="empty", status=200, caching_status="hit")]
    audit = analyze([run("edgio", steps, trail)])
    sources = nav_of(audit, "edgio", 1)["sources"]
    assert {e["url"].removeprefix(SITE): e["source"] for e in sources["render_blocking"]} == {
        "/deep.css": "prefetch", "/edge.css": "edge-hit", "/cached.js": "http-cache", "/origin.js": "network",
        "/via-worker.js": "edge-hit", "/worker-cached.js": "http-cache"}
    assert sources["document"] == "network" and sources["render_blocking_done_ms"] == 120.0
