"""The summary per arm (audit.json's `summary`): the document navigations after the landing page
of all runs pooled, their timing percentiles and ratios to the control, the soft navigations'
count and their own p50s beside them, and the prefetch figures
(accuracy, coverage, refusals, origin requests, wasted bytes, double fetches, contention,
prerenders). Percentiles are `stats.percentile`'s. Pure module.
"""

from __future__ import annotations

from collections import Counter

from prefetch_lab.audit.computed.gathered_run import Run
from prefetch_lab.audit.computed.navigations import BREAKDOWN_PARTS, ROUTE_PARTS
from prefetch_lab.audit.computed.prefetches import prerender_attempts
from prefetch_lab.stats import ms, percentile, ratio

# Chromium's prerender statuses (CDP Preload.PreloadingStatus) that mean it ran the prerender.
STARTED_STATUSES = ("Running", "Ready", "Success")


def arm_order(runs: list[Run], control_arm: str) -> list[str]:
    """The arms in the order they were first measured, the control first."""
    arms = list(dict.fromkeys(run.arm for run in runs))
    return sorted(arms, key=lambda arm: arm != control_arm)


def summarize(runs: list[Run], doubles: list[dict], control_arm: str) -> dict[str, dict]:
    summary = {arm: summarize_arm([r for r in runs if r.arm == arm], [d for d in doubles if d["arm"] == arm])
               for arm in arm_order(runs, control_arm)}
    control = summary.get(control_arm)
    for values in summary.values():
        for metric in ("lcp", "ttfb", "fcp"):
            values[f"{metric}_ratio"] = ratio(values[f"{metric}_ms_p50"], control[f"{metric}_ms_p50"]) if control else None
        values["lcp_p75_ratio"] = ratio(values["lcp_ms_p75"], control["lcp_ms_p75"]) if control else None
        values["speed_index_ratio"] = ratio(values["speed_index_ms_p50"], control["speed_index_ms_p50"]) if control else None
        values["soft_largest_paint_ratio"] = ratio(values["soft_navigations_p50"]["largest_paint_ms"],
                                                   control["soft_navigations_p50"]["largest_paint_ms"]) if control else None
    return summary


def summarize_arm(runs: list[Run], doubles: list[dict]) -> dict:
    navs = [n for run in runs for n in run.navigations if n["step"] >= 1]  # documents only
    soft = [n for run in runs for n in run.soft_navigations]
    prefetches = [p for run in runs for p in run.prefetches]
    used = sum(1 for p in prefetches if p["used"])
    refused = Counter(p["edge_reason"] or "?" for p in prefetches if p["edge"] == "refused")
    origin = [r for run in runs for r in run.origin_records()]
    return {
        "runs": len({run.index for run in runs}),
        "navigations": len(navs),
        "failed_steps": sum(1 for run in runs for s in run.steps[1:] if s.get("error") or not isinstance(s.get("page"), dict)),
        **timing_percentiles(navs),
        **paint_percentiles(navs),
        "soft_navigations": len(soft),
        "soft_navigations_p50": soft_percentiles(soft),
        "prefetches": len(prefetches),
        "prefetches_by_mechanism": dict(Counter(p["mechanism"] for p in prefetches).most_common()),
        "prefetches_by_kind": dict(Counter(p["kind"] for p in prefetches).most_common()),
        "used": used,
        "accuracy": ratio(used, len(prefetches)),
        "prefetched_navigations": sum(1 for n in navs if n["prefetched"]),
        "coverage": ratio(sum(1 for n in navs if n["prefetched"]), len(navs)),
        "served_from": dict(Counter(n["served_from"] for n in navs).most_common()),
        "refused": sum(refused.values()),
        "refused_by_reason": dict(refused.most_common()),
        "origin_requests": len(origin),
        "origin_requests_for_prefetches": sum(1 for r in origin if r.get("prefetch")),
        "wasted_bytes": sum(int(p["bytes"] or 0) for p in prefetches if not p["used"]),
        "double_fetches": len(doubles),
        "double_fetches_by_reason": dict(Counter(d["reason"] for d in doubles).most_common()),
        "contention": contention_stats(navs),
        "prerenders": prerender_counts(runs, navs),
    }


