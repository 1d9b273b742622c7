"""The Edgio flow end to end: Chromium -> mitmdump (prefetch gate, edge cache) -> a local origin.

Cold edge: visible allowed links are prefetched with the Edgio params and refused with 412, quietly.
Warm edge: the prefetches are served from the edge cache and stored by the service worker, with
the deep-fetched hero image; with the origin gone the prefetched page still opens, from the worker.
Also: prefetching waits for `load`, worker entries expire, and a missing manifest or worker is
reported while the page carries on.
"""

from __future__ import annotations

import threading

import pytest

from tests.browser.conftest import (
    PNG,
    PNG_TYPE,
    Reply,
    listing_page,
    poll,
    shop_routes,
    stored_header,
    url_path,
    wait_for_results,
    watch_console,
    worker_cache_keys,
)
from tests.harness import wait_until

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


# The first IntersectionObserver report for an element: is it in view?
FIRST_INTERSECTION = """selector => new Promise(resolve => {
    const observer = new IntersectionObserver(entries => { observer.disconnect(); resolve(entries[0].isIntersecting); });
    observer.observe(document.querySelector(selector));
})"""


@pytest.fixture(scope="module")
def lab(start_lab):
    return start_lab(RULES)


def shop(origin_factory, elsewhere_base: str = "http://127.0.0.2:9"):
    listing = listing_page(
        visible=[
            "/p/1",
            "/p/1#reviews",  # the same URL: prefetched once
            "/p/2",
            "/private/1",
            "/p/4?preview=1",
            f"{elsewhere_base}/p/1",
            "mailto:shop@example.com",
            "javascript:void(0)",
        ],
        below_the_fold=["/p/3"],
    )
    return origin_factory(shop_routes(range(1, 6), listing))


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

    # Off-screen: nothing until it is scrolled into view. install.js's observer reported every link it
    # watches in one callback, the one that started /p/1 and /p/2 (finished above): it has seen
    # the far link then. An observer of our own says that link is indeed out of view.
    assert page.evaluate(FIRST_INTERSECTION, "a.far") is False, "the far link is not off-screen"
    assert len(page.evaluate("Edgio.status().results")) == 2
    assert not lab.prefetches(origin.base + "/p/3")
    page.locator("a.far").scroll_into_view_if_needed()
    results = wait_for_results(page, 3)
    assert [url_path(r["url"]) for r in lab.prefetches(origin.base + "/p/3")] == ["/p/3?edgio_dt_pf=1&edgio_prefetch=1"]

    # A link added later, where the user is looking.
    page.evaluate("() => document.querySelector('a.far').insertAdjacentHTML('afterend', '<a href=\"/p/5\">new</a>')")
    results = wait_for_results(page, 4)
    assert [url_path(r["url"]) for r in lab.prefetches(origin.base + "/p/5")] == ["/p/5?edgio_dt_pf=1&edgio_prefetch=1"]

    # Everything visible was considered in the same pass as /p/1 and /p/2, long ago now.
    assert len(results) == 4
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
    ttl = stored_header(page, origin.base + "/p/1", "x-sw-cache-control")
    assert ttl == "max-age=600", "the edge's service_worker_max_age (10m) is the worker's TTL"

    origin.stop()
    seen_by_edge = len(lab.records())
    responses = []
    page.on("response", lambda response: responses.append(response))
    response = page.goto(origin.base + "/p/1")
    assert response.status == 200 and "x-prefetch-lab-sw-stored-at" in response.headers, "not from the worker's cache"
    assert page.locator("h1").inner_text() == "Product 1"
    poll(page, "document.querySelector('img.hero').complete")
    assert page.evaluate("document.querySelector('img.hero').naturalWidth") == 1
    hero = [r for r in responses if r.url.endswith("/images/hero1.png")]
    assert hero and all(r.from_service_worker for r in hero)
    prefetched = (origin.base + "/p/1", origin.base + "/images/hero1")
    page_records = [r for r in lab.records()[seen_by_edge:] if r.get("url", "").startswith(prefetched)]
    assert page_records == [], "the prefetched page or its hero image touched the network"
    # Only what was never prefetched may fail now that the origin is gone: the other image, the favicon.
    assert [e for e in errors if not e.endswith(("/images/other1.png", "/favicon.ico"))] == []
    context.close()


