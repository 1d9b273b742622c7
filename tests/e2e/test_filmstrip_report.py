"""The report's compare view (report/filmstrip.py), for real: hand-built runs whose filmstrips
are JPEG frames under OUT (drawn with Pillow, paced differently per arm), analysed by the audit's
own analysis, rendered, then opened in headless Chromium with the network off: no console error,
no request, one strip per arm for the chosen step, and another step in the menu shows other frames."""

from __future__ import annotations

import pytest

from prefetch_lab.report.render import render_report
from tests.e2e.test_report import offline_report
from tests.filmstrip_audit import ARMS, STEPS, filmstrip_audit

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("filmstrip-audit")
    audit = filmstrip_audit(out)
    html = out / "report.html"
    html.write_text(render_report(audit, out / "raw"), encoding="utf-8")
    return html, audit


def test_compare_view_opens_offline_one_strip_per_arm_and_the_menu_changes_the_frames(report_html):
    html, audit = report_html
    assert all(n["visual"] for n in audit["navigations"] if n["step"] >= 1)
    with offline_report(html) as (page, errors, asked):
        options = page.eval_on_selector_all("#filmstrip-select option", "os => os.map(o => o.value)")
        assert len(options) == STEPS - 1
        visible = "#filmstrips .compare:not([hidden])"
        assert page.locator(visible).count() == 1
        arms = page.eval_on_selector_all(f"{visible} tr.strip", "rows => rows.map(r => r.dataset.arm)")
        assert arms == list(ARMS)
        files = page.eval_on_selector_all(f"{visible} .frame", "fs => fs.map(f => f.dataset.file)")
        # every cell shows an embedded thumbnail, drawn from the CSS class
        backgrounds = page.eval_on_selector_all(f"{visible} .frame", "fs => fs.map(f => getComputedStyle(f).backgroundImage)")
        assert backgrounds and all(b.startswith('url("data:image/jpeg;base64,') for b in backgrounds)
        # FCP and LCP outlined once per arm
        assert page.locator(f"{visible} .frame.lcp").count() == len(ARMS)
        assert page.locator(f"{visible} .frame.fcp").count() == len(ARMS)
        # the animation decoded
        assert page.evaluate(f"document.querySelector('{visible} figure.animation img').naturalWidth") > 0
        current = page.evaluate(f"document.querySelector('{visible}').dataset.key")
        # the visual progress chart: one curve per arm, for the same step
        curves = "document.getElementById('chart-visual-progress').querySelectorAll('.scatterlayer .trace').length"
        assert page.evaluate(curves) == len(ARMS)
        assert page.evaluate("document.getElementById('chart-visual-progress-select').value") == current
        drawn = "JSON.stringify(document.getElementById('chart-visual-progress').data.map(t => t.x))"
        before = page.evaluate(drawn)
        other = next(o for o in options if o != current)
        page.select_option("#filmstrip-select", other)
        page.wait_for_function(f"{drawn} !== {before!r}")  # redrawn with the other step's curves
        assert page.evaluate("document.getElementById('chart-visual-progress-select').value") == other
        assert page.evaluate(f"document.querySelector('{visible}').dataset.key") == other
        assert page.eval_on_selector_all(f"{visible} tr.strip", "rows => rows.length") == len(ARMS)
        assert page.eval_on_selector_all(f"{visible} .frame", "fs => fs.map(f => f.dataset.file)") != files
    assert errors == [] and asked == []
    assert html.stat().st_size < 3_000_000
