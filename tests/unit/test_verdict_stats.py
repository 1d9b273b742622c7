"""The verdicts' statistics (audit/computed/paired_stats.py, audit/findings/verdict.py) against
figures computed independently: SciPy called directly on hand-made samples, Cliff's δ and Holm
by hand, and the bootstrap reproducible from its seed."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from prefetch_lab.audit.analyze import json_clean
from prefetch_lab.audit.computed import paired_stats
from prefetch_lab.audit.computed.paired_stats import (
    cliffs_delta, effect_label, holm, median_ci, paired_comparison, unpaired_comparison, verdict)
from prefetch_lab.audit.findings.verdict import add_verdicts, compare_arms, compare_pages

CONTROL = [104, 98, 120, 110, 101, 95, 130, 99, 105, 112, 108, 97]
FASTER = [88, 80, 101, 95, 84, 80, 110, 85, 90, 93, 91, 82]  # about 16 ms less, every pair


def test_cliffs_delta_by_hand():
    # xs = [1, 2, 3], ys = [2, 4]: pairs (x > y, x < y): (1,2)<, (1,4)<, (2,2)=, (2,4)<, (3,2)>, (3,4)<
    # → (1 − 4) / 6 = −0.5
    assert cliffs_delta([1, 2, 3], [2, 4]) == pytest.approx(-0.5)
    assert cliffs_delta([5, 6], [1, 2]) == 1.0 and cliffs_delta([1, 1], [1, 1]) == 0.0
    assert cliffs_delta([], [1]) is None


@pytest.mark.parametrize("delta, label", [(0.0, "negligible"), (-0.146, "negligible"), (0.147, "small"),
                                          (-0.329, "small"), (0.33, "medium"), (0.473, "medium"),
                                          (-0.474, "large"), (1.0, "large"), (None, None)])
def test_effect_labels_are_romanos(delta, label):
    assert effect_label(delta) == label


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04, None left out (m = 3): 3·0.01 = 0.03, 2·0.02 = 0.04, max(0.04, 1·0.04)
    assert holm([0.04, 0.01, None, 0.02]) == pytest.approx([0.04, 0.03, None, 0.04], abs=1e-12)
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([]) == []


def test_paired_comparison_matches_scipy_directly():
    result = paired_comparison(FASTER, CONTROL)
    diffs = np.array(FASTER) - np.array(CONTROL)
    assert result["n_pairs"] == 12
    assert result["median_diff_ms"] == pytest.approx(float(np.median(diffs)), abs=0.05)
    assert result["p_value"] == pytest.approx(scipy_stats.wilcoxon(diffs).pvalue, rel=1e-3)
    expected = scipy_stats.bootstrap((diffs,), np.median, n_resamples=9999, method="percentile",
                                     rng=np.random.default_rng(paired_stats.SEED)).confidence_interval
    assert result["ci95_ms"] == [round(expected.low, 1), round(expected.high, 1)]
    assert result["ci95_ms"][1] < 0 and result["effect"] in ("medium", "large")
    assert result["cliffs_delta"] == pytest.approx(cliffs_delta(FASTER, CONTROL), abs=1e-4)
    assert verdict(result, result["p_value"]) == "faster"


def test_the_bootstrap_is_seeded_a_reanalysis_gives_the_same_ci():
    noisy = list(np.random.default_rng(3).normal(0, 20, 30))
    assert median_ci(noisy) == median_ci(list(noisy))
    assert paired_comparison(noisy, [0] * 30)["ci95_ms"] == paired_comparison(noisy, [0] * 30)["ci95_ms"]


def test_degenerate_inputs():
    same = paired_comparison([100, 100, 100], [100, 100, 100])
    assert same["median_diff_ms"] == 0 and same["ci95_ms"] == [0, 0] and same["p_value"] == 1.0
    assert verdict(same, same["p_value"]) == "no-difference"
    one = paired_comparison([90], [100])
    assert one["n_pairs"] == 1 and one["ci95_ms"] is None and one["p_value"] is None and one["effect"] is None
    assert verdict(one, None) == "insufficient-data"
    none = paired_comparison([], [])
    assert none["n_pairs"] == 0 and none["median_diff_ms"] is None and verdict(none, None) == "insufficient-data"
    # A constant, non-zero difference over many pairs is real.
    constant = paired_comparison([90] * 25, [100] * 25)
    assert constant["ci95_ms"] == [-10, -10] and verdict(constant, constant["p_value"]) == "faster"


def test_no_difference_when_the_ci_contains_zero_or_p_is_high():
    assert verdict({"ci95_ms": [-5.0, 3.0]}, 0.001) == "no-difference"
    assert verdict({"ci95_ms": [-5.0, -3.0]}, 0.05) == "no-difference"
    assert verdict({"ci95_ms": [3.0, 5.0]}, 0.01) == "slower"


def test_unpaired_comparison_matches_scipy_directly():
    result = unpaired_comparison(FASTER, CONTROL)
    assert result["p_value"] == pytest.approx(scipy_stats.mannwhitneyu(FASTER, CONTROL).pvalue, rel=1e-3)
    assert result["median_diff_ms"] == pytest.approx(np.median(FASTER) - np.median(CONTROL), abs=0.05)
    assert result["ci95_ms"][0] < result["median_diff_ms"] < result["ci95_ms"][1]
    assert result["verdict"] == "faster"
    assert unpaired_comparison([1], [2])["verdict"] == "insufficient-data"


def navigations(values: dict[str, list[float | None]], runs: int = 3) -> list[dict]:
    """Navigations of a walk: values[arm][i] is step i % steps + 1 of run i // steps (step 0 too)."""
    navs = []
    for arm, lcps in values.items():
        steps = len(lcps) // runs
        for i, lcp in enumerate(lcps):
            run, step = divmod(i, steps)
            navs.append({"arm": arm, "run": run, "step": step + 1, "url": f"/p{step + 1}", "walk_url": f"/p{step + 1}",
                         "ttfb_ms": lcp and lcp / 4, "fcp_ms": lcp, "lcp_ms": lcp})
            if step == 0:
                navs.append({"arm": arm, "run": run, "step": 0, "url": "/", "walk_url": "/",
                             "ttfb_ms": 1, "fcp_ms": 1, "lcp_ms": 1})  # the landing page: never paired
    return navs


