"""The verdicts for real (issue 18): an audit of a local site with origin delay, over a mobile
network, with a placebo (A/A) arm and a speculation arm, through real mitmdump processes and
headless Chromium. The placebo must come out `no-difference`, the speculation arm `faster`, and
the figures must be the ones computed here from the raw per-navigation timings (raw/runs.json)
with SciPy directly. Then --assert: a passing and a failing assertion, the exit status and the
JUnit file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.harness import ROOT, Origin, Reply
from tests.site import site_routes

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

# Three runs of four pages (9 pairs) rather than two of six: the machine's load drifts between
# runs and moves every pair of a run alike, so more runs make the placebo steadier; 9 pairs all
# faster still give a Holm-adjusted p of 6 · 2/2⁹ ≈ 0.02.
ARGS = ("--arms", "control,placebo,speculation", "--runs", "3", "--pages", "4", "--origin-delay-ms", "300",
        "--throttle", "4g", "--dwell-ms", "400")


def audit(out: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon")}
    return subprocess.run([sys.executable, "-m", "prefetch_lab.audit.cli", url, "--out", str(out), *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def verdict_audit(tmp_path_factory):
    out = tmp_path_factory.mktemp("verdict")
    with Origin(site_routes(8)) as site:
        done = audit(out, site.base + "/", *ARGS,
                     "--assert", "speculation.vs_control.lcp_ms.verdict==faster",
                     "--assert", "placebo.vs_control.lcp_ms.verdict==faster",  # must fail
                     "--junit", str(out / "junit.xml"))
    return out, json.loads((out / "audit.json").read_text()), done


def raw_metric(page: dict, metric: str) -> float | None:
    """TTFB and LCP as the audit defines them, from what the browser measured (no prerenders here),
    to the audit's 0.1 ms (finer differences would be ties the audit does not see, and change the p)."""
    activation = page["nav"].get("activationStart") or 0
    raw = page["nav"]["responseStart"] if metric == "ttfb_ms" else page.get("lcp")
    return None if raw is None else round(max(0.0, raw - activation), 1)


def raw_pairs(out: Path, arm: str, metric: str) -> list[float]:
    """arm − control for each (run, step ≥ 1), from raw/runs.json."""
    runs = json.loads((out / "raw" / "runs.json").read_text())["runs"]
    values = {(r["arm"], r["run"], i): raw_metric(s["page"], metric)
              for r in runs for i, s in enumerate(r["steps"]) if i >= 1 and isinstance(s.get("page"), dict)}
    return [v - values[("control", run, step)] for (a, run, step), v in sorted(values.items())
            if a == arm and v is not None and values.get(("control", run, step)) is not None]


def test_placebo_is_no_difference_and_speculation_is_faster(verdict_audit):
    out, document, done = verdict_audit
    assert document["complete"], done.stderr
    summary = document["summary"]
    placebo, speculation = summary["placebo"]["vs_control"], summary["speculation"]["vs_control"]
    print({arm: summary[arm]["vs_control"] for arm in ("placebo", "speculation")})
    assert speculation["lcp_ms"]["verdict"] == "faster" and speculation["ttfb_ms"]["verdict"] == "faster"
    assert speculation["lcp_ms"]["ci95_ms"][1] < 0 and speculation["lcp_ms"]["p_holm"] < 0.05
    # The headline metric's verdict. (TTFB and FCP are judged too, but with 9 pairs whose runs
    # drift together on a loaded machine one of three A/A metrics can cross p < 0.05 by chance:
    # the audit's own README says so; the test must not fail on that chance.)
    assert placebo["lcp_ms"]["verdict"] == "no-difference", placebo
    for metric in ("ttfb_ms", "fcp_ms", "lcp_ms"):
        assert placebo[metric]["effect"] in ("negligible", "small", "medium", "large")


@pytest.mark.parametrize("arm", ["placebo", "speculation"])
@pytest.mark.parametrize("metric", ["ttfb_ms", "lcp_ms"])
def test_the_figures_are_the_raw_navigations(verdict_audit, arm, metric):
    out, document, _ = verdict_audit
    diffs = raw_pairs(out, arm, metric)
    figures = document["summary"][arm]["vs_control"][metric]
    assert figures["n_pairs"] == len(diffs) == 9
    assert figures["median_diff_ms"] == pytest.approx(float(np.median(diffs)), abs=0.15)
    if any(diffs):
        assert figures["p_value"] == pytest.approx(scipy_stats.wilcoxon(diffs).pvalue, rel=0.02, abs=1e-3)
    assert figures["ci95_ms"][0] <= figures["median_diff_ms"] + 0.1 and figures["median_diff_ms"] - 0.1 <= figures["ci95_ms"][1]


def test_per_page_differences_have_one_pair_per_run(verdict_audit):
    _, document, _ = verdict_audit
    pages = document["summary"]["speculation"]["vs_control_pages"]
    assert [p["step"] for p in pages] == [1, 2, 3]
    assert all(p["lcp_ms"]["n_pairs"] == 3 and p["lcp_ms"]["median_diff_ms"] < 0 for p in pages), pages


