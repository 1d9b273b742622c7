"""Pages with a Content-Security-Policy: our scripts cause no console errors, prefetching degrades
(service worker -> <link rel=prefetch> -> nothing) and the audit trail says why."""

from __future__ import annotations

import pytest

from tests.browser.conftest import HTML, Reply, listing_page, open_page, shop_routes, url_path, wait_for_results
from tests.harness import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
"""
NONCE = "r4nd0mN0nce"
PAGE_SCRIPT = f'<script nonce="{NONCE}">document.documentElement.dataset.pageScript = "ran";</script>'
POLICIES = {
    # Google's recommended strict CSP: nonce + strict-dynamic. Workers registered from script are allowed.
    "/strict": f"script-src 'nonce-{NONCE}' 'strict-dynamic'; object-src 'none'; base-uri 'none'",
    # A nonce without strict-dynamic: our tag gets the nonce, but no worker URL is allowed.
    "/no-workers": f"script-src 'nonce-{NONCE}'; object-src 'none'",
    # Hashes only: an external script without integrity cannot run at all.
    "/no-script": "script-src 'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='; object-src 'none'",
}


@pytest.fixture(scope="module")
def lab(start_lab):
    return start_lab(RULES)


def csp_shop(origin_factory, product_headers: dict[str, str] | None = None):
    listing = listing_page(["/p/1"], head=PAGE_SCRIPT)
    pages = {path: Reply(200, {**HTML, "content-security-policy": policy}, listing) for path, policy in POLICIES.items()}
    pages["/no-script"].body = listing_page(["/p/1"])  # its own nonce'd script would be refused (and logged) too
    routes = shop_routes(range(1, 2), listing, **pages)
    if product_headers:
        routes["/p/1"] = Reply(200, {**HTML, **product_headers}, routes["/p/1"].body)
    return origin_factory(routes)


def audit_for(lab, url: str, event: str) -> dict:
    assert wait_until(lambda: any(r["url"] == url for r in lab.records(event))), f"no {event} for {url}"
    return next(r for r in lab.records(event) if r["url"] == url)


def test_strict_csp_keeps_the_worker_and_logs_nothing(browser, lab, origin_factory):
    origin = csp_shop(origin_factory)
    context, page, errors = open_page(lab, browser, origin.base + "/strict")
    status = page.evaluate("Edgio.ready()")
    assert status["mode"] == "service-worker" and status["manifestLoaded"]
    [result] = wait_for_results(page, 1)
    assert url_path(result["url"]) == "/p/1?edgio_dt_pf=1&edgio_prefetch=1" and result["status"] == 412
    injected = audit_for(lab, origin.base + "/strict", "injected")
    assert injected["nonce"] is True and injected["service_worker"] == "allowed"
    assert page.evaluate("document.documentElement.dataset.pageScript") == "ran"
    assert errors == []
    context.close()


def test_csp_without_workers_falls_back_to_link_prefetch_and_says_why(browser, lab, origin_factory):
    origin = csp_shop(origin_factory)
    context, page, errors = open_page(lab, browser, origin.base + "/no-workers")
    assert page.evaluate("Edgio.ready()")["mode"] == "link"
    [result] = wait_for_results(page, 1)
    assert result["via"] == "link" and result["url"] == origin.base + "/p/1"
    # The link carries Sec-Purpose: prefetch, so the edge gates it like edgio_prefetch=1.
    [refused] = lab.prefetches(origin.base + "/p/1")
    assert refused["event"] == "prefetch-refused" and refused["status"] == 412
    assert "/p/1" not in origin.paths_seen()

    injected = audit_for(lab, origin.base + "/no-workers", "injected")
    assert injected["service_worker"].startswith("csp-blocks-worker")
    assert wait_until(lambda: any(
        "service-worker" in r["detail"] and origin.base + "/no-workers" in r["detail"] for r in lab.records("client-report")
    )), "install.js reported why it runs without a worker"
    # Chromium itself logs the refused link prefetch ("Failed to load resource: ... 412") against the
    # prefetched URL; anything else (a CSP violation for a worker registration) would be ours.
    refused_link_log = f"console: Failed to load resource: the server responded with a status of 412 (Precondition Failed) @ {origin.base}/p/1"
    assert [e for e in errors if e != refused_link_log] == [], (
        'install.js must not try a registration the CSP forbids (proxy: data-service-worker="false")'
    )
    context.close()


def test_without_a_worker_link_prefetch_fills_the_http_cache(browser, lab, origin_factory):
    # Chromium reuses a link prefetch for a navigation only while it is HTTP-fresh.
    origin = csp_shop(origin_factory, {"cache-control": "max-age=300"})
    lab.warm(origin.base + "/p/1")
    context, page, errors = open_page(lab, browser, origin.base + "/no-workers")
    [result] = wait_for_results(page, 1)
    assert result["status"] == 200 and result["via"] == "link"
    records_before = len(lab.records())
    page.click("a[href='/p/1']")
    page.wait_for_url(origin.base + "/p/1")
    assert page.locator("h1").inner_text() == "Product 1"
    # The browser's own word on where the document came from, once it is loaded ("cache": the
    # HTTP cache; a network fetch would be "").
    page.wait_for_load_state("load")
    delivery = page.evaluate("() => performance.getEntriesByType('navigation')[0].deliveryType")
    assert delivery == "cache", f"the navigation went to the network instead of the HTTP cache ({delivery!r})"
    # And the edge's: a navigation to the network would have passed the edge, which records a
    # flow before it sends its response, so before the page above could show.
    assert not [r for r in lab.records()[records_before:] if r.get("url") == origin.base + "/p/1"], (
        "the navigation went to the network instead of the HTTP cache"
    )
    assert errors == []
    context.close()


def test_csp_that_forbids_our_script_gets_no_injection_and_an_audit_reason(browser, lab, origin_factory):
    origin = csp_shop(origin_factory)
    context, page, errors = open_page(lab, browser, origin.base + "/no-script")
    # The edge's decision is recorded (the event), and the loaded page (open_page waits for
    # `load`, after every deferred script would have run) has neither our tag nor its runtime.
    skipped = audit_for(lab, origin.base + "/no-script", "inject-skipped")
    assert skipped["reason"].startswith("csp-blocks-script")
    assert page.evaluate("typeof window.Edgio") == "undefined"
    assert page.locator("script[src*='/__edgio__/']").count() == 0
    assert not lab.prefetches(origin.base + "/")
    assert errors == []
    context.close()
