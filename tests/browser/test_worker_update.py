"""Editing the rules while a browser has the worker installed: the proxy serves a new manifest, the
worker updates on the next navigation, takes control at once, drops what it stored under the old
rules and behaves by the new ones (here: starts deep fetching).

While the update is under way the test does not message the worker: a service worker is
activated only once the one it replaces has no event pending (skipWaiting or not), so polling
the old worker with status messages could keep the new one waiting, and a message that reaches
the old worker as it is replaced is never answered. The wait is for what the page itself can
see: the new worker active and in control, the old worker's cache deleted by its activation."""

from __future__ import annotations

import pytest

from tests.browser.conftest import listing_page, poll, shop_routes, watch_console
from tests.harness import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

OLD_RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
"""
NEW_RULES = """
rules:
  - match: {path: "/p/:id"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
    deep_fetch:
      - {selector: "img.hero", max_matches: 1, as: image}
  - match: {path: "/images/:name"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
"""

# The page's view once the update is done, asked of no worker: a controller that is the
# registration's activated worker, nothing installing or waiting, and the cache the old worker
# filled deleted (the new worker's activation does that before it claims the page).
UPDATED = """oldCache => navigator.serviceWorker.getRegistration().then(async registration => {
    const controller = navigator.serviceWorker.controller;
    const settled = registration && !registration.installing && !registration.waiting && controller
        && controller === registration.active && controller.state === "activated";
    return Boolean(settled) && !(await caches.keys()).includes(oldCache);
})"""


def test_a_rules_change_updates_the_worker_cleanly(browser, start_lab, origin_factory):
    lab = start_lab(OLD_RULES)
    # No links: every prefetch here is a manual one, so nothing races the worker update.
    origin = origin_factory(shop_routes(range(1, 3), listing_page([])))
    lab.warm(origin.base + "/p/1")
    context = lab.context(browser)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(origin.base + "/")
    page.evaluate("Edgio.ready()")
    first = page.evaluate("Edgio.prefetch('/p/1')")
    assert first["stored"] and first["deep"] == []
    old = page.evaluate("Edgio.workerStatus()")
    assert old["rules"] == 1 and old["keys"] == [origin.base + "/p/1"] and old["controlled"]

    loaded = len(lab.records("rules-loaded"))
    lab.rules_path.write_text(NEW_RULES, encoding="utf-8")
    assert wait_until(lambda: len(lab.records("rules-loaded")) > loaded, timeout=10), "the proxy did not reload its rules"

    page.reload()  # a navigation: the browser checks the worker script and its imported manifest
    poll(page, UPDATED, timeout=30, arg=old["cache"])
    new = page.evaluate("Edgio.workerStatus()")  # the new worker, in control: nothing else to wait for
    assert new["rules"] == 2 and new["cache"] != old["cache"]
    assert new["controlled"], "the new worker took control without another reload"
    assert new["keys"] == [], "what the old worker stored under the old rules is gone"

    lab.warm(origin.base + "/p/2", origin.base + "/images/hero2.png")  # a rules reload empties the edge cache
    second = page.evaluate("Edgio.prefetch('/p/2')")
    assert second["stored"] and [d["url"] for d in second["deep"]] == [
        origin.base + "/images/hero2.png?edgio_dt_pf=1&edgio_prefetch=1"
    ], "the new rules' deep_fetch is in force"
    assert errors == []
    context.close()
