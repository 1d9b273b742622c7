"""Where each navigation's document and render-blocking subresources came from (audit.json's
`navigations[].sources`), so that a gain can be credited to what made it: a prefetch, the
service worker's Cache Storage, the HTTP cache, the edge's cache, or the network.

From Resource Timing (`deliveryType`, `workerStart`, `transferSize`, `renderBlockingStatus`)
joined with the run's trail: a subresource fetched from the network is an `edge-hit` when the
edge answered that URL from its cache in the step's window, else `network`. One the service
worker fetched itself (`workerStart` > 0, not from Cache Storage) reports no transfer, so only the
edge's record says where it came from: without one, the HTTP cache. One served from
Cache Storage (`deliveryType` `cache-storage`) is `prefetch` when Edgio's worker had prefetched it
(a successful `deep-fetch`/`edgio` prefetch of the URL before it was fetched, as credit_use
counts it), else `service-worker-cache`: the worker kept it from an earlier page (its
cache-first route), which is worker caching, not prefetching. Runs after credit_use. Pure module.
"""

from __future__ import annotations

from collections import Counter

from prefetch_lab.audit.computed.gathered_run import Run, from_http_cache
from prefetch_lab.audit.computed.prefetch_use import latest_before, page_resources
from prefetch_lab.stats import ms, number
from prefetch_lab.trail import EDGE_HIT_EVENTS

# Which sources are prefetching, and which are caching of what a page had already loaded.
PREFETCHING = ("prefetch", "prerender")


def document_source(nav: dict) -> str:
    """The document's source, in the vocabulary of the subresources' (served_from → source)."""
    served = nav.get("served_from")
    if served in PREFETCHING:
        return served
    if served in ("service-worker", "http-cache"):
        # credit_use set `prefetched` when Edgio's worker (or its <link rel=prefetch> fallback) had prefetched it
        return "prefetch" if nav.get("prefetched") else ("service-worker-cache" if served == "service-worker" else "http-cache")
    if served == "edge":
        return "edge-hit"
    return "network" if served == "origin" else "unknown"


def subresource_source(run: Run, entry: dict, fetched_at: float | None, at_edge: dict[str, str]) -> str:
    delivery = str(entry.get("deliveryType") or "")
    key = run.key(entry.get("name"))
    if delivery == "cache-storage":
        credited = latest_before(run.prefetches, {key}, fetched_at, ("deep-fetch", "edgio"), True)
        return "prefetch" if credited else "service-worker-cache"
    if delivery == "navigational-prefetch":
        return "prefetch"
    if (number(entry.get("workerStart")) or 0) > 0:
        # The worker answered with its own fetch: Resource Timing then reports no transfer (and
        # Chromium may say deliveryType "cache"), so the edge's record is the evidence; none: the HTTP cache.
        return at_edge.get(key, "http-cache")
    if delivery == "cache" or from_http_cache(entry):
        return "http-cache"
    return at_edge.get(key, "network")


def window_answers(run: Run, index: int) -> dict[str, str]:
    """URL key → `edge-hit` (the edge answered from its cache) or `network` (the origin did), for
    the requests (not prefetches) the edge saw in the step's window; a hit wins."""
    answers: dict[str, str] = {}
    for r in run.step_answers(index):
        key = run.key(r.get("url"))
        if answers.get(key) != "edge-hit":
            answers[key] = "edge-hit" if r.get("event") in EDGE_HIT_EVENTS else "network"
    return answers


def add_sources(run: Run) -> None:
    """Sets every navigation's `sources`: {"document", "render_blocking": [{"url", "type", "source",
    "via_worker", "end_ms"}], "render_blocking_done_ms"}."""
    blocking: dict[int, list[dict]] = {nav["_index"]: [] for nav in run.navigations}
    answers = {nav["_index"]: window_answers(run, nav["_index"]) for nav in run.navigations}
    for nav, entry, fetched_at in page_resources(run):
        if entry.get("renderBlockingStatus") != "blocking":
            continue
        activation = number(nav.get("activation_start_ms")) or 0.0
        end = number(entry.get("responseEnd"))
        blocking[nav["_index"]].append({
            "url": run.key(entry.get("name")),
            "type": entry.get("initiatorType"),
            "source": subresource_source(run, entry, fetched_at, answers[nav["_index"]]),
            "via_worker": (number(entry.get("workerStart")) or 0) > 0,
            "end_ms": ms(max(0.0, end - activation)) if end is not None else None,
        })
    for nav in run.navigations:
        entries = blocking[nav["_index"]]
        ends = [e["end_ms"] for e in entries if e["end_ms"] is not None]
        nav["sources"] = {"document": document_source(nav), "render_blocking": entries,
                          "render_blocking_done_ms": max(ends) if ends else None}


def main_source(sources: dict | None) -> str | None:
    """The source most of a page's render-blocking subresources came from (None without any)."""
    counts = Counter(e["source"] for e in (sources or {}).get("render_blocking") or [])
    return counts.most_common(1)[0][0] if counts else None


def subresource_wait_ms(nav: dict) -> float:
    """How long the page waited for its render-blocking subresources after its document's first
    byte: the last one's end − TTFB, 0 without any (or when all ended before the first byte)."""
    done = ((nav.get("sources") or {}).get("render_blocking_done_ms"))
    ttfb = nav.get("ttfb_ms")
    if done is None or ttfb is None:
        return 0.0
    return max(0.0, done - ttfb)
