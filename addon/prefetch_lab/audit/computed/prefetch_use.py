"""Which prefetch served which navigation: a navigation Chromium served from a prefetch or a
prerender credits the speculation it used, one the service worker or the HTTP cache served
credits Edgio's prefetch, and so does each subresource the service worker served; a soft
navigation's route resource from the browser's cache credits the site's prefetch of it. A credited
prefetch is `used`; a speculation prefetch is single use, so once a navigation used it, it is
spent. Pure module.
"""

from __future__ import annotations

from collections.abc import Iterator

from prefetch_lab.audit.computed.gathered_run import Run, from_http_cache
from prefetch_lab.audit.computed.prefetches import is_success
from prefetch_lab.stats import number

PAGE_MECHANISMS = ("edgio", "speculation", "site")
# Whom a navigational-prefetch credits, best evidence first: a speculation no earlier navigation
# used (they are single use; one Chromium answered from its HTTP cache never reached the edge,
# `edge: none`), a 2xx one before any other. (mechanisms, successful, unused)
SPECULATION_CREDIT = (
    (("speculation", "site"), True, True), (("speculation", "site"), False, True),
    (("speculation", "site"), True, False), (("speculation", "site"), False, False), (PAGE_MECHANISMS, False, False),
)


def latest_before(prefetches: list[dict], urls: set[str], before: float | None, mechanisms: tuple[str, ...],
                  successful: bool, unused: bool = False) -> dict | None:
    """The last prefetch of one of `urls` by one of `mechanisms` issued before `before`."""
    found = [
        p for p in prefetches
        if p["url"] in urls and p["mechanism"] in mechanisms and p["ts"] is not None
        and (before is None or p["ts"] < before) and (not successful or is_success(p)) and not (unused and p["used"])
    ]
    return found[-1] if found else None


def credit_use(run: Run) -> None:
    """Mark the prefetch each navigation (and each service-worker-served resource) was served from."""
    for nav in run.navigations:
        kind = nav["served_from"]
        if kind in ("prefetch", "prerender"):
            credited = next((found for mechanisms, successful, unused in SPECULATION_CREDIT
                             if (found := latest_before(run.prefetches, nav["_keys"], nav["_start"], mechanisms,
                                                        successful, unused))), None)
        elif kind in ("service-worker", "http-cache"):
            # http-cache: install.js falls back to <link rel=prefetch> when the CSP forbids the worker
            credited = latest_before(run.prefetches, nav["_keys"], nav["_start"], ("edgio",), True)
            nav["prefetched"] = credited is not None
        else:
            credited = None
        if credited:
            credited["used"] = True
            nav["_credited"] = credited
    for nav, entry, fetched_at in page_resources(run):
        if str(entry.get("deliveryType") or "") == "cache-storage":
            credited = latest_before(run.prefetches, {run.key(entry.get("name"))}, fetched_at,
                                     ("deep-fetch", "edgio"), True)
            if credited:
                credited["used"] = True
    # A soft navigation's route (its chunk, its data) from the browser's cache, no transfer: the
    # site's own prefetch of it (a <link rel=prefetch>, a script's fetch) is what it used.
    for entry, fetched_at in route_resources(run):
        if from_http_cache(entry):
            credited = latest_before(run.prefetches, {run.key(entry.get("name"))}, fetched_at, ("site",), True)
            if credited:
                credited["used"] = True


def mark_earlier_use(run: Run) -> None:
    """A prefetch already used by an earlier navigation is spent (speculation prefetches are single
    use); a later network fetch of the same URL is then a new navigation, not a double fetch."""
    for nav in run.navigations:
        credited = nav.get("_credited")
        if credited is not None and "_used_before" not in credited:
            credited["_used_before"] = nav["_start"] or 0


def page_resources(run: Run) -> Iterator[tuple[dict, dict, float | None]]:
    """(navigation, Resource Timing entry, epoch s it was fetched) for every page's subresources."""
    for nav in run.navigations:
        page = run.page(nav["_index"]) or {}
        origin = number(page.get("time_origin"))
        for entry in page.get("resources") or []:
            if isinstance(entry, dict):
                start = number(entry.get("startTime"))
                fetched_at = (origin + (start or 0)) / 1000 if origin is not None else nav["_start"]
                yield nav, entry, fetched_at


def route_resources(run: Run) -> Iterator[tuple[dict, float | None]]:
    """(Resource Timing entry, epoch s it was fetched) for what each soft navigation fetched after its press."""
    for nav in run.soft_navigations:
        origin = number((run.page(nav["_index"]) or {}).get("time_origin"))
        for entry in nav["_route"]:
            fetched_at = (origin + (number(entry.get("startTime")) or 0)) / 1000 if origin is not None else nav["_start"]
            yield entry, fetched_at