def test_prefetching_waits_for_the_load_event(browser, lab, origin_factory):
    released = threading.Event()  # the image, and so the page's `load`, waits for the test

    def slow_image(_seen) -> Reply:
        released.wait(30)
        return Reply(200, PNG_TYPE, PNG)

    listing = listing_page(["/p/1"], head='<img src="/slow.png" width="1" height="1">')
    origin = origin_factory(shop_routes(range(1, 2), listing, **{"/slow.png": slow_image}))
    context = lab.context(browser)
    page = context.new_page()
    try:
        page.goto(origin.base + "/", wait_until="domcontentloaded")
        assert wait_until(lambda: "/slow.png" in origin.paths_seen()), "the image was never requested"
        # install.js has its rules (all it needs to pick /p/1): only `load` is missing now.
        poll(page, "Edgio.status().manifestLoaded")
        assert page.evaluate("document.readyState") != "complete"
        assert page.evaluate("Edgio.status().results") == []
        assert not lab.prefetches(origin.base + "/p/1"), "prefetched before the page finished loading"
    finally:
        released.set()
    page.wait_for_load_state("load")
    wait_for_results(page, 1)
    assert len(lab.prefetches(origin.base + "/p/1")) == 1
    context.close()


def test_worker_entries_expire(browser, lab, origin_factory):
    origin = origin_factory(shop_routes(range(1, 2), listing_page([])))
    lab.warm(origin.base + "/p/1")
    context = lab.context(browser)
    page = context.new_page()
    page.goto(origin.base + "/")
    page.evaluate("Edgio.ready()")
    assert page.evaluate("Edgio.prefetch('/p/1', 'fetch', { maxAgeSeconds: 1 })")["stored"]
    assert stored_header(page, origin.base + "/p/1", "x-sw-cache-control") == "max-age=1"
    stored_at = int(stored_header(page, origin.base + "/p/1", "x-prefetch-lab-sw-stored-at"))
    # Until the worker's clock (Date.now(), which the page shares) is past the entry's max-age.
    poll(page, "expiry => Date.now() > expiry", arg=stored_at + 1000)
    records_before = len(lab.records())
    response = page.goto(origin.base + "/p/1")
    assert response.status == 200 and "x-prefetch-lab-sw-stored-at" not in response.headers
    assert [r["event"] for r in lab.records()[records_before:] if r.get("url") == origin.base + "/p/1"] == ["cache-hit"], (
        "an expired worker entry must send the navigation to the edge"
    )
    context.close()


@pytest.mark.parametrize(
    "blocked, report, mode",
    [
        ("/__edgio__/cache-manifest.js", "manifest-unavailable", "service-worker"),
        ("/__edgio__/prefetch/service-worker.js", "service-worker-failed", "link"),
    ],
)
def test_a_missing_manifest_or_worker_is_reported_and_the_page_carries_on(
    browser, lab, origin_factory, blocked, report, mode
):
    origin = origin_factory(shop_routes(range(1, 2), listing_page(["/p/1"])))
    context = lab.context(browser)
    context.route(f"**{blocked}", lambda route: route.abort())
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")
    status = page.evaluate("Edgio.ready()")
    assert status["mode"] == mode and [r["event"] for r in status["reports"]] == [report]
    assert wait_until(lambda: any(report in r["detail"] for r in lab.records("client-report") if origin.base in r["detail"]))
    result = page.evaluate("Edgio.prefetch('/p/1')")
    assert result["status"] == 412, "manual prefetching still works"
    if blocked.endswith("manifest.js"):
        assert status["manifestLoaded"] is False and status["results"] == [], "no manifest, no automatic prefetch"
    # Only the browser's own lines about the aborted request (and, without a worker, the refused link).
    network_lines = ("console: Failed to load resource", "console: An unknown error occurred when fetching the script.")
    assert [e for e in errors if not e.startswith(network_lines)] == []
    context.close()
