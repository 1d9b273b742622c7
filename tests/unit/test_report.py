"""The report's data shaping (report.data and its parts, report.trail_view) and its HTML
rendering, on small audits and trails written by hand."""

from __future__ import annotations

import json
import re

import pytest

from prefetch_lab import formatting
from prefetch_lab.report import render as report
from prefetch_lab.report import charts as reportcharts
from prefetch_lab.report import series as reportseries
from prefetch_lab.report import tables as reporttables
from prefetch_lab.report import trail_view as reporttrail
from prefetch_lab.report import verdicts as reportverdicts
from prefetch_lab.report import waterfall as reportwaterfall

SITE = "http://shop.test/"


def nav(arm, run, step, lcp, ttfb, prefetched=False, reason=None, url=None):
    return {"arm": arm, "run": run, "step": step, "url": url or f"http://shop.test/p/{step}", "trigger": "click",
            "served_from": "prefetch" if prefetched else "edge", "delivery_type": "navigational-prefetch" if prefetched else "",
            "edge_caching_status": "hit", "ttfb_ms": ttfb, "fcp_ms": lcp, "lcp_ms": lcp, "load_ms": lcp + 50,
            "transfer_bytes": 3000, "prefetched": prefetched, "contention": 0,
            "not_prefetched_reason": reason, "not_prefetched_detail": None}


def small_audit() -> dict:
    navigations = [nav("control", 0, 0, 900, 300, reason=None)]
    navigations += [nav("control", 0, s, v, 300, reason="control") for s, v in ((1, 1240), (2, 1000), (3, 1300))]
    navigations += [nav("speculation", 0, 0, 900, 300)]
    navigations += [nav("speculation", 0, 1, 310, 10, prefetched=True), nav("speculation", 0, 2, 300, 10, prefetched=True),
                    nav("speculation", 0, 3, 1250, 300, reason="edge-cold")]
    prefetches = [
        {"arm": "speculation", "run": 0, "step": 0, "url": "http://shop.test/p/1", "mechanism": "speculation", "edge": "hit",
         "edge_reason": "hit", "status": 200, "browser_status": "PrefetchResponseUsed", "used": True, "bytes": 2048,
         "start_ms_after_load": 900.0, "ts": 1000.5},
        {"arm": "speculation", "run": 0, "step": 2, "url": "http://shop.test/p/3", "mechanism": "speculation", "edge": "refused",
         "edge_reason": "not-cached", "status": 412, "browser_status": "PrefetchFailedNon2XX", "used": False, "bytes": 0,
         "start_ms_after_load": 1000.0, "ts": 1003.0},
    ]
    summary = {
        "control": {"navigations": 3, "ttfb_ms_p50": 300.0, "fcp_ms_p50": 1240.0, "lcp_ms_p50": 1240.0, "lcp_ms_p75": 1270.0,
                    "lcp_ratio": 1.0, "ttfb_ratio": 1.0, "fcp_ratio": 1.0, "prefetches": 0, "used": 0, "accuracy": None,
                    "prefetched_navigations": 0, "coverage": 0.0, "refused": 0, "refused_by_reason": {},
                    "origin_requests": 4, "wasted_bytes": 0, "double_fetches": 0, "contention": {"mean": 0, "max": 0}},
        "speculation": {"navigations": 3, "ttfb_ms_p50": 10.0, "fcp_ms_p50": 310.0, "lcp_ms_p50": 310.0, "lcp_ms_p75": 780.0,
                        "lcp_ratio": 0.25, "ttfb_ratio": 0.0333, "fcp_ratio": 0.25, "prefetches": 2, "used": 1, "accuracy": 0.5,
                        "prefetched_navigations": 2, "coverage": 0.6667, "refused": 1, "refused_by_reason": {"not-cached": 1},
                        "origin_requests": 1, "wasted_bytes": 0, "double_fetches": 0, "contention": {"mean": 0.33, "max": 1}},
    }
    return {"schema": "prefetch-lab-audit/1", "url": SITE, "complete": True, "problem": None,
            "settings": {"arms": ["control", "speculation"], "runs": 1, "pages": 4, "edge": "warm"},
            "environment": {"chromium": "156"}, "walk": [{"step": s, "url": f"http://shop.test/p/{s}"} for s in range(4)],
            "navigations": navigations, "prefetches": prefetches, "double_fetches": [], "summary": summary,
            "advice": [{"reason": "edge cold", "code": "edge-cold", "detail": None, "count": 1, "arms": ["speculation"],
                        "example_urls": ["http://shop.test/p/3"], "remedy": "warm the edge"}],
            "console_errors": []}


