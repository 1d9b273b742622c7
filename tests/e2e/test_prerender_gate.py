"""Prerender at the edge: the prerendered document is gated like a prefetch (from cache, else a
503 without Retry-After), while what that page loads to render (which Chromium sends with the same
`Sec-Purpose: prefetch;prerender`, observed in tests/browser/test_learned_rules_chromium.py) goes
through as ordinary requests."""

from __future__ import annotations

import pytest

from tests.harness import Mitmdump, Origin, Reply

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}
PRERENDER = "prefetch;prerender"


@pytest.fixture(scope="module")
def origin():
    with Origin({
        "/page": Reply(200, HTML, b"<!doctype html><link rel=stylesheet href=/style.css><p>page</p>"),
        "/cold": Reply(200, HTML, b"<!doctype html><p>cold</p>"),
        "/style.css": Reply(200, {"content-type": "text/css"}, b"p{color:red}"),
        "/hero.png": Reply(200, {"content-type": "image/png"}, b"\x89PNG"),
    }) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(origin, tmp_path_factory):
    with Mitmdump(tmp_path_factory.mktemp("conf")) as mitm:
        yield mitm


def seen(origin: Origin, path: str) -> int:
    return sum(r.path.split("?")[0] == path for r in origin.seen)


def test_an_uncached_prerender_is_refused_with_503_and_never_reaches_the_origin(proxy, origin):
    status, headers, body = proxy.request("GET", f"{origin.base}/cold", {"sec-purpose": PRERENDER, "sec-fetch-dest": "document"})
    assert (status, body) == (503, b"") and "retry-after" not in headers
    assert seen(origin, "/cold") == 0


def test_a_cached_page_is_prerendered_from_the_edge(proxy, origin):
    assert proxy.request("GET", f"{origin.base}/page")[0] == 200  # a visitor warms the edge
    status, headers, _ = proxy.request("GET", f"{origin.base}/page", {"sec-purpose": PRERENDER, "sec-fetch-dest": "document"})
    assert status == 200 and headers["x-edg-caching-status"] == "hit"
    assert seen(origin, "/page") == 1


@pytest.mark.parametrize("path, dest", [("/style.css", "style"), ("/hero.png", "image")])
def test_the_prerendered_pages_subresources_are_fetched_even_when_cold(proxy, origin, path, dest):
    status, _, _ = proxy.request("GET", f"{origin.base}{path}", {"sec-purpose": PRERENDER, "sec-fetch-dest": dest})
    assert status == 200
    assert seen(origin, path) == 1
