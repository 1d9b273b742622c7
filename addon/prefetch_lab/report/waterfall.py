"""The per-page waterfalls of an audit, from its raw runs (raw/runs.json): for each (run, step)
of the walk, that page in every arm, the document and every Resource Timing entry as bars, the
prefetches the edge saw from that page as points, the paint and load lines. Times are ms since
the page's navigation start. Pure module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from prefetch_lab.formatting import fmt_bytes, fmt_ms
from prefetch_lab.report.arms import arm_label
from prefetch_lab.report.cells import short_url
from prefetch_lab.stats import number
from prefetch_lab.url_keys import normalize_url, origin_aliases


def waterfall_series(audit: dict, runs: list[dict] | None) -> list[dict]:
    """One entry per (run, step) of the walk: that page's waterfall in every arm, the control first."""
    if not runs:
        return []
    order = list(audit.get("summary") or {})
    by_key: dict[tuple[int, int], list[dict]] = defaultdict(list)
    prefetches = defaultdict(list)
    for p in audit.get("prefetches") or []:
        prefetches[(p.get("arm"), p.get("run"), p.get("step"))].append(p)
    for run_data in sorted(runs, key=lambda r: (order.index(r["arm"]) if r.get("arm") in order else len(order))):
        for step in run_data.get("steps") or []:
            number_ = step.get("step")
            drawn = waterfall(audit, run_data, step, prefetches[(run_data.get("arm"), run_data.get("run"), number_)])
            if drawn:
                by_key[(run_data.get("run") or 0, number_)].append(drawn)
    walk = {w["step"]: w.get("url") for w in audit.get("walk") or []}
    return [{"key": f"run{run}-step{step}", "run": run, "step": step,
             "title": f"run {run + 1} · step {step} · {short_url(walk.get(step), audit.get('url'))}", "arms": arms}
            for (run, step), arms in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1]))]


def default_waterfall(waterfalls: list[dict]) -> str | None:
    """The first page after the landing page: the first one a prefetch can have served."""
    later = [w for w in waterfalls if w["step"] >= 1]
    return (later or waterfalls or [{"key": None}])[0]["key"]


def waterfall(audit: dict, run_data: dict, step: dict, prefetches: list[dict]) -> dict | None:
    """One page of one (arm, run); None when the browser measured no page at this step."""
    page = step.get("page") if isinstance(step.get("page"), dict) else None
    origin = number(page.get("time_origin")) if page else None
    if page is None or origin is None:
        return None
    site = audit.get("url")
    # In reverse mode the browser's URLs carry the proxy's address: show the site's own.
    aliases = origin_aliases(run_data.get("proxy_address"), run_data.get("steps") or [])

    def name(url: str | None) -> str:
        return short_url(normalize_url(url, aliases), site)

    nav = page.get("nav") or {}
    return {"arm": run_data.get("arm"), "label": arm_label(str(run_data.get("arm"))),
            "bars": [document_bar(page, name), *resource_bars(page, name)],
            "points": prefetch_points(prefetches, origin, site), "lines": paint_lines(page),
            "activation": number(nav.get("activationStart")) or 0.0}


def document_bar(page: dict, name: Callable[[str | None], str]) -> dict:
    nav = page.get("nav") or {}
    return {"label": "document " + name(page.get("url")),
            "kind": "document (" + (nav.get("deliveryType") or "network") + ")",
            "start": number(nav.get("startTime")) or 0.0,
            "end": number(nav.get("responseEnd")) or number(nav.get("responseStart")) or 0.0,
            "detail": f"TTFB {fmt_ms(number(nav.get('responseStart')))} · {nav.get('deliveryType') or 'network'}"}


def resource_bars(page: dict, name: Callable[[str | None], str]) -> list[dict]:
    bars = []
    for entry in sorted((e for e in page.get("resources") or [] if isinstance(e, dict)),
                        key=lambda e: number(e.get("startTime")) or 0):
        start, end = number(entry.get("startTime")) or 0.0, number(entry.get("responseEnd")) or 0.0
        delivery = entry.get("deliveryType") or "network"
        bars.append({"label": name(entry.get("name")), "kind": request_kind(entry), "start": start,
                     "end": max(end, start),
                     "detail": f"{entry.get('initiatorType') or '?'} · {delivery} · {fmt_bytes(number(entry.get('transferSize')))} "
                               f"· {fmt_ms(max(end, start) - start)}"})
    return bars


def request_kind(entry: dict) -> str:
    if entry.get("renderBlockingStatus") == "blocking":
        return "render-blocking"
    if "/__edgio__/" in str(entry.get("name") or ""):
        return "Prefetch Lab's own files"
    return "other request"


def prefetch_points(prefetches: list[dict], origin: float, site: str | None) -> list[dict]:
    """The prefetches the edge saw from this page, at the time the edge decided."""
    return [{"label": "prefetch " + short_url(p.get("url"), site), "mechanism": p.get("mechanism") or "?",
             "edge": p.get("edge") or "?", "at": p["ts"] * 1000 - origin,
             "detail": f"{p.get('mechanism')} · edge {p.get('edge')}"
                       + (f" ({p['edge_reason']})" if p.get("edge_reason") and p.get("edge_reason") != p.get("edge") else "")
                       + (" · used" if p.get("used") else "")}
            for p in prefetches if number(p.get("ts")) is not None]


def paint_lines(page: dict) -> dict[str, float]:
    nav = page.get("nav") or {}
    return {name: value for name, value in (
        ("FCP", number(page.get("fcp"))), ("LCP", number(page.get("lcp"))),
        ("load", number(nav.get("loadEventEnd")) or None)) if value is not None}
