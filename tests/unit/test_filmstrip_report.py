"""The report's compare view and paint figures (report/filmstrip.py, tables.py, charts.py) on a
hand-built audit whose filmstrips are JPEG frames under OUT (tests/filmstrip_audit.py)."""

from __future__ import annotations

import re

import pytest

from prefetch_lab.report import charts as reportcharts
from prefetch_lab.report import data as reportdata
from prefetch_lab.report import filmstrip as reportfilmstrip
from prefetch_lab.report.render import render_report
from tests.filmstrip_audit import ARMS, filmstrip_audit


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out = tmp_path_factory.mktemp("filmstrip-unit")
    return out, filmstrip_audit(out)


def test_each_step_shows_its_median_gain_run_and_the_median_gain_step_comes_first(audited):
    out, audit = audited
    view = reportfilmstrip.filmstrip_view(audit, out)
    # the control's LCP − the median of the arms' (700 − (300 + 150) / 2 = 475 ms) × 1, 1.1, 1.2 by
    # run and × 1, 1.2 by step: 475, 522.5, 570 ms (step 1), 570, 627, 684 ms (step 2): run 1 both times
    options = reportfilmstrip.choose_options(audit)
    assert [(o["key"], o["gain"]) for o in options] == [("run1-step1", pytest.approx(522.5)), ("run1-step2", pytest.approx(627))]
    assert [o["key"] for o in view["options"]] == ["run1-step1", "run1-step2"]
    assert view["default"] == "run1-step1"  # the lower median of the two steps' gains


def test_a_column_every_100_ms_shows_the_frame_on_screen_then(audited):
    out, audit = audited
    strip = reportfilmstrip.filmstrip_view(audit, out)["strips"][0]
    assert [row["arm"] for row in strip["rows"]] == list(ARMS)
    assert strip["columns"][:3] == [0.0, 100.0, 200.0] and all(b - a == 100 for a, b in zip(strip["columns"], strip["columns"][1:]))
    control = next(n for n in audit["navigations"] if (n["arm"], n["run"], n["step"]) == ("control", 1, 1))
    frames = control["filmstrip"]
    cells = strip["rows"][0]["cells"]
    for cell in cells:
        expected = [f["file"] for f in frames if f["t_ms"] <= cell["t"]][-1]
        assert cell["file"] == expected
    # FCP (385 ms) and LCP (770 ms) outlined on the first columns at or after them
    assert [c["t"] for c in cells if "fcp" in c["marks"]] == [400.0]
    assert [c["t"] for c in cells if "lcp" in c["marks"]] == [800.0]


def test_the_report_embeds_each_frame_once_and_an_animation_per_step(audited):
    out, audit = audited
    html = render_report(audit, out / "raw")
    view = reportfilmstrip.filmstrip_view(audit, out)
    used = {c["file"] for s in view["strips"] for row in s["rows"] for c in row["cells"]}
    assert len(re.findall(r"\.fr\d+\{background-image:url\(data:image/jpeg;base64,", html)) == len(used)
    animations = re.findall(r'src="data:image/webp;base64,([^"]+)"', html)
    assert len(animations) == len(view["strips"])
    assert all(0 < s["animation_bytes"] < 100_000 for s in view["strips"])
    assert 'data-key="run1-step2" hidden' in html and 'data-key="run1-step1" hidden' not in html


def test_speed_index_cls_and_the_lcp_breakdown_per_arm(audited):
    _, audit = audited
    view = reportdata.audit_view(audit, None)
    columns = [c["label"] for c in view["timing_table"]["columns"]]
    assert columns[-6:] == ["Speed Index p50", "Speed Index p50 ratio", "CLS p50", "LCP p50", "LCP p75", "LCP p50 ratio"]
    row = next(r for r in view["timing_table"]["rows"] if r[0]["sort"] == "control")
    s = audit["summary"]["control"]
    assert row[-6]["text"] == f"{round(s['speed_index_ms_p50']):,} ms" and row[-4]["text"] == f"{s['cls_p50']:.3f}"
    chart = next(c for c in reportcharts.audit_charts(view["series"]) if c["id"] == "chart-lcp-breakdown")
    traces = chart["figure"]["data"]
    assert [t["name"] for t in traces] == ["TTFB", "resource load delay", "resource load time", "element render delay"]
    by_part = {t["name"]: list(t["x"]) for t in traces}
    assert by_part["TTFB"] == [audit["summary"][arm]["lcp_breakdown_p50"]["ttfb_ms"] for arm in ARMS]
    assert by_part["resource load time"] == [0, 0, 0]  # a text LCP
    assert len(view["gain_lines"]) == len(ARMS) - 1 and view["gain_lines"][0].startswith("Where speculation's LCP")


def test_no_frames_no_compare_view(audited):
    out, audit = audited
    bare = {**audit, "navigations": [{**n, "filmstrip": []} for n in audit["navigations"]]}
    assert reportfilmstrip.filmstrip_view(bare, out) is None
    assert reportfilmstrip.filmstrip_view(audit, None) is None
    assert 'id="filmstrips"' not in render_report(bare, out / "raw")


def test_visual_progress_chart_one_figure_per_step_one_curve_per_arm(audited):
    out, audit = audited
    view = reportdata.audit_view(audit, None)
    view["series"]["visual_progress"] = reportfilmstrip.progress_series(reportfilmstrip.filmstrip_view(audit, out))
    chart = next(c for c in reportcharts.audit_charts(view["series"]) if c["id"] == "chart-visual-progress")
    assert chart["default"] == "run1-step1" and set(chart["figures"]) == {"run1-step1", "run1-step2"}
    traces = chart["figures"]["run1-step1"]["data"]
    assert [t["name"] for t in traces] == [reportfilmstrip.arm_label(a) for a in ARMS]
    control = next(n for n in audit["navigations"] if (n["arm"], n["run"], n["step"]) == ("control", 1, 1))
    assert [[x, y] for x, y in zip(traces[0]["x"], traces[0]["y"])] == control["visual"]["progress"]
    assert all(t["y"][0] == 0 and t["y"][-1] == 100 for t in traces)