def test_numbers_are_formatted_one_way():
    assert formatting.fmt_ms(1240.4) == "1,240 ms" and formatting.fmt_ms(None) == "–"
    assert formatting.fmt_ratio(0.25) == "0.25×" and formatting.fmt_ratio(1) == "1.00×"
    assert formatting.fmt_percent(0.6667) == "67 %"
    assert formatting.fmt_bytes(812) == "812 B" and formatting.fmt_bytes(2048) == "2.0 KB"
    assert formatting.fmt_signed_ms(-12.4) == "-12 ms" and formatting.fmt_signed_ms(900) == "+900 ms"


def test_verdict_names_the_change_the_reach_and_why_the_rest_was_not_prefetched():
    assert reportverdicts.verdicts(small_audit()) == [
        "With speculation rules, LCP p50 went from 1,240 ms to 310 ms (0.25×); 2 of 3 navigations were prefetched; "
        "1 was not prefetched because the edge was cold."]


def test_verdict_without_a_control_arm_and_with_control_alone():
    audit = small_audit()
    del audit["summary"]["control"]
    assert reportverdicts.verdicts(audit)[0].startswith("With speculation rules, LCP p50 was 310 ms (no control arm")
    audit = small_audit()
    del audit["summary"]["speculation"]
    assert reportverdicts.verdicts(audit)[0].startswith("Control only: LCP p50 was 1,240 ms over 3 navigations")


def test_p75_of_ttfb_and_fcp_is_computed_like_the_summary():
    # speculation's TTFBs after the landing page: 10, 10, 300 → p75 at rank 1.5: 10 + 0.5·290
    assert reporttables.p75(small_audit(), "speculation", "ttfb_ms") == 155.0
    timings = reporttables.timing_table(small_audit())
    assert [c["label"] for c in timings["columns"]][:5] == ["arm", "navigations", "TTFB p50", "TTFB p75", "TTFB p50 ratio"]
    speculation = timings["rows"][1]
    assert [c["text"] for c in speculation[2:5]] == ["10 ms", "155 ms", "0.03×"]
    assert speculation[4]["tone"] == "good" and speculation[4]["sort"] == 0.0333


def test_per_page_series_pairs_arms_page_by_page():
    series = reportseries.per_page_series(small_audit(), "lcp_ms")
    assert [a["arm"] for a in series["arms"]] == ["control", "speculation"] and series["runs"] == 1
    assert series["arms"][1]["pages"] == ["1 /p/1", "2 /p/2", "3 /p/3"]
    assert series["arms"][1]["values"] == [310, 300, 1250] and series["arms"][1]["texts"][0] == "310 ms"
    figure = reportcharts.per_page_chart(series, "chart-lcp", "LCP")["figure"]
    assert [t["type"] for t in figure["data"]] == ["bar", "bar"] and "template" not in figure["layout"]


def test_outcomes_and_reasons_count_what_became_of_prefetches_and_navigations():
    outcomes = reportseries.outcome_series(small_audit())
    assert outcomes["arms"] == ["speculation rules"]
    assert [(o["name"], o["counts"]) for o in outcomes["outcomes"]] == [("used", [1]), ("refused: not-cached", [1])]
    reasons = reportseries.reason_series(small_audit())
    assert reasons["labels"] == ["the edge was cold"] and reasons["arms"][0]["counts"] == [1]


def test_waterfall_places_requests_prefetches_and_paint_lines_on_the_page_clock():
    audit = small_audit()
    page = {"url": "http://shop.test/p/0", "time_origin": 1_000_000.0, "fcp": 120, "lcp": 150,
            "nav": {"startTime": 0, "responseStart": 40, "responseEnd": 60, "loadEventEnd": 200, "deliveryType": ""},
            "resources": [{"name": "http://shop.test/app.css", "startTime": 70, "responseEnd": 90, "renderBlockingStatus": "blocking"},
                          {"name": "http://cdn.test/x.png", "startTime": 80, "responseEnd": 130}]}
    runs = [{"arm": "speculation", "run": 0, "steps": [{"step": 0, "page": page}]},
            {"arm": "control", "run": 0, "steps": [{"step": 0, "page": page}, {"step": 1, "page": None}]}]
    waterfalls = reportwaterfall.waterfall_series(audit, runs)
    assert [w["key"] for w in waterfalls] == ["run0-step0"]
    control, speculation = waterfalls[0]["arms"]
    assert control["arm"] == "control" and speculation["arm"] == "speculation"
    assert [(b["label"], b["kind"]) for b in speculation["bars"]] == [
        ("document /p/0", "document (network)"), ("/app.css", "render-blocking"), ("http://cdn.test/x.png", "other request")]
    assert speculation["points"] == [{"label": "prefetch /p/1", "mechanism": "speculation", "edge": "hit", "at": 500.0,
                                      "detail": "speculation · edge hit · used"}]
    assert speculation["lines"] == {"FCP": 120.0, "LCP": 150.0, "load": 200.0}
    figure = reportcharts.waterfall_figure(waterfalls[0])
    assert sum(len(t["y"]) for t in figure["data"] if t["type"] == "bar") == 6
    assert len(figure["layout"]["shapes"]) == 6


