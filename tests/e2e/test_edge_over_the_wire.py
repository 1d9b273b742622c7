"""A real `mitmdump -s addon/prefetch.py` in front of a real origin on 127.0.0.1, over the wire."""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}
INSTALL_TAG = b'<script src="/__edgio__/prefetch/install.js" defer'


def page(title: str, links: tuple[str, ...] = ()) -> bytes:
    anchors = "".join(f'<a href="{href}">{href}</a>' for href in links)
    return f"<!doctype html><html><head><title>{title}</title></head><body>{anchors}</body></html>".encode()


@pytest.fixture(scope="module")
def origin():
    with Origin(
        {
            "/a": Reply(200, HTML, page("A", ("/b",))),
            "/b": Reply(200, HTML, page("B")),
            "/c": Reply(200, HTML, page("C")),
            "/d": Reply(200, HTML, page("D")),
            "/nostore": Reply(200, {**HTML, "cache-control": "no-store"}, page("secret")),
            "/app.js": Reply(200, {"content-type": "text/javascript"}, b"console.log(1)"),
        }
    ) as server:
        yield server


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory):
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def proxy(origin, audit_path, tmp_path_factory):
    with Mitmdump(tmp_path_factory.mktemp("conf"), {"prefetch_audit_file": str(audit_path)}) as mitm:
        yield mitm


def audit_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def seen(origin: Origin, path: str) -> list[str]:
    return [p for p in origin.paths_seen() if p.split("?")[0] == path]


def test_html_gets_install_js_once_and_a_speculation_rules_header(proxy, origin):
    status, headers, body = proxy.request("GET", f"{origin.base}/a")
    assert status == 200
    assert body.count(INSTALL_TAG) == 1
    assert body.index(INSTALL_TAG) < body.index(b"</body>")
    assert headers["speculation-rules"] == '"/__edgio__/speculation-rules.json"'
    # Streamed: the tag changed the length, so the body is chunked (or, if given, the length fits).
    assert int(headers["content-length"]) == len(body) if "content-length" in headers else headers["transfer-encoding"] == "chunked"
    assert seen(origin, "/a") == ["/a"]


