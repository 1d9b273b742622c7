"""What made an arm faster, in words (issue 19): from the arm's `gain_split`, how much of its LCP
difference from the control came from prefetching (the document, or subresources, from a
prefetch or a prerender) and how much from the worker's Cache Storage (Edgio's worker serving
CSS/JS it kept from earlier pages: caching, not prefetching); and, when the control re-downloaded
render-blocking subresources an earlier page of the same run had loaded, the advice that caching
headers on them are the cheaper fix. Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.sources import PREFETCHING
from prefetch_lab.formatting import fmt_signed

SOURCE_WORDS = {
    "prefetch": "prefetching", "prerender": "prerendering",
    "service-worker-cache": "the worker's Cache Storage", "http-cache": "the HTTP cache",
    "edge-hit": "edge cache hits", "network": "the network", "none": "pages without render-blocking subresources",
    "unknown": "unknown sources",
}
WORKER_CACHE = "service-worker-cache"
CHEAP_FIX_SHARE = 0.25  # worker caching carries at least this share of the gain: say caching headers are the cheaper fix


def credited(split: dict) -> tuple[float, float]:
    """(ms from prefetching, ms from worker caching): the means per navigation, negative = faster."""
    document, subresources = split.get("document_by_source") or {}, split.get("subresources_by_source") or {}
    prefetching = sum(document.get(s) or 0 for s in PREFETCHING) + sum(subresources.get(s) or 0 for s in PREFETCHING)
    worker = (document.get(WORKER_CACHE) or 0) + (subresources.get(WORKER_CACHE) or 0)
    return prefetching, worker


def by_source_words(by_source: dict) -> str:
    parts = [f"{SOURCE_WORDS.get(source, source)} {fmt_signed(value)}" for source, value in by_source.items()
             if value and round(value)]
    return f" ({', '.join(parts)})" if parts else ""


def explanation(arm: str, split: dict) -> str:
    """One sentence: the mean difference split into document, subresources and the rest, and
    which part prefetching and which the worker's cache made."""
    def mean(part: str) -> float | None:
        return (split.get(part) or {}).get("mean")

    prefetching, worker = credited(split)
    text = (f"Where {arm}'s LCP difference from the control comes from (mean {fmt_signed(mean('lcp_diff_ms'))} "
            f"per navigation over {split['n_pairs']:,} paired navigations): the document {fmt_signed(mean('document_ms'))}"
            f"{by_source_words(split.get('document_by_source') or {})}, render-blocking subresources "
            f"{fmt_signed(mean('subresources_ms'))}{by_source_words(split.get('subresources_by_source') or {})}, "
            f"the rest (parsing, script, paint) {fmt_signed(mean('other_ms'))}; "
            f"prefetching made {fmt_signed(prefetching)}")
    if round(worker):
        text += f", the worker's Cache Storage {fmt_signed(worker)} (worker caching, not prefetching)"
    return text + "."


def explain_gains(summary: dict[str, dict], control_arm: str) -> None:
    """Sets `gain_split.explanation` on every experiment arm that has a split."""
    for arm, values in summary.items():
        split = values.get("gain_split") if arm != control_arm else None
        if split:
            split["explanation"] = explanation(arm, split)


def refetched_blocking(navigations: list[dict], arm: str) -> list[tuple[tuple[int, int], str]]:
    """((run, step), URL) of each render-blocking subresource `arm`'s pages fetched from the network
    (edge or origin) again after an earlier page of the same run had loaded it: the browser could
    not reuse its copy."""
    seen: dict[int, set[str]] = {}
    again = []
    for nav in sorted((n for n in navigations if n["arm"] == arm), key=lambda n: (n["run"], n["step"])):
        loaded = seen.setdefault(nav["run"], set())
        for entry in (nav.get("sources") or {}).get("render_blocking") or []:
            if entry["url"] in loaded and entry["source"] in ("network", "edge-hit"):
                again.append(((nav["run"], nav["step"]), entry["url"]))
            loaded.add(entry["url"])
    return again


def gain_advice(summary: dict[str, dict], navigations: list[dict], control_arm: str) -> list[dict]:
    """An advice entry (the shape of advice.build_advice's) per arm whose gain came largely from
    the worker's Cache Storage while the control re-downloaded the same render-blocking files."""
    refetched = refetched_blocking(navigations, control_arm)
    if not refetched:
        return []
    arms = []
    for arm, values in summary.items():
        split = values.get("gain_split") if arm != control_arm else None
        total = ((split or {}).get("lcp_diff_ms") or {}).get("mean")
        if not split or not total or total >= 0:
            continue
        _, worker = credited(split)
        if worker < 0 and worker / total >= CHEAP_FIX_SHARE:
            arms.append(arm)
    if not arms:
        return []
    examples = list(dict.fromkeys(url for _, url in refetched))[:3]
    pages = len({page for page, _ in refetched})
    return [{
        "reason": (f"the control's pages re-downloaded render-blocking CSS/JS an earlier page had already loaded "
                   f"({len(refetched):,} downloads): the browser may not cache them, so much of "
                   f"{', '.join(arms)}'s gain is the worker's Cache Storage serving them, not prefetching"),
        "code": "worker-cache-gain", "detail": "no-browser-caching", "count": pages, "arms": arms,
        "example_urls": examples,
        "remedy": ("send caching headers on these files (Cache-Control: max-age=31536000, immutable on versioned "
                   "file names, or at least max-age with validators): every browser then reuses them without a "
                   "service worker, the cheaper fix; the prefetching part of the gain is what the document part shows"),
    }]