def test_waterfall_in_reverse_mode_names_the_sites_urls_not_the_proxys():
    proxy = "http://127.0.0.1:8080"
    page = {"url": proxy + "/p/0", "time_origin": 1.0, "nav": {"responseEnd": 10},
            "resources": [{"name": proxy + "/app.css", "startTime": 1, "responseEnd": 2}]}
    run = {"arm": "control", "run": 0, "proxy_address": proxy, "steps": [{"step": 0, "url": "http://shop.test/p/0", "page": page}]}
    drawn = reportwaterfall.waterfall_series(small_audit(), [run])[0]["arms"][0]
    assert [b["label"] for b in drawn["bars"]] == ["document /p/0", "/app.css"]


def test_trail_view_tells_prefetches_refusals_and_fetches_again():
    records = [
        {"ts": 100.0, "event": "rules-loaded", "files": ["rules/default.yaml"]},
        {"ts": 100.5, "event": "cache-store", "url": "http://shop.test/", "cache_key": "GET http://shop.test/", "dest": "document",
         "status": 200, "caching_status": "cached", "flow_id": "a"},
        {"ts": 100.6, "event": "injected", "url": "http://shop.test/", "flow_id": "a", "placement": "body"},
        {"ts": 101.0, "event": "prefetch-hit", "url": "http://shop.test/p/1?edgio_prefetch=1", "cache_key": "GET http://shop.test/p/1",
         "prefetch": "edgio", "status": 200, "caching_status": "hit", "size": 2048, "content_type": "text/html", "flow_id": "b"},
        {"ts": 101.1, "event": "prefetch-refused", "url": "http://shop.test/p/2", "cache_key": "GET http://shop.test/p/2",
         "prefetch": "speculation", "status": 412, "reason": "not-cached", "dest": "document", "flow_id": "c"},
        {"ts": 103.0, "event": "cache-hit", "url": "http://shop.test/p/1", "cache_key": "GET http://shop.test/p/1", "dest": "document",
         "status": 200, "caching_status": "hit", "flow_id": "d"},
    ]
    view = reporttrail.trail_view(records, "trail.jsonl")
    assert view["headline"] == (
        "In this session (6 trail records over 3 s), the edge saw 2 prefetches: 1 served from the edge cache, "
        "1 refused (1 not-cached); the origin answered 1 request (0 for prefetches) and the edge cache served 1 other request.")
    assert view["more_verdicts"][0].startswith("1 of the 1 prefetches the edge served were requested from the edge again")
    hit, refused = view["prefetch_rows"]
    assert (hit["url"], hit["mechanism"], hit["answer"], hit["again_after"]) == ("http://shop.test/p/1", "edgio", "hit", 2.0)
    assert (refused["answer"], refused["reason"], refused["again_after"]) == ("refused", "not-cached", None)
    assert [c["text"] for c in view["documents_table"]["rows"][0]] == ["0.5 s", "/", "answered by the origin", "cached", "200",
                                                                      "injected (body)"]
    assert view["environment_line"] == "rules: rules/default.yaml"
    charts = reporttrail.trail_charts(view["series"])
    assert [c["id"] for c in charts] == ["chart-timeline", "chart-answers"]
    assert [t["name"] for t in charts[1]["figure"]["data"]] == ["edgio", "speculation"]


def test_script_json_cannot_end_the_script_element():
    value = {"url": "http://x.test/</script><script>alert(1)</script>", "sep": "a\u2028b\u2029c", "c": "<!--"}
    text = str(report.script_json(value))
    assert "<" not in text and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


def test_rendered_audit_escapes_what_the_site_controls():
    audit = small_audit()
    audit["navigations"][1]["url"] = 'http://shop.test/p/1?q="><img src=x onerror=alert(1)>'
    html = report.render_report(audit, None)
    assert "<img src=x" not in html
    assert html.count("<script") == 3  # the chart data, the compressed Plotly, the page's own code
    assert re.search(r'<p class="verdict" id="headline">With speculation rules, LCP p50 went from 1,240 ms to 310 ms', html)
    assert "No waterfall" in html  # no raw/ folder


