"""Contention: how many prefetch requests the edge answered while a page's render-critical
requests (up to LCP, FCP and the end of its render-blocking resources) were still in flight.
Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.gathered_run import Run
from prefetch_lab.stats import ms, number


def critical_end_ms(page: dict) -> float | None:
    """When the page's render-critical requests were done: max(LCP, FCP, render-blocking ends)."""
    blocking = [
        number(r.get("responseEnd")) for r in page.get("resources") or []
        if isinstance(r, dict) and r.get("renderBlockingStatus") == "blocking"
    ]
    ends = [v for v in (number(page.get("lcp")), number(page.get("fcp")), *blocking) if v is not None]
    if ends:
        return max(ends)
    nav = page.get("nav") or {}
    return number(nav.get("loadEventEnd")) or number(nav.get("domContentLoadedEventEnd")) or None


def contention(run: Run) -> None:
    """Prefetch requests the edge answered while each page's render-critical requests were in flight."""
    sent = [p["ts"] for p in run.prefetches if p["edge"] != "none" and p["ts"] is not None]
    for nav in run.navigations:
        page = run.page(nav["_index"]) or {}
        end = critical_end_ms(page)
        origin = number(page.get("time_origin"))
        if end is None or origin is None:
            continue
        begin, finish = origin / 1000, (origin + end) / 1000
        nav["contention"] = sum(1 for ts in sent if begin <= ts <= finish)
        nav["contention_window_ms"] = ms(end)
