"""Soft navigations (a press that changed the URL without a new document): how the drivers tell
them from documents (page_scripts), their own figures in the analysis, never pooled with the
documents' nor counted as "not prefetched", and what the summary, advice, report and terminal
say of them."""

from __future__ import annotations

import json

from prefetch_lab.audit.analyze import analyze
from prefetch_lab.audit.findings.summary_table import summary_rows, verdict_lines
from prefetch_lab.audit.gather.page_scripts import navigation_kind, settle_kind
from prefetch_lab.audit.gather.trace_frames import CLOCK_MARK, FrameFolder
from prefetch_lab.report.arms import soft_headline
from prefetch_lab.report.data import audit_view
from tests.unit.test_auditanalysis import SITE, T0, doc, page, rec, resource, run, step
from tests.unit.test_trace_frames import mark, shot


def soft_step(n, path, landed_at, *, start, url_change, first_paint, lcp, method="chromium", resources=()):
    """A press at page time `start` (ms) that routed to `path` within the document loaded at `landed_at`."""
    landed = page("/", landed_at, resources=resources)
    landed["url"] = SITE + path
    landed["soft_navigation"] = {"method": method, "url": SITE + path, "press": start - 100, "start": start,
                                 "url_change": url_change, "navigation_type": "push", "first_paint": first_paint,
                                 "lcp": lcp, "lcp_element": "p#intro", "lcp_url": None}
    return {"step": n, "url": SITE + path, "trigger": "link", "started": T0 + landed_at + start / 1000 - 0.2,
            "error": None, "document": None, "page": landed, "kind": "soft"}


def test_a_press_is_a_document_a_soft_navigation_or_nothing():
    before = (1.7e12, SITE + "/")
    assert navigation_kind(*before, {"time_origin": 1.7e12 + 5000, "url": SITE + "/a"}) == "document"
    assert navigation_kind(*before, {"time_origin": 1.7e12 + 5000, "url": SITE + "/"}) == "document"  # reloaded
    assert navigation_kind(*before, {"time_origin": 1.7e12, "url": SITE + "/a"}) == "soft"
    assert navigation_kind(*before, {"time_origin": 1.7e12, "url": SITE + "/", "soft_navigation": {"start": 1.0}}) == "soft"
    assert navigation_kind(*before, {"time_origin": 1.7e12, "url": SITE + "/", "soft_navigation": None}) is None
    assert navigation_kind(*before, None) is None

    record = {"trigger": "link", "error": None, "page": {"time_origin": 1.7e12, "url": SITE + "/", "soft_navigation": None}}
    settle_kind(record, *before)
    assert record["kind"] is None and record["error"].startswith("NoNavigation")
    # A document keeps no soft navigation (its own replaceState after load is not the walk's).
    record = {"trigger": "link", "error": None, "page": {"time_origin": 2e12, "url": SITE + "/a", "soft_navigation": {"start": 1}}}
    settle_kind(record, *before)
    assert record["kind"] == "document" and record["page"]["soft_navigation"] is None
    record = {"trigger": "start", "error": None, "page": {"time_origin": 2e12, "url": SITE + "/"}}
    settle_kind(record, None, None)
    assert record["kind"] == "document"


def spa_run(arm="control"):
    """/ (a document), /guide and /api (soft, in the document of step 0), /faq (a document again)."""
    chunk = resource("/assets/guide.js", start=2010.0, end=2030.0, transfer=0)  # from the browser's cache
    chunk.update(encodedBodySize=900, decodedBodySize=2_700)  # as a cached answer reports it: a body, no transfer
    api = resource("/assets/api.js", start=5010.0, end=5060.0, transfer=1_200)
    steps = [
        step(0, "/", 1.0),
        soft_step(1, "/guide", 1.0, start=2000.0, url_change=2003.0, first_paint=2040.0, lcp=2060.0, resources=[chunk]),
        soft_step(2, "/api", 1.0, start=5000.0, url_change=5002.0, first_paint=5080.0, lcp=5120.0, resources=[chunk, api]),
        step(3, "/faq", 10.0),
    ]
    trail = [doc("cache-hit", "/", 1.1, caching_status="hit"), doc("cache-store", "/faq", 10.1, caching_status="cached"),
             {**doc("cache-store", "/assets/api.js", 6.01, caching_status="cached"), "dest": "script"}]
    return run(arm, steps, trail)


