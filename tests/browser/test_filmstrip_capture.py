"""Filmstrips from Chromium's trace screenshots, through both drivers and a real proxy, on a page
that paints in known steps (tests/sites/paint_steps.py): frames in time order, their files
written, each block first seen within one 100 ms frame interval of the page's own mark for it,
and the two drivers agreeing.

Each driver runs in a child process, as in an audit: Playwright's sync API cannot start a second
instance beside the one the other browser tests share (tests/harness.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from prefetch_lab.audit.computed.visual_metrics import filmstrip_visual
from prefetch_lab.audit.gather.trace_frames import BUCKET_MS
from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin
from tests.sites import paint_steps

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The clock's alignment error (trace_frames.py: the mark's two readings, performance.now()'s
# 0.1 ms coarsening), with room for rounding t_ms to 0.1 ms.
ALIGNMENT_MS = 1.0
DRIVERS = ("playwright", "cdp-pipe")


def capture(driver_name: str, proxy_address: str, base: str, out: str, start: str = "/") -> list[dict]:
    """In a child process: press the start page's link to /paint, filmstrips on; the steps."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves
    from prefetch_lab.audit.gather.trace_frames import FrameFolder
    from prefetch_lab.audit.gather.walk import Step

    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, "none", False)
    try:
        frames = FrameFolder(Path(out), f"frames/{driver_name}{start.replace('/', '-')}")
        with browser.session(proxy_address, Moves(dwell_ms=1500), frames=frames) as session:
            return session.walk([Step(0, base + start, "start"), Step(1, base + "/paint", "link")])
    finally:
        browser.close()


def run_child(function: str, *args: str) -> list[dict]:
    child = subprocess.run(
        [sys.executable, "-c", f"import json, sys; from tests.browser.test_filmstrip_capture import {function} as f; "
         "print(json.dumps(f(*sys.argv[1:])))", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
        capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> tuple[Path, dict[str, list[dict]]]:
    out = tmp_path_factory.mktemp("filmstrips")
    with Origin(paint_steps.routes()) as origin, Mitmdump(out / "proxy", {"prefetch_inject": "off"}) as proxy:
        steps = {driver: run_child("capture", driver, proxy.address, origin.base, str(out)) for driver in DRIVERS}
        steps["prerender"] = run_child("capture", "cdp-pipe", proxy.address, origin.base, str(out), "/prerendering")
    return out, steps


def first_shown(out: Path, strip: list[dict]) -> list[float]:
    """For each paint step, the t_ms of the first kept frame showing its block."""
    shown = [paint_steps.shown_steps((out / frame["file"]).read_bytes()) for frame in strip]
    return [next(frame["t_ms"] for frame, seen in zip(strip, shown) if seen[i]) for i in range(len(paint_steps.STEPS))]


@pytest.mark.parametrize("driver", [*DRIVERS, "prerender"])
def test_frames_are_in_time_order_on_disk_and_each_step_shows_within_a_frame_interval_of_its_mark(captured, driver):
    out, steps = captured
    start, paint = steps[driver]
    assert start["error"] is None and paint["error"] is None, (start, paint)
    assert paint["trigger"] == "link" and paint["page"]["url"].endswith("/paint")
    for record in (start, paint):
        strip = record["filmstrip"]
        assert strip and [f["t_ms"] for f in strip] == sorted(f["t_ms"] for f in strip), strip
        assert all((out / f["file"]).read_bytes()[:2] == b"\xff\xd8" for f in strip)  # JPEG files, under OUT
        assert all(f["file"].startswith("frames/") and f"/step{record['step']}-" in f["file"] for f in strip)
        assert strip[0]["t_ms"] >= 0 and strip[-1]["t_ms"] <= 1500 + ALIGNMENT_MS
    strip = paint["filmstrip"]
    # Before the press: the start page (no block yet) is the before picture, at t=0.
    assert strip[0]["t_ms"] == 0 and not any(paint_steps.shown_steps((out / strip[0]["file"]).read_bytes()))
    marks = page_marks(paint)
    seen = first_shown(out, strip)
    for i, (mark, t) in enumerate(zip(marks, seen)):
        assert mark - ALIGNMENT_MS <= t <= mark + BUCKET_MS + ALIGNMENT_MS, (i, marks, seen, strip)
    # The final frame shows every block: the page was visually complete within the dwell.
    assert all(paint_steps.shown_steps((out / strip[-1]["file"]).read_bytes()))
    # At most one frame per 100 ms bucket after the before picture.
    buckets = [int(f["t_ms"] // BUCKET_MS) for f in strip[1:]]
    assert len(buckets) == len(set(buckets)), strip
    if driver == "prerender":  # the press activated the prerendered page: timed from the activation
        assert paint["delivery"] == "prerender" and paint["page"]["nav"]["activationStart"] > 0, paint


def page_marks(record: dict) -> list[float]:
    """The page's marks of its steps from the navigation's start (a prerender's: from its activation)."""
    activation = record["page"]["nav"]["activationStart"] or 0
    return [mark - activation for mark in paint_steps.marks(record["page"])]


def test_both_drivers_give_matching_frame_timings(captured):
    out, steps = captured
    lags = {}
    for driver in DRIVERS:
        paint = steps[driver][1]
        lags[driver] = [t - mark for t, mark in zip(first_shown(out, paint["filmstrip"]), page_marks(paint))]
    # Each block is seen the same number of frame intervals after its mark, give or take one.
    for a, b in zip(*lags.values()):
        assert abs(a - b) <= BUCKET_MS, lags


@pytest.mark.parametrize("driver", [*DRIVERS, "prerender"])
def test_visual_metrics_of_the_captured_strip_agree_with_the_hand_worked_values(captured, driver):
    """The whole chain, capture then computed/visual_metrics: Speed Index and visually complete
    agree with the values worked out by hand from the page's own marks (paint_steps' docstring),
    within one frame interval (plus the clock's alignment error)."""
    out, steps = captured
    paint = steps[driver][1]
    visual = filmstrip_visual(paint["filmstrip"], out)
    marks = page_marks(paint)
    slack = BUCKET_MS + ALIGNMENT_MS
    assert abs(visual["speed_index_ms"] - paint_steps.expected_speed_index_ms(marks)) <= slack, (visual, marks)
    assert marks[0] - ALIGNMENT_MS <= visual["first_visual_change_ms"] <= marks[0] + slack, (visual, marks)
    for key in ("visually_complete_85_ms", "visually_complete_ms"):  # 60 % before the last step, 100 % at it
        assert marks[2] - ALIGNMENT_MS <= visual[key] <= marks[2] + slack, (key, visual, marks)


def test_both_drivers_give_matching_visual_metrics(captured):
    out, steps = captured
    visual = {driver: filmstrip_visual(steps[driver][1]["filmstrip"], out) for driver in DRIVERS}
    lateness = {driver: visual[driver]["speed_index_ms"] - paint_steps.expected_speed_index_ms(page_marks(steps[driver][1]))
                for driver in DRIVERS}
    assert abs(lateness["playwright"] - lateness["cdp-pipe"]) <= BUCKET_MS, (visual, lateness)
