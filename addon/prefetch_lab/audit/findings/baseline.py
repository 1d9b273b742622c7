"""`--baseline OLD/audit.json`: this audit's arms against the same arms of an earlier audit
(audit.json's `baseline`). Two audits are not paired (other runs, maybe another walk), so the
comparison is unpaired: each arm's navigations after the landing page, all runs pooled, this
audit's against the baseline's, by Mann-Whitney U and a bootstrap CI of the difference of
medians; p-values Holm-adjusted across arms × metrics as for `vs_control`. Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.paired_stats import holm, unpaired_comparison, verdict

METRICS = ("ttfb_ms", "fcp_ms", "lcp_ms")
SCHEMA = "prefetch-lab-audit/1"


def values(navigations: list[dict], arm: str, metric: str) -> list[float]:
    return [n[metric] for n in navigations if n.get("arm") == arm and (n.get("step") or 0) >= 1 and n.get(metric) is not None]


def compare_with_baseline(navigations: list[dict], arms: list[str], baseline: dict, source: str) -> dict:
    """{"source", "url", "walk_same", "arms": {arm: {metric: comparison}}} for the arms in both."""
    if baseline.get("schema") != SCHEMA:
        raise ValueError(f"{source}: not a {SCHEMA} file (schema {baseline.get('schema')!r})")
    old = baseline.get("navigations") or []
    shared = [arm for arm in arms if arm in (baseline.get("summary") or {})]
    results = {arm: {metric: unpaired_comparison(values(navigations, arm, metric), values(old, arm, metric))
                     for metric in METRICS} for arm in shared}
    comparisons = [c for by_metric in results.values() for c in by_metric.values()]
    for comparison, adjusted in zip(comparisons, holm([c["p_value"] for c in comparisons])):
        comparison["p_holm"] = None if adjusted is None else float(f"{adjusted:.4g}")
        comparison["verdict"] = verdict(comparison, adjusted)
    return {"source": source, "url": baseline.get("url"), "arms": results,
            "missing_arms": [arm for arm in arms if arm not in shared]}