def test_a_failed_assertion_exits_4_and_the_junit_file_marks_it(verdict_audit):
    out, document, done = verdict_audit
    assert done.returncode == 4, done.stdout + done.stderr
    assert [a["passed"] for a in document["assertions"]] == [True, False]
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    cases = suite.findall("testcase")
    assert suite.get("failures") == "1" and [c.find("failure") is not None for c in cases] == [False, True]
    assert "no-difference" in cases[1].find("failure").get("message")


def noisy_routes(seed: int = 7) -> dict:
    """The same site, each page answered after a random 0–300 ms (seeded): a noisy origin."""
    import random

    rng = random.Random(seed)
    routes = site_routes(8)
    for path, reply in list(routes.items()):
        if reply.headers.get("content-type", "").startswith("text/html"):
            routes[path] = lambda request, reply=reply: Reply(reply.status, reply.headers, reply.body, rng.uniform(0, 0.3))
    return routes


def test_runs_auto_stops_on_precision_on_a_steady_site_and_compares_with_a_baseline(verdict_audit, tmp_path):
    baseline = verdict_audit[0] / "audit.json"  # the fast, warm audit above: this slow origin is slower
    with Origin(site_routes(8)) as site:
        # A slow but steady origin (every page 1 s, the edge cold so every page goes there): LCP is
        # ~1.1 s, and the default target (10 %, ~110 ms) is well above the rendering jitter of a busy
        # 2-core machine (tens of ms), so it is met after the first two rounds. (A fast page, LCP
        # ~90 ms with ±30 ms of jitter, never reaches 10 %.)
        done = audit(tmp_path, site.base + "/", "--arms", "control,placebo", "--runs", "auto", "--max-runs", "4",
                     "--pages", "4", "--dwell-ms", "300", "--edge", "cold", "--origin-delay-ms", "1000",
                     "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "audit.json").read_text())
    sampling = document["sampling"]
    assert sampling["mode"] == "auto" and sampling["stopped_by"] == "precision", sampling
    runs = {n["run"] for n in document["navigations"]}
    assert 2 <= sampling["runs"] == len(runs) < 4
    # The target is 10 % of the control's LCP p50, and the interval in the summary meets it.
    assert sampling["target_half_width_ms"] == pytest.approx(0.1 * document["summary"]["control"]["lcp_ms_p50"], abs=0.1)
    low, high = document["summary"]["placebo"]["vs_control"]["lcp_ms"]["ci95_ms"]
    assert (high - low) / 2 <= sampling["target_half_width_ms"] + 0.1
    assert "stopped because every LCP interval was narrow enough" in done.stdout
    # Against the baseline, unpaired, arm by arm: the figures are the two files' navigations.
    old = json.loads(baseline.read_text())
    compared = document["baseline"]
    assert compared["source"] == str(baseline) and set(compared["arms"]) == {"control", "placebo"}
    for arm in ("control", "placebo"):
        new_lcp = [n["lcp_ms"] for n in document["navigations"] if n["arm"] == arm and n["step"] >= 1]
        old_lcp = [n["lcp_ms"] for n in old["navigations"] if n["arm"] == arm and n["step"] >= 1]
        lcp = compared["arms"][arm]["lcp_ms"]
        assert (lcp["n_new"], lcp["n_old"]) == (len(new_lcp), len(old_lcp))
        assert lcp["median_diff_ms"] == pytest.approx(np.median(new_lcp) - np.median(old_lcp), abs=0.15)
        assert lcp["p_value"] == pytest.approx(scipy_stats.mannwhitneyu(new_lcp, old_lcp).pvalue, rel=0.01)
        assert lcp["verdict"] == "slower", lcp
    assert "against the baseline" in done.stdout
    env = {**os.environ, "PYTHONPATH": str(ROOT / "addon")}
    rendered = subprocess.run([sys.executable, "-m", "prefetch_lab.report.render", str(baseline), str(tmp_path / "audit.json"),
                               "-o", str(tmp_path / "compare.html")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert rendered.returncode == 0, rendered.stderr
    html = (tmp_path / "compare.html").read_text()
    assert 'id="table-compare"' in html and '"chart-forest"' in html


def test_runs_auto_stops_at_max_runs_when_the_noise_is_large(tmp_path):
    with Origin(noisy_routes()) as site:
        done = audit(tmp_path, site.base + "/", "--arms", "control,placebo", "--runs", "auto", "--max-runs", "2",
                     "--pages", "4", "--dwell-ms", "300", "--edge", "cold")
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "audit.json").read_text())
    sampling = document["sampling"]
    assert sampling["stopped_by"] == "max-runs" and sampling["runs"] == 2, sampling
    assert {n["run"] for n in document["navigations"]} == {0, 1}
    assert sampling["lcp_ci_half_width_ms"]["placebo"] > sampling["target_half_width_ms"]
    assert "--max-runs 2 reached" in done.stdout