def test_edge_files_are_served_by_the_proxy_never_the_origin(proxy, origin):
    status, headers, body = proxy.request("GET", f"{origin.base}/__edgio__/speculation-rules.json")
    assert status == 200
    assert headers["content-type"] == "application/speculationrules+json"
    rules = json.loads(body)
    [rule] = rules["prefetch"]
    # Chromium rejects a document rule with relative_to outside "where": it goes on href_matches.
    assert rule["source"] == "document" and "relative_to" not in rule
    assert rule["where"]["and"][0] == {"href_matches": "/*", "relative_to": "document"}
    assert rule["eagerness"] == "conservative"

    status, headers, body = proxy.request("GET", f"{origin.base}/__edgio__/prefetch/install.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and body

    status, headers, body = proxy.request("GET", f"{origin.base}/__edgio__/cache-manifest.js")
    assert status == 200 and body.startswith(b"self.__EDGIO_CACHE_MANIFEST__")

    status, headers, _ = proxy.request("GET", f"{origin.base}/__edgio__/prefetch/service-worker.js")
    assert status == 200 and headers["service-worker-allowed"] == "/"
    assert not [p for p in origin.paths_seen() if "__edgio__" in p]


def test_cold_prefetch_is_refused_and_the_origin_sees_nothing(proxy, origin):
    status, headers, body = proxy.request("GET", f"{origin.base}/c?edgio_dt_pf=1&edgio_prefetch=1")
    assert status == 412
    assert body == b""
    assert headers["vary"] == "Sec-Purpose"
    assert headers["x-edg-p"] == "1"
    assert "retry-after" not in headers
    assert "not-cached" in headers["x-prefetch-lab-refused"]

    status, _, _ = proxy.request("GET", f"{origin.base}/c", {"Sec-Purpose": "prefetch"})
    assert status == 412
    assert seen(origin, "/c") == []


def test_prefetch_after_a_normal_visit_is_served_from_cache(proxy, origin):
    status, headers, first = proxy.request("GET", f"{origin.base}/b")
    assert status == 200 and headers["x-edg-caching-status"] == "cached"

    status, headers, body = proxy.request("GET", f"{origin.base}/b?edgio_dt_pf=1&edgio_prefetch=1")
    assert status == 200
    assert headers["x-edg-caching-status"] == "hit"
    assert headers["x-edg-p"] == "1"
    assert headers["x-sw-cache-control"].startswith("max-age=")
    assert int(headers["age"]) >= 0
    assert body == first

    status, headers, _ = proxy.request("GET", f"{origin.base}/b", {"Sec-Purpose": "prefetch"})
    assert status == 200 and headers["x-edg-caching-status"] == "hit"
    assert seen(origin, "/b") == ["/b"]


def test_include_cache_misses_goes_to_the_origin_without_edgio_params(proxy, origin):
    status, headers, _ = proxy.request("GET", f"{origin.base}/d?x=1&edgio_dt_pf=1&edgio_prefetch_ttl=60")
    assert status == 200
    assert seen(origin, "/d") == ["/d?x=1"]
    # and it filled the cache: the gated prefetch of the same URL is now a hit
    status, headers, _ = proxy.request("GET", f"{origin.base}/d?x=1&edgio_prefetch=1&edgio_dt_pf=1")
    assert status == 200 and headers["x-edg-caching-status"] == "hit"
    assert not [p for p in origin.paths_seen() if "edgio_" in p]


def test_no_store_is_never_cached_nor_prefetched(proxy, origin):
    for _ in range(2):
        status, headers, _ = proxy.request("GET", f"{origin.base}/nostore")
        assert status == 200 and headers["x-edg-caching-status"] == "private"
    status, _, _ = proxy.request("GET", f"{origin.base}/nostore?edgio_dt_pf=1&edgio_prefetch=1")
    assert status == 412
    assert seen(origin, "/nostore") == ["/nostore", "/nostore"]


def test_dead_origin_gives_a_clean_error_and_prefetches_stay_local(proxy):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    status, _, _ = proxy.request("GET", f"{dead}/page")
    assert status == 502
    status, _, body = proxy.request("GET", f"{dead}/page?edgio_dt_pf=1&edgio_prefetch=1")
    assert status == 412 and body == b""
    assert proxy.proc.poll() is None


def test_the_audit_trail_records_each_decision(proxy, origin, audit_path):
    proxy.request("GET", f"{origin.base}/app.js")
    proxy.request("GET", f"{origin.base}/app.js?edgio_prefetch=1")
    assert wait_until(lambda: any(r["event"] == "prefetch-hit" and "/app.js" in r["url"] for r in audit_records(audit_path)))
    records = audit_records(audit_path)
    events = {r["event"] for r in records}
    assert {"rules-loaded", "injected", "synthetic", "cache-store", "prefetch-hit", "prefetch-refused", "cache-bypass", "origin-error"} <= events
    refused = [r for r in records if r["event"] == "prefetch-refused"]
    assert all(r["status"] == 412 and r["reason"] for r in refused)
    hit = next(r for r in records if r["event"] == "prefetch-hit" and "/app.js" in r["url"])
    assert hit["prefetch"] == "edgio" and hit["url"].endswith("/app.js?edgio_prefetch=1")
    assert hit["cache_key"].endswith("/app.js")


def test_reverse_mode_needs_no_browser_configuration(origin, tmp_path):
    with Mitmdump(tmp_path, extra_args=["--mode", f"reverse:{origin.base}"]) as reverse:
        front = reverse.address
        status, headers, body = reverse.request("GET", f"{front}/a")
        assert status == 200 and body.count(INSTALL_TAG) == 1
        status, headers, body = reverse.request("GET", f"{front}/__edgio__/speculation-rules.json")
        assert status == 200 and json.loads(body)["prefetch"]
        before = len(origin.seen)
        assert reverse.request("GET", f"{front}/never-seen?edgio_prefetch=1")[0] == 412
        assert len(origin.seen) == before


def test_every_option_is_listed_with_help_text():
    import subprocess
    import sys

    from tests.harness import ROOT

    listing = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "options.py")], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    options = re.findall(r"((?:#.*\n)+)(prefetch_\w+):", listing)
    assert {name for _, name in options} == {
        "prefetch_rules", "prefetch_inject", "prefetch_inject_at", "prefetch_include_cache_misses",
        "prefetch_force_ratio", "prefetch_refusal_status", "prefetch_warm_on_refusal", "prefetch_eagerness",
        "prefetch_cache_mb", "prefetch_audit_file", "prefetch_edge_delay_ms", "prefetch_origin_delay_ms",
        "prefetch_origin_timeout", "prefetch_client", "prefetch_speculation", "prefetch_learned_thresholds",
        "prefetch_traversal_file", "prefetch_learn", "prefetch_edgio_predicted",
        "prefetch_learn_views_per_minute", "prefetch_learned_min_visitors", "prefetch_learn_visitor_header",
        "prefetch_gate",
    }
    assert all(len(help_text) > 40 for help_text, _ in options)
    assert "listen_port:" in listing  # mitmdump's own options are there too
