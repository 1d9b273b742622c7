"""Edgio's real browser client on our edge: `@edgio/prefetch@7.13.13`'s own cdn/install.js and
cdn/service-worker.js (fetched from npm at test time, tests/npmcache.py), served with
`prefetch_client=<cdn dir>` in place of ours, reading our cache manifest, in Chromium.

What issue 10 saw break: no page errors now (durations are strings), prefetches go out for the
links the rules allow and only those (present/absent query conditions evaluate), hits come back
200 and misses 412, Edgio's worker stores hits and serves the next navigation from its cache, and
its include-cache-misses prefetches (<link rel=prefetch>: Sec-Purpose plus edgio_dt_pf, no
edgio_prefetch) are forwarded to the origin like a real Edgio edge does.
"""

from __future__ import annotations

import pytest

from tests import npmcache
from tests.browser.conftest import listing_page, poll, shop_routes, url_path, watch_console
from tests.harness import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 1w}
  - comment: "the default rules' kind of exclusion: a query parameter present"
    match: {query: {add-to-cart: true}}
    caching: {bypass_cache: true}
  - match: {path: "/private/:id"}
    caching: {max_age: 1h}
"""
PARAMS = "edgio_dt_pf=1&edgio_prefetch=1"


@pytest.fixture(scope="module")
def cdn():
    try:
        return npmcache.edgio_prefetch_cdn()
    except npmcache.NpmUnavailable as error:
        pytest.fail(str(error))


@pytest.fixture(scope="module")
def lab(start_lab, cdn):
    return start_lab(RULES, prefetch_client=str(cdn))


@pytest.fixture(scope="module")
def misses_lab(start_lab, cdn):
    return start_lab(RULES, prefetch_client=str(cdn), prefetch_include_cache_misses="true")


def shop(origin_factory):
    listing = listing_page(visible=["/p/1", "/p/2", "/p/3?add-to-cart=1", "/private/1", "/about"])
    return origin_factory(shop_routes(range(1, 4), listing))


def page_errors(errors: list[str]) -> list[str]:
    """Uncaught errors and console errors, except Chromium's line for a refused (412) prefetch."""
    return [e for e in errors if not ("status of 412" in e and e.startswith("console: Failed to load resource"))]


def decided(lab, base: str, count: int, timeout: float = 15.0) -> dict[str, dict]:
    """The edge's prefetch decisions for `base`, by path, once there are `count` of them."""
    found: dict[str, dict] = {}

    def enough() -> bool:
        found.update({url_path(r["url"]): r for r in lab.prefetches(base + "/")})
        return len(found) >= count

    wait_until(enough, timeout=timeout)
    return found


def test_edgio_client_prefetches_what_the_rules_allow_and_its_worker_serves_the_hit(browser, lab, origin_factory, cdn):
    origin = shop(origin_factory)
    lab.warm(origin.base + "/p/1")
    context = lab.context(browser)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")
    assert page.evaluate("() => typeof window.Edgio") == "object", "Edgio's install.js did not run"
    assert page.evaluate("() => (document.querySelector('script[src*=install]') || {}).src").endswith("/__edgio__/prefetch/install.js")

    prefetches = decided(lab, origin.base, 2)
    assert {path: (r["event"], r["status"], r["prefetch"]) for path, r in prefetches.items()} == {
        f"/p/1?{PARAMS}": ("prefetch-hit", 200, "edgio"),
        f"/p/2?{PARAMS}": ("prefetch-refused", 412, "edgio"),
    }, "only /p/1 and /p/2 are prefetchable: not the add-to-cart link, /private/ or /about"

    # Edgio's worker (registered by its install.js at its own path) stored the hit, not the 412.
    worker = poll(page, "() => navigator.serviceWorker.controller && navigator.serviceWorker.controller.scriptURL")
    assert url_path(worker) == f"/__edgio__service_worker_v{npmcache.EDGIO_VERSION}.js"
    poll(page, "u => caches.match(u).then(Boolean)", arg=origin.base + "/p/1")
    assert not page.evaluate("u => caches.match(u).then(Boolean)", origin.base + "/p/2")
    # Edgio's client looked at every visible link in one pass, before its worker fetched and stored
    # /p/1 (just seen): an excluded link it chose in that pass would have reached the edge by now.
    assert set(decided(lab, origin.base, 99, timeout=0)) == set(prefetches), "a link the rules exclude was prefetched"

    before = len(lab.records())
    page.goto(origin.base + "/p/1")
    assert page.locator("h1").inner_text() == "Product 1"
    delivery = page.evaluate("() => performance.getEntriesByType('navigation')[0].deliveryType")
    assert delivery == "cache-storage", "the navigation was not answered from Edgio's worker cache"
    assert not [r for r in lab.records()[before:] if r.get("url", "").startswith(origin.base + "/p/1")]
    assert page_errors(errors) == []
    context.close()


def test_edgio_include_cache_misses_prefetches_are_forwarded_and_fill_the_edge(browser, misses_lab, origin_factory):
    origin = shop(origin_factory)
    context = misses_lab.context(browser)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")
    assert page.evaluate("() => document.querySelector('script[src*=install]').dataset.includeCacheMisses") == "true"

    prefetches = decided(misses_lab, origin.base, 2)
    assert {path: (r["event"], r["prefetch"], r.get("reason")) for path, r in prefetches.items()} == {
        "/p/1?edgio_dt_pf=1": ("prefetch-forwarded", "edgio", "include-cache-misses"),
        "/p/2?edgio_dt_pf=1": ("prefetch-forwarded", "edgio", "include-cache-misses"),
    }
    assert not [r for r in misses_lab.records("prefetch-refused") if r["url"].startswith(origin.base)]
    assert wait_until(lambda: {"/p/1", "/p/2"} <= set(origin.paths_seen())), "the origin never saw the prefetches"
    purposes = {r.path: r.headers.get("sec-purpose") for r in origin.seen if r.path.startswith("/p/")}
    assert purposes == {"/p/1": "prefetch", "/p/2": "prefetch"}, "Edgio's <link rel=prefetch> (Sec-Purpose) was forwarded"
    stored = lambda: {url_path(r["url"]) for r in misses_lab.records("cache-store") if r["url"].startswith(origin.base + "/p/")}  # noqa: E731
    assert wait_until(lambda: stored() == {"/p/1?edgio_dt_pf=1", "/p/2?edgio_dt_pf=1"}), stored()
    poll(page, "u => caches.match(u).then(Boolean)", arg=origin.base + "/p/2")
    assert page_errors(errors) == []
    context.close()
