"""Revalidation by a 304 (RFC 9111 4.3) in a real mitmdump in front of a real origin, in rules
mode and in RFC mode: a stale entry with a validator goes to the origin as a conditional request,
the origin's 304 freshens it, the client gets the stored body, and the next request is a hit."""

from __future__ import annotations

import itertools
import time

import pytest

from tests.harness import Mitmdump, Origin, Reply, SeenRequest, wait_until

pytestmark = pytest.mark.e2e

ETAG = '"v1"'
LAST_MODIFIED = "Wed, 01 Jan 2020 00:00:00 GMT"
BODY = b"the page, version 1 " * 200


def validating_origin(cache_control: str | None):
    """200 with an ETag and Last-Modified; 304 to a request carrying the ETag."""
    headers = {"content-type": "text/plain", "etag": ETAG, "last-modified": LAST_MODIFIED}
    if cache_control:
        headers["cache-control"] = cache_control

    def reply(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == ETAG:
            return Reply(304, {"etag": ETAG, "x-refreshed": "yes", **({"cache-control": cache_control} if cache_control else {})})
        return Reply(200, headers, BODY)

    return reply


def check_revalidation(origin: Origin, proxy: Mitmdump, url: str) -> None:
    status, headers, body = proxy.request("GET", url)
    assert (status, headers["x-edg-caching-status"], body) == (200, "cached", BODY)
    time.sleep(1.6)  # past the 1 s freshness (no stale-while-revalidate)
    status, headers, body = proxy.request("GET", url)
    assert (status, body) == (200, BODY)  # the client gets the full stored body
    assert headers["x-edg-caching-status"] == "revalidated"
    assert headers["x-refreshed"] == "yes"  # stored headers updated from the 304 (RFC 9111 3.2)
    assert len(origin.seen) == 2
    conditional = origin.seen[1].headers
    assert conditional["if-none-match"] == ETAG and conditional["if-modified-since"] == LAST_MODIFIED
    status, headers, body = proxy.request("GET", url)
    assert (status, headers["x-edg-caching-status"], body) == (200, "hit", BODY)  # freshened
    assert len(origin.seen) == 2


def test_rules_mode_revalidates_a_stale_entry_with_a_304(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site.yaml").write_text("rules:\n  - match: {path: /doc}\n    caching: {max_age: 1s}\n")
    with Origin({"/doc": validating_origin(None)}) as origin, Mitmdump(tmp_path, {"prefetch_rules": str(rules)}) as proxy:
        check_revalidation(origin, proxy, f"{origin.base}/doc")


def test_rfc_mode_revalidates_a_stale_entry_with_a_304(tmp_path):
    with Origin({"/doc": validating_origin("max-age=1")}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        check_revalidation(origin, proxy, f"{origin.base}/doc")


def test_the_clients_own_validators_are_answered_by_the_edge_after_a_304(tmp_path):
    with Origin({"/doc": validating_origin("max-age=1")}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/doc"
        assert proxy.request("GET", url)[0] == 200
        time.sleep(1.6)
        status, headers, body = proxy.request("GET", url, {"if-none-match": ETAG})
        assert (status, body) == (304, b"")
        status, _, body = proxy.request("GET", url, {"if-none-match": '"other"'})
        assert (status, body) == (200, BODY)
        assert len(origin.seen) == 2


def test_a_200_replaces_the_stale_entry(tmp_path):
    versions = itertools.count(1)

    def reply(request: SeenRequest) -> Reply:
        n = next(versions)
        return Reply(200, {"content-type": "text/plain", "cache-control": "max-age=1", "etag": f'"v{n}"'}, f"v{n}".encode())

    with Origin({"/doc": reply}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/doc"
        assert proxy.request("GET", url)[2] == b"v1"
        time.sleep(1.6)
        status, headers, body = proxy.request("GET", url)
        assert (status, headers["x-edg-caching-status"], body) == (200, "cached", b"v2")
        assert origin.seen[1].headers["if-none-match"] == '"v1"'
        assert proxy.request("GET", url)[1]["x-edg-caching-status"] == "hit"


def test_a_stale_prefetch_is_refused_and_never_reaches_the_origin(tmp_path):
    with Origin({"/doc": validating_origin("max-age=1")}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/doc"
        assert proxy.request("GET", url)[0] == 200
        time.sleep(1.6)
        assert proxy.request("GET", url + "?edgio_prefetch=1")[0] == 412
        # A refresh would start in the refused request's own hook: a later request's trip to the
        # origin and back gives it the time to arrive first.
        assert proxy.request("GET", f"{origin.base}/sentinel")[0] == 404
        assert [r.path for r in origin.seen] == ["/doc", "/sentinel"]


def test_the_stale_while_revalidate_refresh_sends_the_stored_validators(tmp_path):
    with Origin({"/doc": validating_origin("max-age=1, stale-while-revalidate=60")}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none"}
    ) as proxy:
        url = f"{origin.base}/doc"
        assert proxy.request("GET", url)[0] == 200
        time.sleep(1.6)
        status, headers, body = proxy.request("GET", url)
        assert (status, headers["x-edg-caching-status"], body) == (200, "stale", BODY)
        assert wait_until(lambda: len(origin.seen) == 2)
        assert origin.seen[1].headers.get("if-none-match") == ETAG
        assert wait_until(lambda: proxy.request("GET", url)[1]["x-edg-caching-status"] == "hit")
        status, headers, body = proxy.request("GET", url)
        assert (status, body, headers["x-refreshed"]) == (200, BODY, "yes")
        assert len(origin.seen) == 2