def test_soft_navigations_have_their_own_figures_and_never_pool_with_documents():
    audit = analyze([spa_run()])
    kinds = {n["step"]: n["kind"] for n in audit["navigations"]}
    assert kinds == {0: "document", 1: "soft", 2: "soft", 3: "document"}
    guide = next(n for n in audit["navigations"] if n["step"] == 1)
    # From the press's release; never the landing document's Navigation Timing or LCP again.
    assert guide["soft"]["url_change_ms"] == 3.0 and guide["soft"]["first_paint_ms"] == 40.0
    assert guide["soft"]["largest_paint_ms"] == 60.0 and guide["soft"]["method"] == "chromium"
    assert (guide["ttfb_ms"], guide["fcp_ms"], guide["lcp_ms"], guide["lcp_breakdown"]) == (None, None, None, None)
    assert guide["served_from"] == "no-document" and guide["prefetched"] is False
    assert guide["not_prefetched_reason"] is None and guide["lcp_element"] == {"tag": "p", "url": None}
    # What each route fetched after its press: guide.js from the browser's cache; api.js over the
    # network (the document's earlier resources are not step 2's), which the edge got from the origin.
    assert guide["soft"]["route_requests"] == {"browser": 1, "from_browser_cache": 1, "edge_cache": 0, "origin": 0}
    api = next(n for n in audit["navigations"] if n["step"] == 2)
    assert api["soft"]["route_requests"] == {"browser": 1, "from_browser_cache": 0, "edge_cache": 0, "origin": 1}

    s = audit["summary"]["control"]
    assert s["navigations"] == 1 and s["soft_navigations"] == 2  # /faq only: the figures' own
    assert s["lcp_ms_p50"] == 600.0 and s["ttfb_ms_p50"] == 300.0
    assert s["soft_navigations_p50"]["first_paint_ms"] == 60.0  # p50 of 40 and 80
    assert s["soft_navigations_p50"]["largest_paint_ms"] == 90.0  # of 60 and 120
    assert s["soft_navigations_p50"]["by_method"] == {"chromium": 2}
    assert s["coverage"] == 0.0 and s["prefetched_navigations"] == 0


def test_the_advice_says_what_would_help_and_the_headline_only_when_most_are_soft():
    audit = analyze([spa_run()])
    entry = next(a for a in audit["advice"] if a["code"] == "soft-navigations")
    assert entry["count"] == 2 and entry["arms"] == ["control"] and "deep fetch" in entry["remedy"]
    assert entry["example_urls"] == [SITE + "/guide", SITE + "/api"]
    assert entry["headline"] is not None  # 2 soft against 1 document
    assert not any(a.get("code") == "link-not-visible" for a in audit["advice"])

    # One soft navigation among three documents: advice, no headline.
    mostly_documents = spa_run()
    mostly_documents["steps"] = mostly_documents["steps"][:2] + [step(2, "/a", 8.0), step(3, "/faq", 10.0), step(4, "/b", 12.0)]
    audit = analyze([mostly_documents])
    entry = next(a for a in audit["advice"] if a["code"] == "soft-navigations")
    assert entry["count"] == 1 and entry["headline"] is None
    assert soft_headline(audit) is None


def test_an_arm_with_only_soft_navigations_neither_claims_nor_denies_a_gain():
    def all_soft(arm, paint):
        r = spa_run(arm)
        r["steps"] = r["steps"][:3]
        r["steps"][1]["page"]["soft_navigation"]["lcp"] = 2000.0 + paint
        return r

    audit = analyze([all_soft("control", 40.0), all_soft("speculation", 70.0)])
    view = audit_view(json.loads(json.dumps(audit)), None)
    assert view["headline"].startswith("Most navigations on this site are soft (4 of 4")
    spec = next(line for line in view["more_verdicts"] if line.startswith("With speculation rules"))
    assert "no document-prefetch gain can be measured" in spec and "faster" not in spec and "slower" not in spec
    assert view["soft_table"]["rows"] and soft_headline(audit) == view["headline"]
    assert not verdict_lines(audit)  # no "0 pairs" comparison of documents that were never measured
    _, rows = summary_rows(audit)
    assert rows[0][1] == "0 + 2 soft"
    # Largest paints: control 40 and 120 ms (p50 80), speculation 70 and 120 (p50 95).
    assert audit["summary"]["speculation"]["soft_largest_paint_ratio"] == round(95.0 / 80.0, 4)


