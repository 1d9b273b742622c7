"""The navigations of a run, one row per walk step the browser measured (audit.json's
`navigations`): where the document came from (a prefetch, a prerender, the service worker, the
HTTP cache, the edge or the origin), the edge's record of it, and the page's timings measured from
its activation. A soft navigation (`kind: "soft"`: the URL changed, no document) has its own
figures instead (build_soft_navigation). Fields starting with "_" are for the joins and are not written. Pure module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefetch_lab.audit.computed.gathered_run import Run, from_http_cache, navigation_start
from prefetch_lab.audit.computed.visual_metrics import filmstrip_visual
from prefetch_lab.stats import integer, ms, number
from prefetch_lab.trail import EDGE_HIT_EVENTS


def build_navigations(run: Run, out_dir: Path | str | None = None) -> list[dict]:
    """`out_dir` is the audit's OUT, where the filmstrips' frames are (None: no visual metrics)."""
    return [n for n in (build_navigation(run, i, out_dir) for i in range(len(run.steps))) if n is not None]


def build_navigation(run: Run, index: int, out_dir: Path | str | None = None) -> dict | None:
    step, page = run.steps[index], run.page(index)
    if page is None:
        return None
    if step.get("kind") == "soft":
        return build_soft_navigation(run, index, out_dir)
    nav = page.get("nav") or {}
    document = step.get("document") or {}
    headers = {str(k).lower(): v for k, v in (document.get("headers") or {}).items()}
    activation = number(nav.get("activationStart")) or 0.0
    delivery = str(nav.get("deliveryType") or "")
    record = document_record(run, index)
    edge_status = headers.get("x-edg-caching-status")
    doc_bytes, total_bytes = transfer_bytes(page)
    # A prerender's activation: the driver saw the tab switch to the prerendered page, or the page
    # says it was activated (activationStart > 0, Navigation Timing).
    activated = step.get("delivery") == "prerender" or activation > 0
    return {
        "arm": run.arm,
        "run": run.index,
        "step": integer(step.get("step"), index),
        "url": run.key(page.get("url") or step.get("url")),
        "walk_url": step.get("url"),
        "trigger": step.get("trigger"),
        "error": step.get("error"),
        **walk_fields(step),
        "kind": "document",
        "delivery_type": delivery,
        "activation_start_ms": ms(activation),
        "was_prerendered": bool(page.get("was_prerendered")),
        "served_from": served_from(delivery, record, edge_status, activated),
        "delivery": step.get("delivery") or delivery_of(delivery, activated),
        "document_status": document.get("status") if isinstance(document.get("status"), int) else None,
        "edge_caching_status": edge_status,
        **timings(page, activation),
        "lcp_missing_reason": lcp_missing_reason(step, page),
        **paint_fields(step, page, out_dir),
        "transfer_bytes": total_bytes,
        "document_transfer_bytes": doc_bytes,
        "prefetched": activated or delivery == "navigational-prefetch",  # service-worker cases: credit_use
        "contention": None,
        "not_prefetched_reason": None,
        "not_prefetched_detail": None,
        "soft": None,
        **join_fields(run, index, record, headers),
    }


def build_soft_navigation(run: Run, index: int, out_dir: Path | str | None = None) -> dict:
    """A press that changed the URL without a new document (page_scripts.py): the same row, with
    every document figure empty (Navigation Timing and LCP describe the document landed on) and
    the soft navigation's own in `soft`, each from the press's release."""
    step, page = run.steps[index], run.page(index) or {}
    soft = page.get("soft_navigation") or {}
    start = number(soft.get("start")) or 0.0
    paint = paint_fields(step, page, out_dir)
    paint.update(lcp_breakdown=None, cls=None,
                 lcp_element={"tag": (soft.get("lcp_element") or "").split("#", 1)[0] or None, "url": soft.get("lcp_url")}
                 if soft.get("lcp_element") or soft.get("lcp_url") else None)
    route = [r for r in page.get("resources") or [] if isinstance(r, dict) and (number(r.get("startTime")) or 0) >= start]
    return {
        "arm": run.arm, "run": run.index, "step": integer(step.get("step"), index),
        "url": run.key(page.get("url") or step.get("url")), "walk_url": step.get("url"),
        "trigger": step.get("trigger"), "error": step.get("error"), **walk_fields(step), "kind": "soft",
        "delivery_type": None, "activation_start_ms": None, "was_prerendered": False,
        "served_from": "no-document", "delivery": "soft", "document_status": None, "edge_caching_status": None,
        **dict.fromkeys(("ttfb_ms", "fcp_ms", "lcp_ms", "dom_content_loaded_ms", "load_ms", "lcp_missing_reason")),
        **paint,
        "transfer_bytes": sum(int(number(r.get("transferSize")) or 0) for r in route), "document_transfer_bytes": 0,
        "prefetched": False, "contention": None, "not_prefetched_reason": None, "not_prefetched_detail": None,
        "soft": {
            "method": soft.get("method"),
            "navigation_type": soft.get("navigation_type"),
            "url_change_ms": since_activation(soft.get("url_change"), start),
            "first_paint_ms": since_activation(soft.get("first_paint"), start),
            "largest_paint_ms": since_activation(soft.get("lcp"), start),
            "route_requests": route_requests(run, index, route),
        },
        **join_fields(run, index, None, {}),
        "_route": route,  # what it fetched after the press (prefetch_use credits the site's prefetches)
    }


ROUTE_PARTS = ("browser", "from_browser_cache", "edge_cache", "origin")


def route_requests(run: Run, index: int, route: list[dict]) -> dict:
    """What a soft navigation fetched after the press (its route's code and data): in the
    browser (Resource Timing: from its cache, the site's own prefetches included, when nothing
    was transferred) and at the edge (the step's window in the trail: served from the edge's
    cache, or by the origin)."""
    answers = run.step_answers(index)
    return {
        "browser": len(route),
        "from_browser_cache": sum(1 for r in route if from_http_cache(r)),
        "edge_cache": sum(1 for r in answers if r.get("event") in EDGE_HIT_EVENTS),
        "origin": sum(1 for r in answers if r.get("event") not in EDGE_HIT_EVENTS),
    }


def walk_fields(step: dict) -> dict[str, Any]:
    """How the walk got there: the press (scrolled clear of what covered the link, or why it was
    typed instead) and the redirects on the way, first first."""
    document = step.get("document") or {}
    press = step.get("press") if isinstance(step.get("press"), dict) else None
    return {
        "press_covered_by": press.get("covered_by") if press else None,
        "press_scrolled": bool(press.get("scrolled")) if press else False,
        "press_problem": step.get("press_problem"),
        "redirects": [r for r in document.get("redirects") or [] if isinstance(r, dict)],
    }


def lcp_missing_reason(step: dict, page: dict) -> str | None:
    """Why a document has no LCP (None when it has one, or the step failed: its error says why).
    The dwell bounds the wait: a page that never gives an LCP is recorded, never waited for."""
    if page.get("lcp") is not None or step.get("error"):
        return None
    if page.get("visibility") == "hidden":
        return "the page was hidden, and Chromium reports no LCP for a hidden page"
    if page.get("fcp") is None:
        return "nothing contentful was painted within the dwell (no FCP): a blank page, or content only in a canvas or frame"
    return "content was painted but Chromium gave no LCP candidate within the dwell (e.g. an image still loading, or a background)"


def timings(page: dict, activation: float) -> dict[str, Any]:
    """The page's timings in ms from its activation (a prerender's work before it counts as 0)."""
    nav = page.get("nav") or {}
    return {
        "ttfb_ms": since_activation(nav.get("responseStart"), activation),
        "fcp_ms": since_activation(page.get("fcp"), activation),
        "lcp_ms": since_activation(page.get("lcp"), activation),
        "dom_content_loaded_ms": since_activation(nav.get("domContentLoadedEventEnd") or None, activation),
        "load_ms": since_activation(number(nav.get("loadEventEnd")) or None, activation),
    }


BREAKDOWN_PARTS = ("ttfb_ms", "load_delay_ms", "load_time_ms", "render_delay_ms")


def paint_fields(step: dict, page: dict, out_dir: Path | str | None) -> dict[str, Any]:
    """What the page showed and when (issue 19): its filmstrip and visual metrics, the LCP
    breakdown and element (web-vitals' attribution, as the driver measured it), CLS."""
    strip = [{"t_ms": ms(number(f.get("t_ms"))), "file": f["file"]} for f in step.get("filmstrip") or []
             if isinstance(f, dict) and number(f.get("t_ms")) is not None and isinstance(f.get("file"), str)]
    return {
        "filmstrip": strip,
        "visual": filmstrip_visual(strip, out_dir) if strip else None,
        "lcp_breakdown": lcp_breakdown(page.get("lcp_attribution")),
        "lcp_element": lcp_element(page),
        "cls": None if number(page.get("cls")) is None else round(number(page.get("cls")), 4),
    }


def lcp_breakdown(attribution: Any) -> dict[str, float | None] | None:
    """The four parts of LCP (web-vitals' attribution), None without an LCP."""
    if not isinstance(attribution, dict) or all(number(attribution.get(p)) is None for p in BREAKDOWN_PARTS):
        return None
    return {part: ms(number(attribution.get(part))) for part in BREAKDOWN_PARTS}


def lcp_element(page: dict) -> dict | None:
    """{"tag", "url"} of the LCP element: from the attribution; else the driver's description
    ("img#hero", or a URL for an image it could not describe) of audits without one."""
    attribution = page.get("lcp_attribution")
    if isinstance(attribution, dict) and (attribution.get("tag") or attribution.get("url")):
        return {"tag": attribution.get("tag"), "url": attribution.get("url")}
    described = page.get("lcp_element")
    if not isinstance(described, str) or not described:
        return None
    if "/" in described:
        return {"tag": None, "url": described}
    return {"tag": described.split("#", 1)[0] or None, "url": None}


def join_fields(run: Run, index: int, record: dict | None, headers: dict) -> dict[str, Any]:
    """What the joins need and audit.json leaves out (the "_" fields)."""
    step, page = run.steps[index], run.page(index) or {}
    return {
        "_index": index,
        "_start": navigation_start(step),
        "_key": run.key(page.get("url") or step.get("url")),
        "_keys": {run.key(page.get("url")), run.key(step.get("url"))} - {""},
        "_record": record,
        "_vary": headers.get("vary"),
    }


def since_activation(raw: Any, activation: float, floor_zero: bool = True) -> float | None:
    value = number(raw)
    if value is None:
        return None
    value -= activation
    return ms(max(0.0, value) if floor_zero else value)


def document_record(run: Run, index: int) -> dict | None:
    """The edge's record of the step's document request, in the step's window."""
    step, page = run.steps[index], run.page(index)
    final, asked = run.key(page.get("url") if page else None), run.key(step.get("url"))
    candidates = [r for r in run.step_answers(index) if r.get("dest") in ("document", None)]
    for wanted in (final, asked):
        for record in candidates:
            if wanted and run.key(record.get("url")) == wanted:
                return record
    return None


def served_from(delivery_type: str, record: dict | None, edge_status: str | None, activated: bool = False) -> str:
    if activated:
        return "prerender"
    if delivery_type == "navigational-prefetch":
        return "prefetch"
    if delivery_type == "cache-storage":
        return "service-worker"
    if delivery_type == "cache":
        return "http-cache"
    if record is not None:
        return "edge" if record.get("event") in EDGE_HIT_EVENTS else "origin"
    if edge_status in ("hit", "stale"):
        return "edge"
    return "origin" if edge_status else "unknown"


def delivery_of(delivery_type: str, activated: bool) -> str:
    """What the driver records per step (cdp_driver's delivery), for runs whose driver did not."""
    if activated:
        return "prerender"
    return {"navigational-prefetch": "prefetch", "cache": "cache", "cache-storage": "service-worker"}.get(delivery_type, "network")


def transfer_bytes(page: dict) -> tuple[int, int]:
    document = int(number((page.get("nav") or {}).get("transferSize")) or 0)
    resources = sum(int(number(r.get("transferSize")) or 0) for r in page.get("resources") or [] if isinstance(r, dict))
    return document, document + resources
