"""The statistics behind the audit's verdicts: a paired comparison of two arms (median of the
differences, its seeded bootstrap 95 % CI, Wilcoxon signed-rank), an unpaired one for baselines
(Mann-Whitney U, a bootstrap CI of the difference of medians), Cliff's δ with Romano's labels,
and Holm's adjustment across many comparisons. Pure module: SciPy and NumPy, no browser, no proxy.

Why these: sitespeed.io's `--compare` uses the same tests (`wilcoxon` for paired samples,
`mannwhitneyu` otherwise) and Cliff's δ; the walk is paired (the same step of the same run
exists in every arm), so the paired test removes the page-to-page spread that dwarfs an arm's
effect. The CI is the bootstrap percentile interval: it stays defined with ties and few pairs,
where BCa's jackknife degenerates. The bootstrap is seeded, so a re-analysis gives the same CI.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as scipy_stats

CONFIDENCE = 0.95
ALPHA = 0.05
RESAMPLES = 9999
SEED = 20240518  # fixed: the same numbers give the same CI in every analysis
# Romano et al. (2006): |δ| < 0.147 negligible, < 0.33 small, < 0.474 medium, else large. Chosen
# over sitespeed.io's 0.3/0.5 because it has a "negligible" band, which an A/A arm should land in.
ROMANO = ((0.147, "negligible"), (0.33, "small"), (0.474, "medium"))
MIN_PAIRS = 2  # below this, no test and no interval: "insufficient-data"


def cliffs_delta(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """P(x > y) − P(x < y) over all (x, y): negative when xs tend to be smaller (faster)."""
    if not len(xs) or not len(ys):
        return None
    x, y = np.asarray(xs, dtype=float)[:, None], np.asarray(ys, dtype=float)[None, :]
    return float((np.sum(x > y) - np.sum(x < y)) / (x.size * y.size))


def effect_label(delta: float | None) -> str | None:
    if delta is None:
        return None
    return next((label for limit, label in ROMANO if abs(delta) < limit), "large")


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input's order (None stays None, not counted)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running, m = 0.0, len(present)
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def _bootstrap(samples: tuple, statistic, paired: bool) -> tuple[float, float] | None:
    # `rng` since SciPy 1.15, `random_state` before: same seeded generator either way.
    seed_kw = "rng" if "rng" in inspect.signature(scipy_stats.bootstrap).parameters else "random_state"
    result = scipy_stats.bootstrap(samples, statistic, n_resamples=RESAMPLES, confidence_level=CONFIDENCE,
                                   method="percentile", vectorized=True, paired=paired,
                                   **{seed_kw: np.random.default_rng(SEED)})
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def median_ci(diffs: Sequence[float]) -> tuple[float, float] | None:
    """The 95 % bootstrap percentile CI of the median of `diffs` (a constant sample: itself)."""
    if len(diffs) < MIN_PAIRS:
        return None
    if len(set(diffs)) == 1:
        return (float(diffs[0]), float(diffs[0]))
    return _bootstrap((np.asarray(diffs, dtype=float),), lambda d, axis: np.median(d, axis=axis), paired=False)


def wilcoxon_p(diffs: Sequence[float]) -> float | None:
    """Two-sided Wilcoxon signed-rank p of the differences (zeros dropped, SciPy's default);
    1.0 when every difference is zero (nothing to rank)."""
    if len(diffs) < MIN_PAIRS:
        return None
    if not any(diffs):
        return 1.0
    return float(scipy_stats.wilcoxon(diffs).pvalue)


def paired_comparison(arm: Sequence[float], control: Sequence[float]) -> dict:
    """Paired samples (arm[i] and control[i] are the same step of the same run) → n_pairs,
    median_diff_ms, ci95_ms, p_value, cliffs_delta, effect. The verdict waits for Holm (`verdict`)."""
    diffs = [a - c for a, c in zip(arm, control)]
    ci = median_ci(diffs)
    delta = cliffs_delta(arm, control) if len(diffs) >= MIN_PAIRS else None
    p = wilcoxon_p(diffs)
    return {
        "n_pairs": len(diffs),
        "median_diff_ms": round(float(np.median(diffs)), 1) if diffs else None,
        "ci95_ms": [round(ci[0], 1), round(ci[1], 1)] if ci else None,
        "p_value": _round_p(p),
        "_p": p,  # unrounded, for Holm (json_clean drops "_" keys)
        "cliffs_delta": None if delta is None else round(delta, 4),
        "effect": effect_label(delta),
    }


def unpaired_comparison(new: Sequence[float], old: Sequence[float]) -> dict:
    """Independent samples (an arm of this audit against the same arm of a baseline audit):
    n_new, n_old, median_diff_ms (new − old), its bootstrap CI, Mann-Whitney U p, Cliff's δ."""
    enough = len(new) >= MIN_PAIRS and len(old) >= MIN_PAIRS
    ci, p = None, None
    if enough:
        ci = _bootstrap((np.asarray(new, float), np.asarray(old, float)),
                        lambda x, y, axis: np.median(x, axis=axis) - np.median(y, axis=axis), paired=False)
        p = 1.0 if len(set(new) | set(old)) == 1 else float(scipy_stats.mannwhitneyu(new, old).pvalue)
    delta = cliffs_delta(new, old) if enough else None
    return {
        "n_new": len(new), "n_old": len(old),
        "median_diff_ms": round(float(np.median(new) - np.median(old)), 1) if new and old else None,
        "ci95_ms": [round(ci[0], 1), round(ci[1], 1)] if ci else None,
        "p_value": _round_p(p),
        "cliffs_delta": None if delta is None else round(delta, 4),
        "effect": effect_label(delta),
        "verdict": verdict({"ci95_ms": ci}, p),
    }


def verdict(comparison: dict, p_adjusted: float | None) -> str:
    """`insufficient-data` (fewer than 2 values, no test); `no-difference` when the adjusted p is
    ≥ 0.05 or the CI contains 0; else `faster` (the CI below 0) or `slower`."""
    ci = comparison.get("ci95_ms")
    if p_adjusted is None or ci is None:
        return "insufficient-data"
    if p_adjusted >= ALPHA or ci[0] <= 0 <= ci[1]:
        return "no-difference"
    return "faster" if ci[1] < 0 else "slower"


def _round_p(p: float | None) -> float | None:
    return None if p is None or not math.isfinite(p) else float(f"{p:.4g}")
