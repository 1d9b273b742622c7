"""The report, for real: rendered from a real audit of a local origin (scripts/audit, real
mitmdump, headless Chromium) and from the trail of a Chromium session through a real mitmdump,
then opened in headless Chromium with the network off. Every chart must have drawn its data, the
headline numbers must be the JSON's, and the console must stay clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from prefetch_lab import formatting
from prefetch_lab.trail import read_records
from tests.harness import ROOT, Mitmdump, Origin, chromium_through, launch_chromium
from tests.site import site_routes

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ENV = {**os.environ, "PYTHONPATH": str(ROOT / "addon")}
# What a drawn chart holds: traces, bars, scatter/box points (Plotly's SVG classes).
CHART_CONTENT = """id => {
  const gd = document.getElementById(id);
  const svg = gd.querySelector('.main-svg');
  return {svg: Boolean(svg) && svg.getBoundingClientRect().height > 0,
          traces: (gd.data || []).length,
          drawnTraces: gd.querySelectorAll('.cartesianlayer .trace').length,
          bars: gd.querySelectorAll('.barlayer .point').length,
          points: gd.querySelectorAll('.scatterlayer .point').length,
          boxes: gd.querySelectorAll('.boxlayer .trace').length};
}"""


def render(source: Path, output: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "prefetch_lab.report.render", str(source), "-o", str(output)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@contextmanager
def offline_report(path: Path):
    """The report in headless Chromium with the network off: any request but the file aborts and is
    recorded; console errors and page errors are collected."""
    browser = launch_chromium()
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_offline(True)
        asked: list[str] = []

        def block(route):
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                asked.append(route.request.url)
                route.abort()

        context.route("**/*", block)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        page.wait_for_function("document.documentElement.dataset.charts", timeout=60_000)
        yield page, errors, asked
    finally:
        browser.close()


def ms(value: float) -> str:
    return f"{round(value):,} ms"


def row_cells(page, table_id: str, first_cell: str) -> list[str]:
    return page.evaluate("""([id, first]) => {
        const row = [...document.querySelectorAll('#' + id + ' tbody tr')].find(r => r.cells[0].textContent === first);
        return row ? [...row.cells].map(c => c.textContent) : [];
    }""", [table_id, first_cell])


# ---- a report from a real audit -------------------------------------------------------------------

@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out = tmp_path_factory.mktemp("report-audit")
    # A cold edge: the speculation arm's prefetches are refused, so every chart has data (the
    # with/without pairs, waterfalls, prefetch outcomes and why navigations were not prefetched).
    with Origin(site_routes(6)) as origin:
        done = subprocess.run(
            [sys.executable, "-m", "prefetch_lab.audit.cli", origin.base + "/", "--out", str(out), "--arms",
             "control,speculation", "--runs", "1", "--pages", "3", "--edge", "cold", "--dwell-ms", "700",
             "--origin-delay-ms", "100"],
            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    render(out / "audit.json", out / "rendered.html")
    return out, json.loads((out / "audit.json").read_text())


def test_report_of_a_real_audit_draws_every_chart_offline_with_the_json_numbers(audited):
    out, audit = audited
    html = out / "rendered.html"
    assert html.stat().st_size < 3_000_000
    runs = {(r["arm"], r["run"]): r for r in json.loads((out / "raw" / "runs.json").read_text())["runs"]}
    summary = audit["summary"]
    arms = list(summary)
    with offline_report(html) as (page, errors, asked):
        assert page.evaluate("document.documentElement.dataset.charts") == "ready"
        drawn = {id_: page.evaluate(CHART_CONTENT, id_) for id_ in page.eval_on_selector_all(
            "[data-chart]", "elements => elements.map(e => e.id)")}

        # Which charts there are follows from the JSON.
        expected = ["chart-lcp", "chart-ttfb", "chart-waterfall"]
        if any(p["arm"] != "control" for p in audit["prefetches"]):
            expected.append("chart-outcomes")
        if any(n["arm"] != "control" and n["step"] >= 1 and not n["prefetched"] for n in audit["navigations"]):
            expected.append("chart-reasons")
        intervals = [(arm, m) for arm in arms for m, c in (summary[arm].get("vs_control") or {}).items() if c["ci95_ms"]]
        if intervals:
            expected.append("chart-forest")
        if any(n.get("lcp_breakdown") for n in audit["navigations"]):  # the page's LCP attribution
            expected.append("chart-lcp-breakdown")
        if any((n.get("visual") or {}).get("progress") for n in audit["navigations"]):  # filmstrips
            expected.append("chart-visual-progress")
        assert sorted(drawn) == sorted(expected)
        if intervals:  # the forest plot: one point per (arm, metric) with an interval
            assert drawn["chart-forest"]["points"] == len(intervals), drawn["chart-forest"]
        assert all(content["svg"] and content["drawnTraces"] >= 1 for content in drawn.values()), drawn

        # With/without: one trace per arm, one bar per navigation after the landing page (one run).
        for chart, metric in (("chart-lcp", "lcp_ms"), ("chart-ttfb", "ttfb_ms")):
            values = [n for n in audit["navigations"] if n["step"] >= 1 and n[metric] is not None]
            assert drawn[chart]["traces"] == len(arms) and drawn[chart]["bars"] == len(values), (chart, drawn[chart])

        # The waterfall of the first page after the landing one: the document and each Resource
        # Timing entry of every arm as a bar, each prefetch the edge saw from that page as a mark.
        requests = sum(1 + len(step["page"]["resources"]) for (arm, run), r in runs.items()
                       for step in r["steps"] if step["step"] == 1 and step["page"])
        prefetch_marks = [p for p in audit["prefetches"] if p["step"] == 1 and p["run"] == 0 and p["ts"] is not None]
        assert drawn["chart-waterfall"]["bars"] == requests
        assert drawn["chart-waterfall"]["points"] == len(prefetch_marks)
        # Another page in the picker redraws with that page's requests.
        page.select_option("#chart-waterfall-select", "run0-step0")
        landing = sum(1 + len(step["page"]["resources"]) for r in runs.values() for step in r["steps"] if step["step"] == 0)
        assert page.evaluate(CHART_CONTENT, "chart-waterfall")["bars"] == landing

        if "chart-outcomes" in drawn:
            # used, served but not used, forwarded, never sent, and one trace per refusal reason
            outcomes = {"used" if p["used"] else "served" if p["edge"] in ("hit", "stale") else
                        ("refused", p["edge_reason"]) if p["edge"] == "refused" else p["edge"]
                        for p in audit["prefetches"] if p["arm"] != "control"}
            assert drawn["chart-outcomes"]["traces"] == len(outcomes)
        if "chart-reasons" in drawn:
            assert drawn["chart-reasons"]["traces"] == len([a for a in arms if a != "control"])

        # The headline numbers are the JSON's.
        control, arm = summary["control"], summary["speculation"]
        headline = page.inner_text("#headline")
        tested = formatting.fmt_comparison("lcp_ms", arm["vs_control"]["lcp_ms"])
        assert headline.startswith(f"With speculation rules, {tested}; LCP p50 went from {ms(control['lcp_ms_p50'])} to "
                                   f"{ms(arm['lcp_ms_p50'])} ({arm['lcp_ratio']:.2f}×); "
                                   f"{arm['prefetched_navigations']} of {arm['navigations']} navigations"), headline
        cells = row_cells(page, "table-timings", "speculation rules")
        assert cells[2] == ms(arm["ttfb_ms_p50"]) and cells[4] == f"{arm['ttfb_ratio']:.2f}×"
        assert cells[-3:] == [ms(arm["lcp_ms_p50"]), ms(arm["lcp_ms_p75"]), f"{arm['lcp_ratio']:.2f}×"]
        cells = row_cells(page, "table-prefetching", "speculation rules")
        assert cells[1] == str(arm["prefetches"]) and cells[5].split(" ")[0] == str(arm["refused"])
        assert cells[6].split(" ")[0] == str(arm["origin_requests"])
        assert page.locator("#table-navigations tbody tr").count() == len(audit["navigations"])
        assert page.locator("#table-prefetches tbody tr").count() == len(audit["prefetches"])
        assert page.locator("#table-advice tbody tr").count() == len(audit["advice"])

        # Sorting a numeric column orders the rows by number.
        page.click("#table-navigations th:text-is('LCP')")
        lcps = page.eval_on_selector_all("#table-navigations tbody tr td:nth-child(11)", "tds => tds.map(t => Number(t.dataset.sort))")
        assert lcps == sorted(lcps)
    assert errors == [] and asked == []


# ---- a report from a manual session's trail -------------------------------------------------------

def test_report_of_a_manual_sessions_trail_shows_what_the_edge_did(tmp_path):
    trail = tmp_path / "session.trail.jsonl"
    with Origin(site_routes(4)) as origin:
        options = {"prefetch_inject": "speculation", "prefetch_eagerness": "immediate", "prefetch_audit_file": str(trail)}
        with Mitmdump(tmp_path / "conf", options) as proxy, chromium_through(proxy) as browser:
            page = browser.new_page()
            page.goto(origin.base + "/page/1")  # warms /page/1 at the edge; the other pages stay cold
            page.goto(origin.base + "/")  # immediate eagerness: its links are prefetched at once
            page.wait_for_timeout(1500)
            with page.expect_navigation():
                page.click("a[href='/page/1']")
            page.wait_for_timeout(300)
    records = list(read_records(trail))
    prefetches = [r for r in records if r["event"].startswith("prefetch-")]
    hits = [r for r in prefetches if r["event"] == "prefetch-hit"]
    refused = [r for r in prefetches if r["event"] == "prefetch-refused"]
    assert hits and refused, [(r["event"], r["url"]) for r in prefetches]

    render(trail, tmp_path / "session.html")
    with offline_report(tmp_path / "session.html") as (page, errors, asked):
        assert page.evaluate("document.documentElement.dataset.charts") == "ready"
        headline = page.inner_text("#headline")
        assert f"the edge saw {len(prefetches)} prefetches: {len(hits)} served from the edge cache, {len(refused)} refused" in headline
        rows = page.eval_on_selector_all("#table-prefetches tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.textContent))")
        assert len(rows) == len(prefetches)
        assert sorted((r[1], r[3]) for r in rows) == sorted(
            (r["url"].removeprefix(origin.base), "hit" if r["event"] == "prefetch-hit" else "refused") for r in prefetches)
        assert all(row[2] == "speculation" for row in rows)
        timeline = page.evaluate(CHART_CONTENT, "chart-timeline")
        lanes = {"prefetch-hit", "prefetch-refused", "cache-hit", "cache-store"} & {r["event"] for r in records}
        assert timeline["svg"] and timeline["traces"] >= len(lanes) - 1  # cache-store and -bypass share a lane
        marks = sum(1 for r in records if r["event"] in ("prefetch-hit", "prefetch-refused", "prefetch-forwarded", "cache-hit",
                                                          "cache-stale", "cache-store", "cache-bypass", "origin-error"))
        assert timeline["points"] == marks
        answers = page.evaluate(CHART_CONTENT, "chart-answers")
        assert answers["traces"] == 1 and answers["bars"] == len({r.get("reason") for r in refused}) + 1
        assert page.locator("#table-timings, #chart-lcp").count() == 0  # no A/B part
    assert errors == [] and asked == []
