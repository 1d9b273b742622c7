"""The plain series the report's charts are drawn from (charts.py turns them into Plotly
figures): a metric page by page per arm, what became of each arm's prefetches, and why
navigations were not prefetched. The per-page waterfalls are waterfall.py's. Pure module.
"""

from __future__ import annotations

from collections import Counter

from prefetch_lab.formatting import fmt_ms
from prefetch_lab.report.arms import after_landing, arm_label, experiment_arms
from prefetch_lab.report.cells import BECAUSE, short_url

OUTCOMES = ("used", "served, not used", "forwarded to the origin", "refused", "not sent by Chromium")


def page_label(step: int, url: str | None, site: str | None) -> str:
    return f"{step} {short_url(url, site)}"


def per_page_series(audit: dict, metric: str) -> dict:
    """Each arm's values of one metric, page by page (steps ≥ 1), one value per run."""
    site = audit.get("url")
    walk = {w["step"]: w.get("url") for w in audit.get("walk") or []}
    arms = []
    for arm in audit.get("summary") or {}:
        navs = sorted(after_landing(audit, arm), key=lambda n: (n["step"], n["run"]))
        arms.append({"arm": arm, "label": arm_label(arm),
                     "pages": [page_label(n["step"], walk.get(n["step"], n.get("url")), site) for n in navs],
                     "runs": [n["run"] + 1 for n in navs],
                     "values": [n.get(metric) for n in navs],
                     "texts": [fmt_ms(n.get(metric)) for n in navs]})
    runs = max((len(set(a["runs"])) for a in arms), default=0)
    return {"metric": metric, "arms": [a for a in arms if a["values"]], "runs": runs}


def outcome(prefetch: dict) -> str:
    if prefetch.get("used"):
        return "used"
    edge = prefetch.get("edge")
    if edge in ("hit", "stale"):
        return "served, not used"
    if edge == "forwarded":
        return "forwarded to the origin"
    if edge == "refused":
        return f"refused: {prefetch.get('edge_reason') or '?'}"
    return "not sent by Chromium"


def outcome_series(audit: dict) -> dict:
    """Per experiment arm: prefetches by what became of them, refusals split by the edge's reason."""
    arms = experiment_arms(audit)
    counts = {a: Counter() for a in arms}
    for p in audit.get("prefetches") or []:
        if p.get("arm") in counts:
            counts[p["arm"]][outcome(p)] += 1
    seen = {o for c in counts.values() for o in c}
    present = sorted(seen, key=lambda o: (OUTCOMES.index(o.split(":")[0]), o))
    return {"arms": [arm_label(a) for a in arms],
            "outcomes": [{"name": o, "counts": [counts[a][o] for a in arms]} for o in present]}


def reason_series(audit: dict) -> dict:
    """Per experiment arm: navigations after the first that were not prefetched, by reason."""
    arms = experiment_arms(audit)
    counts: dict[str, Counter] = {a: Counter() for a in arms}
    for arm in arms:
        for n in after_landing(audit, arm):
            if not n.get("prefetched"):
                counts[arm][n.get("not_prefetched_reason") or "unknown"] += 1
    reasons = sorted({r for c in counts.values() for r in c}, key=lambda r: -sum(c[r] for c in counts.values()))
    return {"reasons": reasons, "labels": [BECAUSE.get(r, r) for r in reasons],
            "arms": [{"arm": a, "label": arm_label(a), "counts": [counts[a][r] for r in reasons]}
                     for a in arms if sum(counts[a].values())]}
