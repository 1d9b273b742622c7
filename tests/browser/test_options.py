"""install.js options through the real proxy: data-include-cache-misses (and our "false"),
data-force-prefetch-ratio, the manual Edgio.prefetch API with maxAgeSeconds and JSON deep
fetching, hover and `watch` installs, and the Save-Data / 2g skip."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.browser.conftest import (
    HTML,
    PNG,
    PNG_TYPE,
    Reply,
    listing_page,
    open_page,
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
  - match: {path: "/images/:name"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
  - match: {path: "/api/list.json"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
    deep_fetch:
      - {json_query: "products.thumbnail", max_matches: 2, as: image}
"""


@pytest.fixture(scope="module")
def lab(start_lab):
    return start_lab(RULES)


def open_ready_page(lab, browser, url: str):
    """open_page, then wait until install.js has its manifest and transport."""
    context, page, errors = open_page(lab, browser, url)
    page.evaluate("Edgio.ready()")
    return context, page, errors


def prefetch_paths(lab, origin) -> list[str]:
    return sorted(url_path(r["url"]) for r in lab.prefetches(origin.base + "/"))


@pytest.fixture(scope="module")
def misses_lab(start_lab):
    return start_lab(RULES, prefetch_include_cache_misses="true")


def test_include_cache_misses_lets_cold_prefetches_reach_the_origin(browser, misses_lab, origin_factory):
    lab = misses_lab
    missing = Reply(404, HTML, b"<h1>no such product</h1>")
    origin = origin_factory(shop_routes(range(1, 3), listing_page(["/p/1", "/p/2", "/p/404"]), **{"/p/404": missing}))
    context, page, errors = open_ready_page(lab, browser, origin.base + "/")
    assert page.evaluate("document.querySelector('script[data-include-cache-misses]').dataset.includeCacheMisses") == "true"

    results = {url_path(r["url"]): r for r in wait_for_results(page, 3)}
    assert prefetch_paths(lab, origin) == ["/p/1?edgio_dt_pf=1", "/p/2?edgio_dt_pf=1", "/p/404?edgio_dt_pf=1"]
    assert all(r["event"] == "prefetch-forwarded" for r in lab.prefetches(origin.base + "/"))
    assert {"/p/1", "/p/2", "/p/404"} <= set(origin.paths_seen()), "the origin answers the misses (params stripped)"
    assert results["/p/1?edgio_dt_pf=1"]["stored"] and results["/p/2?edgio_dt_pf=1"]["stored"]
    assert results["/p/404?edgio_dt_pf=1"]["status"] == 404 and not results["/p/404?edgio_dt_pf=1"]["stored"]
    assert sorted(worker_cache_keys(page)) == [f"{origin.base}/p/1", f"{origin.base}/p/2"]
    # Chromium logs the 404 itself only for requests the page makes; the worker's own fetch is quiet.
    assert errors == []
    context.close()


def test_prefetches_run_at_most_four_at_a_time(browser, misses_lab, origin_factory):
    in_flight, peak, lock = [0], [0], threading.Lock()

    def slow_product(seen):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.4)
        with lock:
            in_flight[0] -= 1
        return Reply(200, HTML, b"<h1>product</h1>")

    links = [f"/p/{n}" for n in range(1, 11)]
    routes = shop_routes(range(0), listing_page(links, head="<style>br{display:none}</style>"))
    routes.update({link: slow_product for link in links})
    origin = origin_factory(routes)
    context, page, errors = open_ready_page(misses_lab, browser, origin.base + "/")
    wait_for_results(page, 10, timeout=20)
    assert len([p for p in origin.paths_seen() if p.startswith("/p/")]) == 10
    assert peak[0] == 4, f"{peak[0]} prefetches reached the origin at once"
    assert errors == []
    context.close()


def test_include_cache_misses_false_is_honoured(browser, lab, origin_factory):
    own_tag = '<script src="/__edgio__/prefetch/install.js" defer data-include-cache-misses="false"></script>'
    origin = origin_factory(shop_routes(range(1, 2), listing_page(["/p/1"], head=own_tag)))
    context, page, errors = open_ready_page(lab, browser, origin.base + "/")
    assert wait_for_results(page, 1)[0]["status"] == 412
    assert prefetch_paths(lab, origin) == ["/p/1?edgio_dt_pf=1&edgio_prefetch=1"]
    assert "/p/1" not in origin.paths_seen()
    assert page.locator("script[src*='install.js']").count() == 1, "the proxy saw the page's own tag"
    assert errors == []
    context.close()


def test_force_prefetch_ratio_sends_a_share_of_prefetches_without_edgio_prefetch(browser, start_lab, origin_factory):
    lab = start_lab(RULES, prefetch_force_ratio="0.5")
    links = [f"/p/{n}" for n in range(1, 25)]
    origin = origin_factory(shop_routes(range(1, 25), listing_page(links, head="<style>br{display:none}</style>")))
    context, page, errors = open_ready_page(lab, browser, origin.base + "/")
    assert page.evaluate("document.querySelector('script[data-force-prefetch-ratio]').dataset.forcePrefetchRatio") == "0.5"

    wait_for_results(page, 24, timeout=20)
    decisions = lab.prefetches(origin.base + "/p/")
    assert len(decisions) == 24
    gated = [r for r in decisions if "edgio_prefetch=1" in r["url"]]
    forced = [r for r in decisions if "edgio_prefetch=1" not in r["url"]]
    # Each link is forced with probability 0.5: all 24 alike would happen once in 8 million runs.
    assert gated and forced
    assert all(r["event"] == "prefetch-refused" for r in gated)
    assert all(r["event"] == "prefetch-forwarded" and "edgio_dt_pf=1" in r["url"] for r in forced)
    assert errors == []
    context.close()