def test_a_soft_navigations_filmstrip_starts_at_the_press(tmp_path):
    start = 2000.0
    events = [shot(1500, "landing"), shot(start + 40, "new view"), mark(f"{CLOCK_MARK}-1", 4000.0)]
    trace = json.dumps({"traceEvents": events})
    folder = FrameFolder(tmp_path, "frames/control-run0")
    strip = folder.keep(1, trace, f"{CLOCK_MARK}-1", 4000.0, {"nav": {"activationStart": 0}, "soft_navigation": {"start": start}})
    assert [f["t_ms"] for f in strip] == [0.0, 40.0]
    assert (tmp_path / strip[1]["file"]).read_bytes() == b"new view"


def test_the_reports_filmstrip_compares_soft_navigations_by_their_largest_paint():
    from prefetch_lab.report.filmstrip import choose_options, paints

    def arm(name, largest):
        r = spa_run(name)
        r["steps"] = r["steps"][:2]
        r["steps"][1]["page"]["soft_navigation"]["lcp"] = 2000.0 + largest
        r["steps"][1]["filmstrip"] = [{"t_ms": 0.0, "file": f"frames/{name}/a.jpg"}, {"t_ms": largest, "file": f"frames/{name}/b.jpg"}]
        return r

    audit = json.loads(json.dumps(analyze([arm("control", 40.0), arm("speculation", 70.0)])))
    soft = next(n for n in audit["navigations"] if n["arm"] == "control" and n["step"] == 1)
    assert paints(soft) == (40.0, 40.0) and paints({"fcp_ms": 1.0, "lcp_ms": 2.0}) == (1.0, 2.0)
    [option] = choose_options(audit)
    assert option["step"] == 1 and option["gain"] == -30.0 and "largest paint gain" in option["title"]


def test_the_deployment_readme_says_first_that_its_rules_help_document_navigations_only():
    from prefetch_lab.audit.findings.soft_navigations import deploy_notes
    from prefetch_lab.deploy.deployment import build_deployment
    from prefetch_lab.deploy.site_rules import Eagerness

    audit = analyze([spa_run()])
    [note] = deploy_notes(audit["summary"])
    assert note.startswith("2 of 3 navigations") and "deep fetch" in note
    assert deploy_notes(analyze([run("control", [step(0, "/", 1.0), step(1, "/a", 5.0)], [])])["summary"]) == []
    readme = build_deployment(SITE + "/", [], [], Eagerness("conservative", "why"), [note]).files["README.md"]
    assert readme.splitlines()[2] == f"**Read first:** {note}"


def test_a_route_chunk_from_the_browsers_cache_credits_the_sites_prefetch_of_it():
    raw = spa_run()
    # The site's <link rel=prefetch> of both route chunks while the landing page showed (the control
    # arm: ungated, forwarded); /guide's came from the browser's cache at the press, /api's did not.
    for path, at, flow in (("/assets/guide.js", 2.0, "g"), ("/assets/api.js", 2.1, "a")):
        raw["trail"] += [
            rec("prefetch-forwarded", path, at, flow_id=flow, prefetch="speculation", dest="empty", speculation_tags="",
                reason="gate-off"),
            rec("cache-store", path, at + 0.01, flow_id=flow, prefetch="speculation", dest="empty", status=200,
                caching_status="cached", size=900),
        ]
    audit = analyze([raw])
    used = {p["url"].removeprefix(SITE): p["used"] for p in audit["prefetches"] if p["mechanism"] == "site"}
    assert used == {"/assets/guide.js": True, "/assets/api.js": False}
    assert audit["summary"]["control"]["wasted_bytes"] == 900
