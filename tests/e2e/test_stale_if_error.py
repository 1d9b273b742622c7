"""Stale-if-error (RFC 5861) in a real mitmdump in front of a real origin: a stale entry inside
its window answers an origin that is down (connection refused), hangs past
`prefetch_origin_timeout`, or answers 503; past the window the client gets the failure. Also a
304 that freshens, and one whose ETag selects no stored response (RFC 9111 4.3.4)."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.harness import Mitmdump, Origin, Reply, SeenRequest

pytestmark = pytest.mark.e2e

BODY = bytes(range(256)) * 40  # every byte value: the stale answer must be byte-exact
BINARY = {"content-type": "application/octet-stream"}


def trail(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def switchable(cache_control: str, failing: dict, **extra: str):
    """The page while `failing["how"]` is None; then a 503, or a hang until `failing["held"]` is set."""

    def reply(_: SeenRequest) -> Reply:
        if failing["how"] == "503":
            return Reply(503, {"content-type": "text/plain", "retry-after": "5"}, b"origin down for maintenance")
        if failing["how"] == "hang":
            failing.setdefault("held", threading.Event()).wait(30)
        return Reply(200, {**BINARY, "cache-control": cache_control, **extra}, BODY)

    return reply


def wait_for_age(stored_at: float, age: float) -> None:
    time.sleep(max(0.0, stored_at + age - time.monotonic()))


def assert_stale_if_error(response, reason_part: str, audit: list[dict]) -> None:
    status, headers, body = response
    assert (status, headers["x-edg-caching-status"]) == (200, "stale-if-error")
    assert body == BODY
    record = [r for r in audit if r["event"] == "cache-stale" and r.get("caching_status") == "stale-if-error"][-1]
    assert reason_part in record["reason"]


def test_a_stopped_origin_gets_the_stale_entry_inside_the_window_and_the_error_after(tmp_path):
    failing = {"how": None}
    origin = Origin({"/asset": switchable("max-age=1, stale-if-error=2", failing)})
    with Mitmdump(tmp_path, {"prefetch_rules": "none", "prefetch_audit_file": str(tmp_path / "t.jsonl")}) as proxy:
        url = f"{origin.base}/asset"
        status, headers, body = proxy.request("GET", url)
        stored_at = time.monotonic()
        assert (status, headers["x-edg-caching-status"], body) == (200, "cached", BODY)
        origin.stop()  # connection refused from now on
        wait_for_age(stored_at, 1.2)
        assert_stale_if_error(proxy.request("GET", url), "error", trail(tmp_path / "t.jsonl"))
        assert f"prefetch-lab: {url}: edge hit (stale-if-error) (origin error: " in proxy.log()  # the console
        # A prefetch keeps the gate: what is not servable as is, is refused.
        assert proxy.request("GET", url + "?edgio_prefetch=1")[0] == 412
        wait_for_age(stored_at, 3.2)  # age 3: past max-age + stale-if-error
        status, headers, _ = proxy.request("GET", url)
        assert status == 502 and headers.get("x-edg-caching-status") != "stale-if-error"


def test_a_hung_origin_gets_the_stale_entry_after_the_timeout_and_the_error_after_the_window(tmp_path):
    failing = {"how": None}
    with Origin({"/asset": switchable("max-age=1, stale-if-error=3", failing)}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none", "prefetch_origin_timeout": "1", "prefetch_audit_file": str(tmp_path / "t.jsonl")}
    ) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[2] == BODY
        stored_at = time.monotonic()
        failing["how"], failing["held"] = "hang", threading.Event()  # the origin answers only at the end
        wait_for_age(stored_at, 1.1)
        # Answered while the origin still hangs, after the edge's timeout (the trail says so).
        assert_stale_if_error(proxy.request("GET", url), "timeout", trail(tmp_path / "t.jsonl"))
        wait_for_age(stored_at, 4.2)  # age 4: past the window
        status, headers, _ = proxy.request("GET", url)
        failing["held"].set()
        assert status == 504 and headers.get("x-edg-caching-status") != "stale-if-error"
        error = [r for r in trail(tmp_path / "t.jsonl") if r["event"] == "origin-error"][-1]
        assert (error["status"], error["reason"]) == (504, "origin-timeout: no response headers in 1s")


def test_a_503_gets_the_stale_entry_in_rules_mode_and_passes_after_the_window(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site.yaml").write_text("rules:\n  - match: {path: /asset}\n    caching: {max_age: 1s, stale_if_error: 2s}\n")
    failing = {"how": None}
    with Origin({"/asset": switchable("max-age=0", failing)}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": str(rules), "prefetch_audit_file": str(tmp_path / "t.jsonl")}
    ) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[1]["x-edg-caching-status"] == "cached"
        stored_at = time.monotonic()
        failing["how"] = "503"
        wait_for_age(stored_at, 1.2)
        assert_stale_if_error(proxy.request("GET", url), "status 503", trail(tmp_path / "t.jsonl"))
        assert len(origin.seen) == 2  # the edge asked the origin, which failed
        # The gate is unchanged: a prefetch never reaches the origin, and stale is not "as is".
        assert proxy.request("GET", url, {"Sec-Purpose": "prefetch"})[0] == 412
        assert len(origin.seen) == 2
        wait_for_age(stored_at, 3.2)
        status, _, body = proxy.request("GET", url)
        assert (status, body) == (503, b"origin down for maintenance")


def test_a_503_with_its_own_max_age_neither_answers_nor_replaces_the_entry_in_rfc_mode(tmp_path):
    # RFC mode stores a 5xx that has explicit freshness, but not over an entry inside its window.
    failing = {"how": None}
    with Origin({"/asset": switchable("max-age=1, stale-if-error=60", failing)}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none", "prefetch_audit_file": str(tmp_path / "t.jsonl")}
    ) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[1]["x-edg-caching-status"] == "cached"
        stored_at = time.monotonic()
        origin.routes["/asset"] = Reply(503, {"content-type": "text/plain", "cache-control": "max-age=600"}, b"down")
        wait_for_age(stored_at, 1.2)
        for _ in range(2):
            assert_stale_if_error(proxy.request("GET", url), "status 503", trail(tmp_path / "t.jsonl"))
        assert len(origin.seen) == 3  # each time the edge asked, and the 503 was not stored


def test_without_stale_if_error_the_503_passes_through(tmp_path):
    failing = {"how": None}
    with Origin({"/asset": switchable("max-age=1", failing)}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[2] == BODY
        failing["how"] = "503"
        time.sleep(1.2)
        assert proxy.request("GET", url)[0] == 503


def test_inside_the_window_a_304_freshens_the_entry(tmp_path):
    def reply(request: SeenRequest) -> Reply:
        if request.headers.get("if-none-match") == '"v1"':
            return Reply(304, {"etag": '"v1"', "cache-control": "max-age=60, stale-if-error=60"})
        return Reply(200, {**BINARY, "etag": '"v1"', "cache-control": "max-age=1, stale-if-error=60"}, BODY)

    with Origin({"/asset": reply}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[2] == BODY
        time.sleep(1.2)
        status, headers, body = proxy.request("GET", url)
        assert (status, headers["x-edg-caching-status"], body) == (200, "revalidated", BODY)
        assert origin.seen[1].headers.get("if-none-match") == '"v1"'
        status, headers, body = proxy.request("GET", url, {"if-none-match": '"v1"'})
        assert (status, headers["x-edg-caching-status"], body) == (304, "hit", b"")
        assert len(origin.seen) == 2


def test_a_304_with_another_strong_etag_freshens_nothing(tmp_path):
    versions = {"current": 1}

    def reply(request: SeenRequest) -> Reply:
        etag = f'"v{versions["current"]}"'
        if request.headers.get("if-none-match"):
            return Reply(304, {"etag": etag, "cache-control": "max-age=60"})  # a 304 that names another ETag
        return Reply(200, {**BINARY, "etag": etag, "cache-control": "max-age=1"}, BODY + etag.encode())

    with Origin({"/asset": reply}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/asset"
        assert proxy.request("GET", url)[2] == BODY + b'"v1"'
        versions["current"] = 2
        time.sleep(1.2)
        status, headers, body = proxy.request("GET", url)
        assert (status, body) == (200, BODY + b'"v2"')  # not v1 freshened by a 304 about v2
        assert [r.headers.get("if-none-match") for r in origin.seen] == [None, '"v1"', None]
        status, headers, body = proxy.request("GET", url)
        assert (status, headers["x-edg-caching-status"], body) == (200, "hit", BODY + b'"v2"')
