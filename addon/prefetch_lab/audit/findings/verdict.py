"""Is an arm's difference from the control real? (audit.json's `summary.<arm>.vs_control` and
`vs_control_pages`.) The walk is paired: step k of run r exists in every arm, so each
experiment arm is compared with the control over the pairs (step ≥ 1, run) where both measured
the metric (TTFB, FCP, LCP, and the Speed Index when the navigations have filmstrips). Every
p-value of the audit (arms × metrics) is Holm-adjusted together before the verdict, so adding
arms does not add false "faster"s. Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.paired_stats import holm, median_ci, paired_comparison, verdict
from prefetch_lab.stats import median

METRICS = ("ttfb_ms", "fcp_ms", "lcp_ms", "speed_index_ms")
# Metrics a navigation keeps in a sub-object (speed_index_ms: from its filmstrip, `visual`).
NESTED = {"speed_index_ms": "visual"}
FEW_PAIRS = 20  # sitespeed.io: "You should use 20+ iterations"; below it the terminal and report warn


def value(nav: dict, metric: str) -> float | None:
    holder = (nav.get(NESTED[metric]) or {}) if metric in NESTED else nav
    return holder.get(metric)


def pairs(navigations: list[dict], arm: str, control_arm: str, metric: str) -> list[tuple[dict, float, float]]:
    """(the arm's navigation, its value, the control's value) for each (run, step ≥ 1) both measured."""
    control = {(n["run"], n["step"]): value(n, metric) for n in navigations
               if n["arm"] == control_arm and n["step"] >= 1 and value(n, metric) is not None}
    return [(n, value(n, metric), control[(n["run"], n["step"])]) for n in navigations
            if n["arm"] == arm and n["step"] >= 1 and value(n, metric) is not None and (n["run"], n["step"]) in control]


def compare_arms(navigations: list[dict], arms: list[str], control_arm: str) -> dict[str, dict[str, dict]]:
    """{arm: {metric: comparison with p_holm and verdict}} for every arm but the control."""
    if control_arm not in arms:
        return {}
    results = {}
    for arm in arms:
        if arm == control_arm:
            continue
        results[arm] = {}
        for metric in METRICS:
            matched = pairs(navigations, arm, control_arm, metric)
            if metric in NESTED and not matched:  # no filmstrips: left out, not "0 pairs"
                continue
            results[arm][metric] = paired_comparison([a for _, a, _ in matched], [c for _, _, c in matched])
    comparisons = [c for by_metric in results.values() for c in by_metric.values()]
    for comparison, adjusted in zip(comparisons, holm([c["_p"] for c in comparisons])):
        comparison["p_holm"] = None if adjusted is None else float(f"{adjusted:.4g}")
        comparison["verdict"] = verdict(comparison, adjusted)
    return results


def compare_pages(navigations: list[dict], arm: str, control_arm: str) -> list[dict]:
    """Per step ≥ 1: the walk's URL and, per metric, n_pairs (one per run), the median paired
    difference and its bootstrap CI. No test per page: with a handful of runs it would say nothing."""
    by_step: dict[int, dict] = {}
    for metric in METRICS:
        for nav, a, c in pairs(navigations, arm, control_arm, metric):
            page = by_step.setdefault(nav["step"], {"step": nav["step"], "url": nav.get("walk_url") or nav["url"], "_diffs": {}})
            page["_diffs"].setdefault(metric, []).append(a - c)
    pages = []
    for step in sorted(by_step):
        page = by_step[step]
        for metric in METRICS:
            diffs = page["_diffs"].get(metric, [])
            if metric in NESTED and not diffs:
                continue
            ci = median_ci(diffs)
            page[metric] = {"n_pairs": len(diffs),
                            "median_diff_ms": round(median(diffs), 1) if diffs else None,
                            "ci95_ms": [round(ci[0], 1), round(ci[1], 1)] if ci else None}
        pages.append(page)
    return pages


def add_verdicts(summary: dict[str, dict], navigations: list[dict], control_arm: str) -> None:
    """Adds `vs_control` and `vs_control_pages` to every experiment arm's summary."""
    for arm, by_metric in compare_arms(navigations, list(summary), control_arm).items():
        summary[arm]["vs_control"] = by_metric
        summary[arm]["vs_control_pages"] = compare_pages(navigations, arm, control_arm)