def api_routes() -> dict[str, Reply]:
    products = {"products": [{"id": n, "thumbnail": f"/images/t{n}.png"} for n in (1, 2, 3)]}
    routes = {
        "/api/list.json": Reply(200, {"content-type": "application/json"}, json.dumps(products).encode()),
        "/unlisted": Reply(200, HTML, b"<title>unlisted</title>"),
    }
    routes.update({f"/images/t{n}.png": Reply(200, PNG_TYPE, PNG) for n in (1, 2, 3)})
    return routes


def test_manual_prefetch_with_max_age_and_json_deep_fetch(browser, lab, origin_factory):
    origin = origin_factory(shop_routes(range(0), listing_page([]), **api_routes()))
    lab.warm(*(f"{origin.base}{p}" for p in ("/api/list.json", "/images/t1.png", "/images/t2.png", "/images/t3.png")))
    context, page, errors = open_ready_page(lab, browser, origin.base + "/")

    result = page.evaluate("Edgio.prefetch('/api/list.json', 'fetch', { maxAgeSeconds: 30 })")
    assert url_path(result["url"]) == "/api/list.json?edgio_dt_pf=1&edgio_prefetch=1&edgio_prefetch_ttl=30"
    assert result["status"] == 200 and result["stored"]
    assert [url_path(d["url"]) for d in result["deep"]] == [
        "/images/t1.png?edgio_dt_pf=1&edgio_prefetch=1",
        "/images/t2.png?edgio_dt_pf=1&edgio_prefetch=1",
    ], "json_query products.thumbnail, max_matches 2"
    ttl = stored_header(page, origin.base + "/api/list.json", "x-sw-cache-control")
    assert ttl == "max-age=30", "maxAgeSeconds wins over the edge's 10m"
    assert set(worker_cache_keys(page)) == {f"{origin.base}{p}" for p in ("/api/list.json", "/images/t1.png", "/images/t2.png")}

    again = page.evaluate("Edgio.prefetch('/api/list.json')")
    assert again == result, "a URL is prefetched once per page"
    unlisted = page.evaluate("Edgio.prefetch('/unlisted')")
    assert unlisted["status"] == 412, "manual prefetches ignore the manifest but are still gated"
    skipped = page.evaluate("Promise.all([Edgio.prefetch('http://127.0.0.2:9/x'), Edgio.prefetch('ftp://x/y')])")
    assert all("skipped" in s for s in skipped)
    assert not lab.prefetches("http://127.0.0.2:9/")
    assert errors == []
    context.close()


HOVER_AND_WATCH = """<script>
window.__PREFETCH_LAB_OPTIONS__ = {
  viewport: false,
  hover: true,
  watch: [{ selector: ".tile", callback: (el) => Edgio.prefetch(el.dataset.api) }],
};
</script>"""


def test_hover_and_watch_options(browser, lab, origin_factory):
    listing = listing_page(["/p/1", "/p/2"], head=HOVER_AND_WATCH).replace(
        b"</body>", b'<div class="tile" data-api="/p/3">tile</div></body>'
    )
    origin = origin_factory(shop_routes(range(1, 4), listing))
    context, page, errors = open_ready_page(lab, browser, origin.base + "/")
    page.wait_for_timeout(300)
    assert lab.prefetches(origin.base + "/") == [], "viewport prefetching is off"

    page.hover("a[href='/p/2']")
    wait_for_results(page, 1)
    assert prefetch_paths(lab, origin) == ["/p/2?edgio_dt_pf=1&edgio_prefetch=1"]

    page.locator(".tile").scroll_into_view_if_needed()
    wait_for_results(page, 2)
    assert prefetch_paths(lab, origin) == [
        "/p/2?edgio_dt_pf=1&edgio_prefetch=1",
        "/p/3?edgio_dt_pf=1&edgio_prefetch=1",
    ], "the watch callback ran when the tile became visible"
    assert errors == []
    context.close()


@pytest.mark.parametrize(
    "connection, reason",
    [({"saveData": True, "effectiveType": "4g"}, "save-data"), ({"saveData": False, "effectiveType": "2g"}, "2g")],
)
def test_constrained_networks_get_no_prefetches(browser, lab, origin_factory, connection, reason):
    origin = origin_factory(shop_routes(range(1, 3), listing_page(["/p/1", "/p/2"])))
    context = lab.context(browser)
    context.add_init_script(f"Object.defineProperty(navigator, 'connection', {{ value: {json.dumps(connection)} }});")
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")
    results = wait_for_results(page, 2)
    assert all(reason in r["skipped"] for r in results)
    assert lab.prefetches(origin.base + "/") == []
    reports = lambda: [r["detail"] for r in lab.records("client-report") if origin.base in r.get("detail", "")]
    assert wait_until(lambda: any(reason in detail for detail in reports())), "the audit says why nothing was prefetched"
    assert errors == []
    context.close()
