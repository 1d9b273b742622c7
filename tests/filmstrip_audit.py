"""A hand-built audit with filmstrips (JPEG frames under OUT, drawn with Pillow and paced
differently per arm), analysed by the audit's own analysis: for the report's compare-view tests."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from prefetch_lab.audit.analyze import analyze
from tests.unit.test_auditanalysis import run, step

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


def done_at(arm: str, run_no: int, step_no: int) -> float:
    """When the arm's page of that run and step is complete (its LCP): runs and steps differ, so
    do the gains (control − the arms' median: 400 ms × 1, 1.1, 1.2 by run, × 1, 1.2 by step)."""
    return ARMS[arm] * (1 + 0.1 * run_no) * (1 + 0.2 * (step_no - 1))


def write_strip(out, arm: str, run_no: int, step_no: int) -> list[dict]:
    folder = out / "frames" / f"{arm}-run{run_no}"
    folder.mkdir(parents=True, exist_ok=True)
    done = done_at(arm, run_no, step_no)
    times = [0.0] + [t for t in (16.0 + 100 * k for k in range(12)) if t <= done + 100]
    strip = []
    for t in times:
        name = f"frames/{arm}-run{run_no}/step{step_no}-{t:g}ms.jpg"
        (frame(step_no, 0.0) if t == 0 else frame(step_no, min(1.0, t / done))).save(out / name, "JPEG", quality=75)
        strip.append({"t_ms": t, "file": name})
    return strip


def filmstrip_audit(out: Path) -> dict:
    """The audit document (as audit.json holds it) of 3 arms × 3 runs × 3 steps, frames under `out`."""
    runs = []
    for arm in ARMS:
        for run_no in range(RUNS):
            steps = [step(0, "/", 1.0)]
            for step_no in range(1, STEPS):
                lcp = done_at(arm, run_no, step_no)
                ttfb = lcp / 3
                s = step(step_no, f"/p{step_no}", 10.0 * step_no, response_start=ttfb, fcp=lcp / 2, lcp=lcp)
                s["filmstrip"] = write_strip(out, arm, run_no, step_no)
                s["page"]["lcp_attribution"] = {"tag": "div", "id": None, "url": None, "ttfb_ms": ttfb, "load_delay_ms": 0,
                                                "load_time_ms": 0, "render_delay_ms": lcp - ttfb}  # a text LCP
                s["page"]["cls"] = 0.01 * run_no
                steps.append(s)
            runs.append(run(arm, steps, [], index=run_no))
    audit = {"schema": "prefetch-lab-audit/1", "url": "https://shop.example/", "complete": True, "problem": None,
             "settings": {"arms": list(ARMS), "runs": RUNS, "pages": STEPS}, "environment": {},
             **analyze(runs, out_dir=out)}
    return audit