def test_an_audit_that_measured_nothing_still_renders():
    html = report.render_report({"schema": "prefetch-lab-audit/1", "url": SITE, "complete": False, "problem": "interrupted",
                                 "summary": {}, "navigations": [], "prefetches": []}, None)
    assert '<p class="verdict" id="headline">The audit measured no navigation.</p>' in html
    assert "This audit is incomplete: interrupted." in html


def test_the_command_tells_a_trail_from_an_audit(tmp_path):
    trail = tmp_path / "session.jsonl"
    trail.write_text(json.dumps({"ts": 1.0, "event": "prefetch-refused", "url": "http://shop.test/p/2", "prefetch": "edgio",
                                 "status": 412, "reason": "not-cached"}) + "\n{torn")
    assert report.main([str(trail), "-o", str(tmp_path / "t.html")]) == 0
    html = (tmp_path / "t.html").read_text()
    assert "the edge saw 1 prefetch: 0 served from the edge cache, 1 refused (1 not-cached)" in html
    assert 'id="chart-timeline"' in html and 'id="table-timings"' not in html
    (tmp_path / "audit.json").write_text(json.dumps(small_audit()))
    assert report.main([str(tmp_path / "audit.json")]) == 0
    assert 'id="table-timings"' in (tmp_path / "report.html").read_text()
    (tmp_path / "empty.jsonl").write_text("")
    assert report.main([str(tmp_path / "empty.jsonl"), "-o", str(tmp_path / "e.html")]) == 1


def test_a_document_that_is_not_an_audit_is_refused():
    with pytest.raises(ValueError, match="prefetch-lab-audit/1"):
        report.render_report({"schema": "other"}, None)


def learned_audit() -> dict:
    audit = small_audit()
    learned = {**audit["summary"]["speculation"], "lcp_ms_p50": 120.0, "lcp_ratio": 0.0968, "accuracy": 0.75,
               "coverage": 1.0, "prefetched_navigations": 3, "prefetches": 4, "prefetches_by_kind": {"prerender": 3, "prefetch": 1},
               "served_from": {"prerender": 2, "prefetch": 1}, "wasted_bytes": 4096,
               "prerenders": {"offered": 5, "started": 3, "activated": 2, "failed_by_reason": {"TriggerDestroyed": 1}}}
    audit["summary"]["learned"] = learned
    audit["settings"].update(arms=["control", "speculation", "learned"], train=20, walk="skewed", skew=2.0)
    audit["training"] = {"walks": 20, "pages": 200, "seeds": [], "urls": [], "graph": "raw/traversal.json"}
    return audit


def test_the_learned_arm_is_shown_beside_the_fixed_rules_and_the_control():
    assert reporttables.learned_comparison(small_audit()) is None  # no learned arm: no such table
    table = reporttables.learned_comparison(learned_audit())
    assert [c["label"] for c in table["columns"]] == [
        "metric", "control (nothing injected)", "speculation rules", "learned speculation rules"]
    rows = {row[0]["text"]: [v["text"] for v in row[1:]] for row in table["rows"]}
    assert rows["accuracy"] == ["–", "50 %", "75 %"]
    assert rows["LCP p50 ratio"][2] == "0.10×" and rows["LCP p50"][2] == "120 ms"
    assert rows["prerenders activated / started / offered"] == ["–", "–", "2 / 3 / 5"]
    assert rows["served by a prerender"] == ["0", "0", "2"]
    prefetching = reporttables.prefetch_table(learned_audit())
    learned_row = next(r for r in prefetching["rows"] if r[0]["sort"] == "learned")
    labels = [c["label"] for c in prefetching["columns"]]
    assert learned_row[labels.index("prerenders")]["title"] == "failed: TriggerDestroyed 1"
    assert "trained on 20 walks" in reportverdicts.settings_line(learned_audit())
    assert "20 walks (200 page views)" in reportverdicts.training_line(learned_audit())
    assert 'id="table-learned"' in report.render_report(learned_audit(), None)
    assert 'id="table-learned"' not in report.render_report(small_audit(), None)