def p50(values) -> float | None:
    """The median of the values that are not None, in ms (None without any)."""
    return ms(percentile([v for v in values if v is not None], 50))


def timing_percentiles(navs: list[dict]) -> dict[str, float | None]:
    def p(metric: str, q: int) -> float | None:
        return ms(percentile([n[metric] for n in navs if n[metric] is not None], q))

    return {
        "ttfb_ms_p50": p("ttfb_ms", 50),
        "fcp_ms_p50": p("fcp_ms", 50),
        "lcp_ms_p50": p("lcp_ms", 50),
        "lcp_ms_p75": p("lcp_ms", 75),
        "load_ms_p50": p("load_ms", 50),
    }


SOFT_METRICS = ("url_change_ms", "first_paint_ms", "largest_paint_ms")


def soft_percentiles(soft: list[dict]) -> dict[str, float | None]:
    """The soft navigations' own p50s (page_scripts.py's method; never pooled with documents'):
    from the press's release to the URL change, the first paint and the new view's largest paint,
    the Speed Index of their filmstrips, and the count per method ("chromium", "own")."""
    figures = {m: p50(n["soft"].get(m) for n in soft) for m in SOFT_METRICS}
    figures["speed_index_ms"] = p50((n.get("visual") or {}).get("speed_index_ms") for n in soft)
    figures["by_method"] = dict(Counter(n["soft"].get("method") or "?" for n in soft).most_common())
    figures["route_requests"] = {part: sum((n["soft"].get("route_requests") or {}).get(part) or 0 for n in soft)
                                 for part in ROUTE_PARTS}
    return figures


VISUAL_METRICS = ("first_visual_change_ms", "speed_index_ms", "visually_complete_85_ms", "visually_complete_ms")


def paint_percentiles(navs: list[dict]) -> dict:
    """p50s of the visual metrics (navigations with a filmstrip), of each LCP breakdown part and
    of CLS; `speed_index_ms_p50` also flat, beside the other metrics' p50s."""
    visual = {m: p50((n.get("visual") or {}).get(m) for n in navs) for m in VISUAL_METRICS}
    breakdowns = [n["lcp_breakdown"] for n in navs if n.get("lcp_breakdown")]
    cls = percentile([n.get("cls") for n in navs if n.get("cls") is not None], 50)
    return {
        "speed_index_ms_p50": visual["speed_index_ms"],
        "visual_p50": visual,
        "lcp_breakdown_p50": {part: p50(b.get(part) for b in breakdowns) for part in BREAKDOWN_PARTS} if breakdowns else None,
        "cls_p50": None if cls is None else round(cls, 4),
    }


def contention_stats(navs: list[dict]) -> dict[str, float | None]:
    values = [n["contention"] for n in navs if n["contention"] is not None]
    return {
        "mean": round(sum(values) / len(values), 2) if values else None,
        "max": max(values) if values else None,
    }


def prerender_counts(runs: list[Run], navs: list[dict]) -> dict:
    """offered: URLs the learned rules documents served in the measure window put in a prerender
    band (a page's document is offered again only when the browser fetches it again: it may reuse
    it for up to its max-age); started: prerenders Chromium ran (CDP status Running, Ready or
    Success); activated: navigations the walk made into a prerendered page; failed_by_reason:
    Chromium's final prerenderStatus for the prerenders that failed."""
    offered = sum(len(r.get("prerender") or []) for run in runs for r in run.trail if r.get("event") == "learned-rules")
    started, failed = 0, Counter()
    for run in runs:
        for events in prerender_attempts(run).values():
            statuses = [e.get("status") for e in events]
            started += any(status in STARTED_STATUSES for status in statuses)
            if statuses and statuses[-1] == "Failure":
                failed[next((e.get("prerenderStatus") for e in reversed(events) if e.get("prerenderStatus")), "?")] += 1
    return {"offered": offered, "started": started, "activated": sum(1 for n in navs if n["served_from"] == "prerender"),
            "failed_by_reason": dict(failed.most_common())}
