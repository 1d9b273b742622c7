"""RFC 9111 mechanisms over the wire in rules mode (the default rules): invalidation by unsafe
methods, CDN-Cache-Control / Surrogate-Control for the edge, the Surrogate-Capability it sends."""

from __future__ import annotations

import pytest

from tests.harness import Mitmdump, Origin, Reply

pytestmark = pytest.mark.e2e

TEXT = {"content-type": "text/plain"}


def test_a_successful_post_invalidates_the_url_and_its_same_origin_location(tmp_path):
    with Origin({
        "/item": Reply(200, TEXT, b"item"),
        "/list": Reply(200, TEXT, b"list"),
        "/other": Reply(200, TEXT, b"other"),
    }) as origin, Mitmdump(tmp_path) as proxy:
        for path in ("/item", "/list", "/other"):
            assert proxy.request("GET", f"{origin.base}{path}")[1]["x-edg-caching-status"] == "cached"
        origin.routes["/item"] = lambda r: Reply(201, {**TEXT, "location": "/list"}, b"") if r.method == "POST" else Reply(200, TEXT, b"item v2")
        assert proxy.request("POST", f"{origin.base}/item", body=b"x")[0] == 201
        assert proxy.request("GET", f"{origin.base}/item")[2] == b"item v2"
        assert proxy.request("GET", f"{origin.base}/list")[1]["x-edg-caching-status"] == "cached"  # refetched
        assert proxy.request("GET", f"{origin.base}/other")[1]["x-edg-caching-status"] == "hit"
        # A failed POST invalidates nothing.
        origin.routes["/item"] = lambda r: Reply(500, TEXT, b"no") if r.method == "POST" else Reply(200, TEXT, b"item v3")
        proxy.request("POST", f"{origin.base}/item", body=b"x")
        assert proxy.request("GET", f"{origin.base}/item")[2] == b"item v2"


def test_cdn_cache_control_and_surrogate_control_speak_to_the_edge(tmp_path):
    routes = {
        "/cdn": Reply(200, {**TEXT, "cache-control": "public, max-age=600", "cdn-cache-control": "no-store"}, b"cdn"),
        "/sc": lambda r: Reply(200, {**TEXT, "cache-control": "no-store",
                                     "surrogate-control": "max-age=600;prefetch-lab"}, r.headers.get("surrogate-capability", "").encode()),
    }
    with Origin(routes) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        assert proxy.request("GET", f"{origin.base}/cdn")[1]["x-edg-caching-status"] == "private"
        _, headers, body = proxy.request("GET", f"{origin.base}/sc")
        assert body == b'prefetch-lab="Surrogate/1.0"' and headers["x-edg-caching-status"] == "cached"
        assert proxy.request("GET", f"{origin.base}/sc")[1]["x-edg-caching-status"] == "hit"