def with_verdicts(audit: dict, pairs: int = 27) -> dict:
    audit["summary"]["speculation"]["vs_control"] = {
        "lcp_ms": {"n_pairs": pairs, "median_diff_ms": -16.2, "ci95_ms": [-22.1, -9.0], "p_value": 0.0004, "p_holm": 0.0021,
                   "cliffs_delta": -0.6, "effect": "large", "verdict": "faster"},
        "fcp_ms": {"n_pairs": pairs, "median_diff_ms": -3.0, "ci95_ms": [-8.0, 2.0], "p_value": 0.2, "p_holm": 0.4,
                   "cliffs_delta": -0.1, "effect": "negligible", "verdict": "no-difference"},
        "ttfb_ms": {"n_pairs": 1, "median_diff_ms": -3.0, "ci95_ms": None, "p_value": None, "p_holm": None,
                    "cliffs_delta": None, "effect": None, "verdict": "insufficient-data"},
    }
    audit["summary"]["speculation"]["vs_control_pages"] = [
        {"step": 1, "url": "http://shop.test/p/1", "lcp_ms": {"n_pairs": 3, "median_diff_ms": -930.0, "ci95_ms": [-950.0, -900.0]},
         "ttfb_ms": {"n_pairs": 3, "median_diff_ms": -290.0, "ci95_ms": [-300.0, 5.0]}}]
    return audit


def test_the_headline_states_the_verdict_with_interval_and_pairs_and_the_forest_plot_draws_it():
    from prefetch_lab.report.data import audit_view

    view = audit_view(with_verdicts(small_audit()), None)
    assert view["headline"].startswith("With speculation rules, LCP −16 ms [−22, −9] (95 % CI), p = 0.002 (Holm), "
                                       "large effect, 27 pairs: faster; LCP p50 went from")
    assert view["pair_warnings"] and "1 pairs, fewer than 20" in view["pair_warnings"][0]
    rows = view["series"]["forest"]["rows"]
    assert [(r["label"], r["verdict"]) for r in rows] == [("speculation rules · LCP", "faster"),
                                                          ("speculation rules · FCP", "no-difference")]
    forest = reportcharts.forest_chart(view["series"]["forest"])
    [trace] = forest["figure"]["data"]
    assert list(trace["x"]) == [-16.2, -3.0] and list(trace["error_x"]["arrayminus"]) == pytest.approx([5.9, 5.0])
    page = view["page_differences_table"]["rows"][0]
    assert [c["text"] for c in page] == ["speculation rules", "1 /p/1", "3", "−930 ms", "[−950, −900]", "−290 ms", "[−300, +5]"]
    assert page[3]["tone"] == "good" and page[5]["tone"] is None
    html = report.render_report(with_verdicts(small_audit()), None)
    assert 'id="differences"' in html and "few-pairs" in html


def test_an_audit_without_verdicts_renders_as_before():
    from prefetch_lab.report.data import audit_view

    view = audit_view(small_audit(), None)
    assert view["series"]["forest"] == {"rows": []} and view["pair_warnings"] == []
    assert reportcharts.forest_chart(view["series"]["forest"]) is None
    assert 'id="differences"' not in report.render_report(small_audit(), None)


def test_two_audits_side_by_side_with_the_new_ones_baseline_test(tmp_path):
    old, new = small_audit(), with_verdicts(small_audit())
    new["summary"]["speculation"]["lcp_ms_p50"] = 155.0
    new["baseline"] = {"source": "old/audit.json", "arms": {"speculation": {
        "lcp_ms": {"n_new": 30, "n_old": 27, "median_diff_ms": -150.0, "ci95_ms": [-170.0, -120.0], "p_value": 0.001,
                   "p_holm": 0.003, "cliffs_delta": -0.8, "effect": "large", "verdict": "faster"}}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert report.main([str(tmp_path / "old.json"), str(tmp_path / "new.json"), "-o", str(tmp_path / "compare.html")]) == 0
    html = (tmp_path / "compare.html").read_text()
    assert 'id="table-compare"' in html and '"chart-forest"' in html
    from prefetch_lab.report.compare import compare_view

    view = compare_view(old, new, "old.json", "new.json")
    rows = {(r[0]["sort"], r[1]["text"]): [c["text"] for c in r[2:]] for r in view["compare_table"]["rows"]}
    assert rows[("speculation", "LCP")][:3] == ["310 ms", "155 ms", "0.50×"]
    assert rows[("speculation", "LCP")][3].endswith("30 vs 27 navigations: faster")
    assert rows[("control", "LCP")][3].startswith("– (run the new audit with --baseline")
    assert [r["label"] for r in view["series"]["forest"]["rows"]] == ["speculation rules · LCP"]
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "x"}')
    assert report.main([str(bad), str(tmp_path / "new.json"), "-o", str(tmp_path / "c.html")]) == 1
