"""Stale-if-error for a request that did go to the origin (here: every background fetch slot
taken, so the edge could not fetch it itself): a 5xx answer is held whole and swapped for the
stale entry inside its window, in mitmproxy's test context (hooks called as mitmproxy calls them)."""

from __future__ import annotations

import pytest
from mitmproxy import http
from mitmproxy.test import tflow

from prefetch_lab.edge.origin_fetches import MAX_BACKGROUND
from tests.addon.route import Route, route_context

URL = "http://shop.test/asset"
BODY = bytes(range(256)) * 8


def run_hooks(lab: Route, flow: http.HTTPFlow, origin: http.Response | None) -> None:
    """request, then (if it went to the origin) the origin's answer through the response hooks,
    every stage's in the route's order, awaiting what a hook returns (as mitmproxy does)."""
    flow.response = None
    lab.request(flow)
    if flow.response is None:
        flow.response = origin.copy()
    lab.responseheaders(flow)
    lab.response(flow)


@pytest.fixture()
def lab():
    with route_context(prefetch_rules="none") as route:
        yield route


def store_then_fill_the_background_slots(lab: Route, cache_control: str) -> list:
    flow = tflow.tflow()
    flow.request = http.Request.make("GET", URL)
    run_hooks(lab, flow, http.Response.make(200, BODY, {"content-type": "application/octet-stream",
                                                        "cache-control": cache_control}))
    assert flow.response.headers["x-edg-caching-status"] == "cached"
    busy = [tflow.tflow() for _ in range(MAX_BACKGROUND)]
    for other in busy:
        lab.context.origin._running[other] = lambda: None
    return busy


def request_after(lab: Route, seconds: float, origin: http.Response, **headers) -> http.HTTPFlow:
    for entry in lab.store._entries.values():  # age the stored entry instead of waiting
        entry.stored_at -= seconds
    flow = tflow.tflow()
    flow.request = http.Request.make("GET", URL, b"", headers)
    run_hooks(lab, flow, origin)
    return flow


UNAVAILABLE = http.Response.make(503, b"down", {"content-type": "text/plain"})


def test_a_503_to_a_forwarded_request_is_swapped_for_the_stale_entry_inside_its_window(lab):
    busy = store_then_fill_the_background_slots(lab, "max-age=10, stale-if-error=60")
    flow = request_after(lab, 20, UNAVAILABLE)
    assert flow.response.status_code == 200 and flow.response.raw_content == BODY
    assert flow.response.headers["x-edg-caching-status"] == "stale-if-error"
    assert "stale-if-error" in flow.comment
    assert lab.stage("prefetch.staleiferror").served_stale == 1 and busy


def test_past_the_window_or_forced_by_the_client_the_503_passes(lab):
    busy = store_then_fill_the_background_slots(lab, "max-age=10, stale-if-error=60")
    assert request_after(lab, 20, UNAVAILABLE, **{"cache-control": "no-cache"}).response.status_code == 503
    assert request_after(lab, 70, UNAVAILABLE).response.status_code == 503
    assert lab.stage("prefetch.staleiferror").served_stale == 0 and busy


def test_a_200_to_a_forwarded_request_replaces_the_entry(lab):
    busy = store_then_fill_the_background_slots(lab, "max-age=10, stale-if-error=60")
    fresh = http.Response.make(200, b"new", {"content-type": "text/plain", "cache-control": "max-age=10"})
    flow = request_after(lab, 20, fresh)
    assert (flow.response.raw_content, flow.response.headers["x-edg-caching-status"]) == (b"new", "cached")
    assert busy


def test_a_503_with_its_own_max_age_does_not_replace_the_entry_inside_its_window(lab):
    # RFC mode stores a 503 that has explicit freshness, but not over an entry that may answer for it.
    busy = store_then_fill_the_background_slots(lab, "max-age=10, stale-if-error=60")
    cached_error = http.Response.make(503, b"down", {"content-type": "text/plain", "cache-control": "max-age=600"})
    for seconds in (15, 5):  # 15 s old, then 20
        flow = request_after(lab, seconds, cached_error)
        assert flow.response.raw_content == BODY
        assert flow.response.headers["x-edg-caching-status"] == "stale-if-error"
    assert busy
