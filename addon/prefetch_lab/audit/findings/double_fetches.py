"""Double fetches (audit.json's `double_fetches`): a URL prefetched successfully, then fetched from
the network again (a page or a subresource), with the likeliest reason the data shows: Chromium's
own status, a response that was not kept, the service worker's lifetime, a Vary header; and a URL
prefetched by two sources, the site's own prefetcher and ours (`kind: prefetch`, reason
`two-sources`): prefetchers fighting, each fetching what the other already had. Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.gathered_run import Run
from prefetch_lab.audit.computed.prefetch_use import PAGE_MECHANISMS, latest_before, page_resources
from prefetch_lab.audit.findings import advice
from prefetch_lab.stats import number

SW_DEFAULT_TTL_S = 120  # the service worker's default when x-sw-cache-control is absent (Edgio's)
# Resource Timing deliveryTypes that did not touch the network.
LOCAL_DELIVERY = ("cache", "cache-storage", "navigational-prefetch")
# Where a navigation did not go to the network (so it cannot be a double fetch).
LOCAL_SERVED_FROM = ("prefetch", "prerender", "service-worker", "http-cache")


def double_fetches(run: Run) -> list[dict]:
    """Rows for the run's double fetches; a page's also goes on its navigation (`_double_fetch`),
    where the not-prefetched finding reads it. Needs prefetch_use's credit_use and mark_earlier_use."""
    return page_double_fetches(run) + resource_double_fetches(run) + source_double_fetches(run)


def page_double_fetches(run: Run) -> list[dict]:
    found = []
    for nav in run.navigations:
        if nav["served_from"] in LOCAL_SERVED_FROM:
            continue
        prior = latest_before(run.prefetches, nav["_keys"], nav["_start"], PAGE_MECHANISMS, True)
        used_at = prior.get("_used_before") if prior else None
        if prior is None or (used_at is not None and used_at < (nav["_start"] or 0)):
            continue
        reason, detail = double_fetch_reason(prior, nav["_start"], nav["_vary"])
        nav["_double_fetch"] = (reason, detail)
        found.append(double_fetch_row(run, nav, nav["url"], "page", prior, reason, detail))
    return found


def resource_double_fetches(run: Run) -> list[dict]:
    found = []
    for nav, entry, fetched_at in page_resources(run):
        if (number(entry.get("transferSize")) or 0) <= 0 or str(entry.get("deliveryType") or "") in LOCAL_DELIVERY:
            continue
        url = run.key(entry.get("name"))
        prior = latest_before(run.prefetches, {url}, fetched_at, ("deep-fetch", "edgio", "site"), True)
        if prior is not None:
            reason, detail = double_fetch_reason(prior, fetched_at, None)
            found.append(double_fetch_row(run, nav, url, "resource", prior, reason, detail))
    return found


def double_fetch_reason(prefetch: dict, fetched_at: float | None, vary: str | None) -> tuple[str, str]:
    """Why a prefetched URL went to the network again, as far as the data can tell."""
    status = prefetch.get("browser_status")
    if status and status not in ("PrefetchResponseUsed", "PrefetchSuccessfulButNotUsed", "PrefetchAllowed"):
        return status, advice.browser_status_meaning(status)
    if prefetch.get("status") != 200:
        return "not-stored", f"the prefetch was answered {prefetch.get('status')}; only 200s are kept for reuse"
    age = fetched_at - prefetch["ts"] if fetched_at is not None else None
    if prefetch["mechanism"] in ("edgio", "deep-fetch") and age is not None and age > SW_DEFAULT_TTL_S:
        return "expired", f"fetched {age:.0f} s after the prefetch, past the service worker's {SW_DEFAULT_TTL_S} s default lifetime"
    names = vary_names(vary)
    if names:
        return "vary", f"the response varies on {', '.join(names)}, so the prefetched copy may not match"
    return "unknown", "prefetched successfully, then fetched from the network again for a reason the data does not show"


def vary_names(vary: str | None) -> list[str]:
    names = [n.strip().lower() for n in (vary or "").split(",") if n.strip()]
    return [n for n in names if n not in ("accept-encoding", "sec-purpose")]


def double_fetch_row(run: Run, nav: dict, url: str, kind: str, prior: dict, reason: str, detail: str) -> dict:
    return {"arm": run.arm, "run": run.index, "step": nav["step"], "url": url, "kind": kind,
            "reason": reason, "detail": detail, "prefetch_mechanism": prior["mechanism"],
            "prefetch_step": prior["step"], "prefetch_bytes": prior.get("bytes")}


def source_double_fetches(run: Run) -> list[dict]:
    """Each prefetch of a URL that another source (the site's own or ours) had already asked the
    edge for in this run: the second source fetched it again."""
    found = []
    first_by_url: dict[str, dict] = {}
    for prefetch in sorted((p for p in run.prefetches if p["edge"] != "none" and p["ts"] is not None),
                           key=lambda p: p["ts"]):
        first = first_by_url.setdefault(prefetch["url"], prefetch)
        if first is prefetch or is_site(first) == is_site(prefetch):
            continue
        detail = (f"prefetched by {first['mechanism']} (edge: {first['edge']}), then again by "
                  f"{prefetch['mechanism']} (edge: {prefetch['edge']})")
        found.append({"arm": run.arm, "run": run.index, "step": prefetch["step"], "url": prefetch["url"],
                      "kind": "prefetch", "reason": "two-sources", "detail": detail,
                      "prefetch_mechanism": first["mechanism"], "prefetch_step": first["step"],
                      "prefetch_bytes": first.get("bytes"), "second_mechanism": prefetch["mechanism"]})
    return found


def is_site(prefetch: dict) -> bool:
    return prefetch["mechanism"] == "site"
