"""Nothing of ours stays in the browser (issue 22). A profile gets our service worker through the
proxy; then the proxy is gone and the same site is reached directly: after one navigation the
worker has unregistered itself and its caches are gone. And when the edge stops injecting
Edgio's client (`prefetch_inject` without edgio, as `prefetch.forget` sets it), a browser that
still has the worker is served one that removes itself."""

from __future__ import annotations

import pytest

from tests.browser.conftest import listing_page, poll, shop_routes
from tests.harness import CHROMIUM, CHROMIUM_ARGS, playwright

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
"""
OURS = "navigator.serviceWorker.getRegistrations().then(rs => rs.map(r => r.scope))"
CACHES = "caches.keys().then(names => names.filter(n => n.startsWith('prefetch-lab-')))"
GONE = f"Promise.all([{OURS}, {CACHES}]).then(([rs, cs]) => rs.length === 0 && cs.length === 0)"


def persistent(profile, proxy=None):
    options = {"proxy": {"server": proxy.address}} if proxy else {}
    return playwright().chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, **options)


def first_page(context):
    return context.pages[0] if context.pages else context.new_page()


def profile_with_our_worker(start_lab, origin_factory, profile):
    """A profile that got our worker (and a cache of ours) through the proxy; the site's origin."""
    lab = start_lab(RULES)
    origin = origin_factory(shop_routes(range(1, 3), listing_page([])))
    lab.warm(origin.base + "/p/1")
    with persistent(profile, lab.proxy) as context:
        page = first_page(context)
        page.goto(origin.base + "/")
        page.evaluate("Edgio.ready()")
        assert page.evaluate("Edgio.prefetch('/p/1')")["stored"]
        assert poll(page, f"Promise.all([{OURS}, {CACHES}]).then(([rs, cs]) => rs.length === 1 && cs.length === 1)")
    return origin


def test_the_worker_leaves_when_the_site_is_reached_without_the_proxy(start_lab, origin_factory, tmp_path):
    origin = profile_with_our_worker(start_lab, origin_factory, tmp_path / "profile")
    with persistent(tmp_path / "profile") as context:  # no proxy: the site itself answers
        page = first_page(context)
        response = page.goto(origin.base + "/")
        assert "x-prefetch-lab-edge" not in response.headers  # the site itself answered
        assert poll(page, GONE, timeout=30), "our worker or its caches stayed after a navigation without the edge"


def test_without_edgios_client_the_edge_serves_a_worker_that_removes_itself(start_lab, origin_factory, tmp_path):
    origin = profile_with_our_worker(start_lab, origin_factory, tmp_path / "profile")
    off = start_lab(RULES, prefetch_inject="speculation")  # the same profile, an edge without Edgio's client
    with persistent(tmp_path / "profile", off.proxy) as context:
        page = first_page(context)
        page.goto(origin.base + "/")  # the navigation's update check fetches the worker script again
        assert poll(page, GONE, timeout=30), "the worker did not remove itself"