def test_compare_arms_pairs_by_run_and_step_and_holm_adjusts_every_arm_and_metric():
    navs = navigations({"control": CONTROL, "placebo": CONTROL[::-1], "speculation": FASTER})
    result = compare_arms(navs, ["control", "placebo", "speculation"], "control")
    assert set(result) == {"placebo", "speculation"}
    lcp = result["speculation"]["lcp_ms"]
    assert lcp["n_pairs"] == 12 and lcp["verdict"] == "faster"
    raw = [scipy_stats.wilcoxon(np.array(a) - np.array(CONTROL)).pvalue for a in (CONTROL[::-1], FASTER)]
    # six comparisons (2 arms × 3 metrics); the speculation's three share one p (same diffs up to scale)
    assert lcp["p_holm"] == pytest.approx(holm([raw[0]] * 3 + [raw[1]] * 3)[5], rel=1e-3)
    assert result["placebo"]["lcp_ms"]["verdict"] == "no-difference"


def test_missing_metrics_are_left_out_of_the_pairs():
    faster = list(FASTER)
    faster[0] = None
    navs = navigations({"control": CONTROL, "speculation": faster})
    assert compare_arms(navs, ["control", "speculation"], "control")["speculation"]["lcp_ms"]["n_pairs"] == 11
    assert compare_arms(navs, ["speculation"], "control") == {}


def test_per_page_differences():
    navs = navigations({"control": CONTROL, "speculation": FASTER})
    pages = json_clean(compare_pages(navs, "speculation", "control"))
    assert [p["step"] for p in pages] == [1, 2, 3, 4] and pages[0]["url"] == "/p1"
    first = [FASTER[i] - CONTROL[i] for i in (0, 4, 8)]
    assert pages[0]["lcp_ms"]["n_pairs"] == 3 and pages[0]["lcp_ms"]["median_diff_ms"] == float(np.median(first))
    assert "_diffs" not in pages[0]


def test_summary_gets_vs_control_for_experiment_arms_only():
    summary = {"control": {}, "speculation": {}}
    add_verdicts(summary, navigations({"control": CONTROL, "speculation": FASTER}), "control")
    summary = json_clean(summary)
    assert "vs_control" not in summary["control"]
    fields = {"n_pairs", "median_diff_ms", "ci95_ms", "p_value", "p_holm", "cliffs_delta", "effect", "verdict"}
    assert set(summary["speculation"]["vs_control"]) == {"ttfb_ms", "fcp_ms", "lcp_ms"}
    assert set(summary["speculation"]["vs_control"]["lcp_ms"]) == fields


def test_the_headline_says_the_verdict_with_interval_p_effect_and_pairs():
    from prefetch_lab.formatting import fmt_comparison

    c = {"n_pairs": 27, "median_diff_ms": -16.2, "ci95_ms": [-22.1, -9.0], "p_holm": 0.0021, "effect": "large",
         "verdict": "faster"}
    assert fmt_comparison("lcp_ms", c) == "LCP −16 ms [−22, −9] (95 % CI), p = 0.002 (Holm), large effect, 27 pairs: faster"
    assert fmt_comparison("ttfb_ms", {**c, "p_holm": 0.00001, "ci95_ms": [-1, 2]}).startswith("TTFB −16 ms [−1, +2]")
    assert "p < 0.001" in fmt_comparison("ttfb_ms", {**c, "p_holm": 0.00001})
    assert fmt_comparison("fcp_ms", {"n_pairs": 1, "median_diff_ms": 3.0, "ci95_ms": None, "verdict": "insufficient-data"}) \
        == "FCP +3 ms, 1 pair: insufficient data"


