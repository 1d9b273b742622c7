"""The Edgio flow end to end: Chromium -> mitmdump (prefetch gate, edge cache) -> a local origin.

Cold edge: visible allowed links are prefetched with the Edgio params and refused with 412, quietly.
Warm edge: the prefetches are served from the edge cache and stored by the service worker, with
the deep-fetched hero image; with the origin gone the prefetched page still opens, from the worker.
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import (
    listing_page,
    poll,
    shop_routes,
    url_path,
    wait_for_results,
    watch_console,
    stored_header,
    worker_cache_keys,
)

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
    deep_fetch:
      - {selector: "img.hero", attribute: src, max_matches: 1, as: image}
  - match: {path: "/images/:name"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
  - comment: "edge-cached but not for the browser: no service_worker_max_age"
    match: {path: "/private/:id"}
    caching: {max_age: 1h}
  - comment: "previews are never cached, so never prefetched"
    match: {path: "/p/:id", query: {preview: true}}
    caching: {bypass_cache: true}
"""


@pytest.fixture(scope="module")
def lab(start_lab):
    return start_lab(RULES)


def shop(origin_factory, elsewhere_base: str = "http://127.0.0.2:9"):
    listing = listing_page(
        visible=[
            "/p/1",
            "/p/2",
            "/private/1",
            "/p/4?preview=1",
            f"{elsewhere_base}/p/1",
            "mailto:shop@example.com",
            "javascript:void(0)",
        ],
        below_the_fold=["/p/3"],
    )
    return origin_factory(shop_routes(range(1, 5), listing))


def test_cold_edge_refuses_visible_links_quietly_and_skips_the_rest(browser, lab, origin_factory):
    elsewhere = origin_factory(shop_routes(range(1, 2), b"elsewhere"))
    origin = shop(origin_factory, elsewhere.base)
    context = lab.context(browser)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")

    results = wait_for_results(page, 2)
    assert sorted(url_path(r["url"]) for r in results) == [
        "/p/1?edgio_dt_pf=1&edgio_prefetch=1",
        "/p/2?edgio_dt_pf=1&edgio_prefetch=1",
    ]
    assert all(r["status"] == 412 and not r["stored"] and r["via"] == "service-worker" for r in results)
    refused = {url_path(r["url"]): r for r in lab.prefetches(origin.base + "/p/")}
    assert set(refused) == {"/p/1?edgio_dt_pf=1&edgio_prefetch=1", "/p/2?edgio_dt_pf=1&edgio_prefetch=1"}
    assert all(r["event"] == "prefetch-refused" and r["status"] == 412 for r in refused.values())

    # Off-screen: nothing until it is scrolled into view.
    page.wait_for_timeout(300)
    assert not lab.prefetches(origin.base + "/p/3")
    page.locator("a.far").scroll_into_view_if_needed()
    results = wait_for_results(page, 3)
    assert [url_path(r["url"]) for r in lab.prefetches(origin.base + "/p/3")] == ["/p/3?edgio_dt_pf=1&edgio_prefetch=1"]

    # Everything visible was considered in the same pass as /p/1 and /p/2, long ago now.
    assert len(results) == 3
    assert not lab.prefetches(origin.base + "/private/") and not lab.prefetches(origin.base + "/p/4")
    assert elsewhere.seen == [], "a cross-origin link was fetched"
    assert not [p for p in origin.paths_seen() if p.startswith(("/p/", "/private/", "/images/"))], (
        "a refused prefetch reached the origin"
    )
    assert worker_cache_keys(page) == []
    assert errors == []
    context.close()


def test_warm_edge_prefetch_is_stored_by_the_worker_and_opens_without_the_origin(browser, lab, origin_factory):
    origin = shop(origin_factory)
    lab.warm(*(f"{origin.base}{path}" for path in ("/p/1", "/images/hero1.png", "/p/2", "/images/hero2.png")))
    context = lab.context(browser)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")

    results = {url_path(r["url"]): r for r in wait_for_results(page, 2)}
    first = results["/p/1?edgio_dt_pf=1&edgio_prefetch=1"]
    assert first["status"] == 200 and first["stored"]
    assert first["deep"] == [
        {"url": f"{origin.base}/images/hero1.png?edgio_dt_pf=1&edgio_prefetch=1", "status": 200, "stored": True}
    ]
    hits = {url_path(r["url"]) for r in lab.prefetches(origin.base) if r["event"] == "prefetch-hit"}
    assert {"/p/1?edgio_dt_pf=1&edgio_prefetch=1", "/images/hero1.png?edgio_dt_pf=1&edgio_prefetch=1"} <= hits
    assert set(worker_cache_keys(page)) == {
        f"{origin.base}{path}" for path in ("/p/1", "/p/2", "/images/hero1.png", "/images/hero2.png")
    }, "stored under the URL without edgio_* params, only what the rules and deep_fetch name"
    assert stored_header(page, origin.base + "/p/1", "x-sw-cache-control") == "max-age=600", "the edge's service_worker_max_age (10m) is the worker's TTL"

    origin.stop()
    seen_by_edge = len(lab.records())
    responses = []
    page.on("response", lambda response: responses.append(response))
    response = page.goto(origin.base + "/p/1")
    assert response.status == 200 and response.from_service_worker
    assert page.locator("h1").inner_text() == "Product 1"
    poll(page, "document.querySelector('img.hero').complete")
    assert page.evaluate("document.querySelector('img.hero').naturalWidth") == 1
    hero = [r for r in responses if r.url.endswith("/images/hero1.png")]
    assert hero and all(r.from_service_worker for r in hero)
    page_records = [
        r for r in lab.records()[seen_by_edge:] if r.get("url", "").startswith((origin.base + "/p/1", origin.base + "/images/hero1"))
    ]
    assert page_records == [], "the prefetched page or its hero image touched the network"
    assert [e for e in errors if "other1.png" not in e] == []  # the non-deep-fetched image is gone with the origin
    context.close()
