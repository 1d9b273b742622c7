"""The report's compare view (report/filmstrip.py), for real: hand-built runs whose filmstrips
are JPEG frames under OUT (drawn with Pillow, paced differently per arm), analysed by the audit's
own analysis, rendered, then opened in headless Chromium with the network off: no console error,
no request, one strip per arm for the chosen step, and another step in the menu shows other frames."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from prefetch_lab.audit.analyze import analyze
from prefetch_lab.report.render import render_report
from tests.e2e.test_report import offline_report
from tests.unit.test_auditanalysis import run, step

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

ARMS = {"control": 700.0, "speculation": 300.0, "edgio": 150.0}  # when each arm's page is complete (ms)
RUNS, STEPS = 3, 3
COLOURS = [(200, 40, 40), (40, 90, 200), (30, 150, 70)]


def frame(step_no: int, share: float) -> Image.Image:
    """Step `step_no`'s page with `share` of its block painted (step 0's colour for the before picture)."""
    image = Image.new("RGB", (412, 300), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 411, 20], fill=COLOURS[(step_no - 1) % 3])
    if share:
        draw.rectangle([0, 30, int(411 * share), 280], fill=COLOURS[step_no % 3])
    return image


def write_strip(out, arm: str, run_no: int, step_no: int, done_ms: float) -> list[dict]:
    folder = out / "frames" / f"{arm}-run{run_no}"
    folder.mkdir(parents=True, exist_ok=True)
    done = done_ms + 37 * run_no + 50 * step_no  # runs and steps differ a little, so the gains differ
    times = [0.0] + [t for t in (16.0 + 100 * k for k in range(12)) if t <= done + 100]
    strip = []
    for t in times:
        name = f"frames/{arm}-run{run_no}/step{step_no}-{t:g}ms.jpg"
        (frame(step_no, 0.0) if t == 0 else frame(step_no, min(1.0, t / done))).save(out / name, "JPEG", quality=75)
        strip.append({"t_ms": t, "file": name})
    return strip


@pytest.fixture(scope="module")
def report_html(tmp_path_factory):
    out = tmp_path_factory.mktemp("filmstrip-audit")
    runs = []
    for arm, done in ARMS.items():
        for run_no in range(RUNS):
            steps = [step(0, "/", 1.0)]
            for step_no in range(1, STEPS):
                lcp = done + 37 * run_no + 50 * step_no
                s = step(step_no, f"/p{step_no}", 10.0 * step_no, response_start=min(300.0, lcp / 3), fcp=lcp / 2, lcp=lcp)
                s["filmstrip"] = write_strip(out, arm, run_no, step_no, done)
                steps.append(s)
            runs.append(run(arm, steps, [], index=run_no))
    audit = {"schema": "prefetch-lab-audit/1", "url": "https://shop.example/", "complete": True, "problem": None,
             "settings": {"arms": list(ARMS), "runs": RUNS, "pages": STEPS}, "environment": {},
             **analyze(runs, out_dir=out)}
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
        other = next(o for o in options if o != current)
        page.select_option("#filmstrip-select", other)
        assert page.evaluate(f"document.querySelector('{visible}').dataset.key") == other
        assert page.eval_on_selector_all(f"{visible} tr.strip", "rows => rows.length") == len(ARMS)
        assert page.eval_on_selector_all(f"{visible} .frame", "fs => fs.map(f => f.dataset.file)") != files
    assert errors == [] and asked == []
    assert html.stat().st_size < 3_000_000
