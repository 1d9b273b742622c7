"""Our Edgio client and the learned predictions (prefetch_edgio_predicted), through the proxy in
Chromium: `only` prefetches the page the graph predicts and none of the other visible links;
`first` prefetches it before them."""

from __future__ import annotations

import pytest

from tests.browser.conftest import listing_page, shop_routes, url_path, wait_for_results

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RULES = """
rules:
  - match: {path: ["/", "/p/:id"]}
    caching: {max_age: 1h, service_worker_max_age: 10m}
"""
NAVIGATE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"}
PRODUCTS = range(1, 6)
PREDICTED = "/p/3"
# One prefetch at a time, so the order they were issued in is the order they finished in.
ONE_AT_A_TIME = "<script>window.__PREFETCH_LAB_OPTIONS__ = {maxConcurrent: 1}</script>"


def trained_shop(lab, origin_factory):
    """A listing linking every product; ten visitors went from it to PREDICTED."""
    origin = origin_factory(shop_routes(PRODUCTS, listing_page([f"/p/{n}" for n in PRODUCTS], head=ONE_AT_A_TIME)))
    for _ in range(10):
        assert lab.proxy.request("GET", origin.base + "/", NAVIGATE)[0] == 200
        assert lab.proxy.request("GET", origin.base + PREDICTED, {**NAVIGATE, "referer": origin.base + "/"})[0] == 200
    lab.warm(*(f"{origin.base}/p/{n}" for n in PRODUCTS))  # plain requests: not page views
    return origin


@pytest.mark.parametrize("mode", ["only", "first"])
def test_the_predicted_page_is_prefetched_first_or_alone(browser, start_lab, origin_factory, mode):
    lab = start_lab(RULES, prefetch_edgio_predicted=mode)
    origin = trained_shop(lab, origin_factory)
    context = lab.context(browser)
    try:
        page = context.new_page()
        page.goto(origin.base + "/")
        results = wait_for_results(page, 1 if mode == "only" else len(PRODUCTS))
        status = page.evaluate("Edgio.status()")
        assert status["predicted"] == [PREDICTED]
        if mode == "only":
            page.wait_for_timeout(1000)  # time for any other (visible) link to be prefetched
            results = page.evaluate("Edgio.status().results")
            assert [url_path(r["url"]).partition("?")[0] for r in results] == [PREDICTED]
        else:
            paths = [url_path(r["url"]).partition("?")[0] for r in results]
            assert paths[0] == PREDICTED and sorted(paths) == sorted(f"/p/{n}" for n in PRODUCTS)
        assert all(r.get("status") == 200 for r in results), results  # from the edge cache
    finally:
        context.close()