def test_terminal_verdict_lines_fit_100_columns_and_warn_under_20_pairs():
    from prefetch_lab.audit.findings.summary_table import verdict_lines

    summary = {"control": {}, "placebo": {}, "speculation": {}}
    add_verdicts(summary, navigations({"control": CONTROL, "placebo": CONTROL[::-1], "speculation": FASTER}), "control")
    lines = verdict_lines({"summary": json_clean(summary)})
    assert lines[0].startswith("placebo against the control")
    assert lines[1].startswith("  LCP") and lines[1].endswith("no-difference")
    assert lines[4].startswith("speculation against") and lines[5].endswith("faster")
    assert all(len(line) <= 100 for line in lines), lines
    assert [line.split(":")[0] for line in lines if "fewer than 20" in line] == ["placebo", "speculation"]


def test_a_baseline_is_compared_unpaired_arm_by_arm_with_holm():
    from prefetch_lab.audit.findings.baseline import compare_with_baseline
    from prefetch_lab.audit.findings.summary_table import baseline_lines

    old = {"schema": "prefetch-lab-audit/1", "url": "http://x/", "summary": {"control": {}, "speculation": {}},
           "navigations": navigations({"control": CONTROL, "speculation": CONTROL})}
    new = navigations({"control": CONTROL, "speculation": FASTER, "edgio": FASTER})
    result = json_clean(compare_with_baseline(new, ["control", "speculation", "edgio"], old, "old/audit.json"))
    assert set(result["arms"]) == {"control", "speculation"} and result["missing_arms"] == ["edgio"]
    lcp = result["arms"]["speculation"]["lcp_ms"]
    assert (lcp["n_new"], lcp["n_old"]) == (12, 12)
    assert lcp["p_value"] == pytest.approx(scipy_stats.mannwhitneyu(FASTER, CONTROL).pvalue, rel=1e-3)
    raw = [scipy_stats.mannwhitneyu(a, CONTROL).pvalue for a in (CONTROL, FASTER)]
    ttfb_raw = [scipy_stats.mannwhitneyu([v / 4 for v in a], [v / 4 for v in CONTROL]).pvalue for a in (CONTROL, FASTER)]
    expected = holm([ttfb_raw[0], raw[0], raw[0], ttfb_raw[1], raw[1], raw[1]])
    assert lcp["p_holm"] == pytest.approx(expected[5], rel=1e-3) and lcp["verdict"] == "faster"
    assert result["arms"]["control"]["lcp_ms"]["verdict"] == "no-difference"
    lines = baseline_lines({"baseline": result})
    assert lines[0].startswith("against the baseline old/audit.json") and "12 vs 12 navigations: faster" in lines[2]
    with pytest.raises(ValueError):
        compare_with_baseline(new, ["control"], {"schema": "other"}, "x.json")


def test_the_command_line_refuses_a_baseline_that_is_not_an_audit(tmp_path, capsys):
    from prefetch_lab.audit.cli import parse_args

    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "something/else"}')
    with pytest.raises(SystemExit) as exited:
        parse_args(["http://127.0.0.1:9/", "--baseline", str(bad)])
    assert exited.value.code == 2 and "not a prefetch-lab-audit/1 file" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args(["http://127.0.0.1:9/", "--baseline", str(tmp_path / "missing.json")])
    good = tmp_path / "audit.json"
    good.write_text('{"schema": "prefetch-lab-audit/1"}')
    assert parse_args(["http://127.0.0.1:9/", "--baseline", str(good)]).baseline == good


def test_speed_index_is_compared_shown_in_the_terminal_and_the_forest_plot_only_with_filmstrips():
    from prefetch_lab.audit.findings.summary_table import verdict_lines
    from prefetch_lab.report.differences import forest_series

    with_frames = navigations({"control": CONTROL, "speculation": FASTER})
    for nav in with_frames:
        nav["visual"] = {"speed_index_ms": nav["lcp_ms"] * 0.9}
    for navs, expected in ((with_frames, True), (navigations({"control": CONTROL, "speculation": FASTER}), False)):
        summary = {"control": {}, "speculation": {}}
        add_verdicts(summary, navs, "control")
        audit = {"summary": json_clean(summary)}
        assert ("speed_index_ms" in audit["summary"]["speculation"]["vs_control"]) is expected
        assert any(line.startswith("  Speed Index") and line.endswith("faster") for line in verdict_lines(audit)) is expected
        assert any(row["label"].endswith("Speed Index") for row in forest_series(audit)["rows"]) is expected
