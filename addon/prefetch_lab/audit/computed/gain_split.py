"""Where each arm's LCP difference from the control comes from (audit.json's
`summary.<arm>.gain_split`). Paired as the verdicts are: step k of run r in the arm against the
same step of the same run in the control, steps ≥ 1, both with an LCP. Each pair's difference
splits into three parts that add up to it:
- document: the difference of TTFB (the document's delivery: a prefetch or prerender removes it);
- subresources: the difference of the wait for render-blocking subresources after the first byte
  (the last one's responseEnd − TTFB, sources.py);
- other: the rest (parsing, script, layout, paint, the LCP image's own load).
Each part is credited to where the arm's page got the thing it waited for (`sources`): the
document's source for the document part, the render-blocking subresources' main source for the
subresource part. Per arm: the parts' medians, their means (which add up to the mean difference),
and the mean per source (`document_by_source`, `subresources_by_source`: sum over pairs / pairs,
so they add up to the part's mean). Pure module.
"""

from __future__ import annotations

from collections import defaultdict

from prefetch_lab.audit.computed.sources import main_source, subresource_wait_ms
from prefetch_lab.stats import median, ms

PARTS = ("lcp_diff_ms", "document_ms", "subresources_ms", "other_ms")


def pair_parts(arm_nav: dict, control_nav: dict) -> dict:
    """One pair's split, and the sources it is credited to."""
    total = arm_nav["lcp_ms"] - control_nav["lcp_ms"]
    document = (arm_nav.get("ttfb_ms") or 0.0) - (control_nav.get("ttfb_ms") or 0.0)
    subresources = subresource_wait_ms(arm_nav) - subresource_wait_ms(control_nav)
    return {
        "lcp_diff_ms": total, "document_ms": document, "subresources_ms": subresources,
        "other_ms": total - document - subresources,
        "document_source": (arm_nav.get("sources") or {}).get("document") or "unknown",
        "subresources_source": main_source(arm_nav.get("sources")) or "none",
    }


def split_pairs(navigations: list[dict], arm: str, control_arm: str) -> list[dict]:
    control = {(n["run"], n["step"]): n for n in navigations
               if n["arm"] == control_arm and n["step"] >= 1 and n.get("lcp_ms") is not None}
    return [pair_parts(n, control[(n["run"], n["step"])]) for n in navigations
            if n["arm"] == arm and n["step"] >= 1 and n.get("lcp_ms") is not None and (n["run"], n["step"]) in control]


def summarize_split(pairs: list[dict]) -> dict | None:
    if not pairs:
        return None
    n = len(pairs)
    result: dict = {"n_pairs": n}
    for part in PARTS:
        values = [p[part] for p in pairs]
        result[part] = {"p50": ms(median(values)), "mean": ms(sum(values) / n)}
    for part, key in (("document_ms", "document_source"), ("subresources_ms", "subresources_source")):
        by_source: dict[str, float] = defaultdict(float)
        for p in pairs:
            by_source[p[key]] += p[part] / n
        result[f"{part.removesuffix('_ms')}_by_source"] = {
            source: ms(value) for source, value in sorted(by_source.items(), key=lambda kv: kv[1])}
    return result


def add_gain_splits(summary: dict[str, dict], navigations: list[dict], control_arm: str) -> None:
    """Adds `gain_split` to every experiment arm's summary (None without a paired LCP)."""
    if control_arm not in summary:
        return
    for arm, values in summary.items():
        if arm != control_arm:
            values["gain_split"] = summarize_split(split_pairs(navigations, arm, control_arm))
