"""Issue 9's safety points, over the wire: a real `mitmdump -s addon/prefetch.py` (forward mode,
default rules unless said otherwise) in front of a real origin on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import threading
import time

import pytest

from tests.harness import Mitmdump, Origin, Reply, SeenRequest, wait_until

pytestmark = pytest.mark.e2e

TEXT = {"content-type": "text/plain"}


def audit_records(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def seen(origin: Origin, path: str) -> int:
    return sum(1 for p in origin.paths_seen() if p.split("?")[0] == path)


def personalised(request: SeenRequest) -> Reply:
    """A dashboard that depends on the session cookie and sets none: no caching headers."""
    return Reply(200, TEXT, f"page for {request.headers.get('cookie', 'nobody')}".encode())


@pytest.fixture()
def trail(tmp_path):
    return tmp_path / "trail.jsonl"


def test_a_cookie_bearing_response_is_never_shared_with_other_cookies_or_none(tmp_path, trail):
    routes = {"/dashboard": personalised, "/public": lambda r: Reply(200, {**TEXT, "cache-control": "public, max-age=60"},
                                                                   f"public for {r.headers.get('cookie')}".encode())}
    with Origin(routes) as origin, Mitmdump(tmp_path, {"prefetch_audit_file": str(trail)}) as proxy:
        url = f"{origin.base}/dashboard"
        status, headers, body = proxy.request("GET", url, {"Cookie": "session=alice"})
        assert (status, body) == (200, b"page for session=alice")
        assert headers["x-edg-caching-status"] == "cached-per-cookie"

        _, headers, body = proxy.request("GET", url, {"Cookie": "session=bob"})
        assert body == b"page for session=bob" and headers["x-edg-caching-status"] == "cached-per-cookie"
        _, headers, body = proxy.request("GET", url)
        assert body == b"page for nobody" and headers["x-edg-caching-status"] == "cached"
        assert seen(origin, "/dashboard") == 3

        # Alice again, now with analytics cookies too, and her browser's own prefetch: hits.
        _, headers, body = proxy.request("GET", url, {"Cookie": "_ga=GA1.1.1.1; session=alice; _gid=x; _hjSession_1=y"})
        assert body == b"page for session=alice" and headers["x-edg-caching-status"] == "hit"
        status, headers, body = proxy.request("GET", url, {"Cookie": "session=alice", "Sec-Purpose": "prefetch"})
        assert (status, body, headers["x-edg-caching-status"]) == (200, b"page for session=alice", "hit")
        status, _, body = proxy.request("GET", f"{url}?edgio_dt_pf=1&edgio_prefetch=1", {"Cookie": "session=bob"})
        assert (status, body) == (200, b"page for session=bob")
        # Carol's prefetch finds nothing of hers: refused, and the origin sees nothing.
        status, _, body = proxy.request("GET", url, {"Cookie": "session=carol", "Sec-Purpose": "prefetch"})
        assert (status, body) == (412, b"")
        assert seen(origin, "/dashboard") == 3

        # The origin said public: shared whatever the cookies.
        proxy.request("GET", f"{origin.base}/public", {"Cookie": "session=alice"})
        _, headers, body = proxy.request("GET", f"{origin.base}/public", {"Cookie": "session=bob"})
        assert body == b"public for session=alice" and headers["x-edg-caching-status"] == "hit"
    stores = [r for r in audit_records(trail) if r["event"] == "cache-store" and r["url"].endswith("/dashboard")]
    assert [(r["caching_status"], r.get("cookies")) for r in stores] == [
        ("cached-per-cookie", ["session"]), ("cached-per-cookie", ["session"]), ("cached", None)]


def test_a_rule_can_say_cookies_do_not_matter(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "site.yaml").write_text(
        "rules:\n  - match: {path: /catalogue}\n    caching: {max_age: 5m, cache_key_ignore_cookies: true}\n")
    with Origin({"/catalogue": personalised}) as origin, \
            Mitmdump(tmp_path, {"prefetch_rules": str(rules)}) as proxy:
        proxy.request("GET", f"{origin.base}/catalogue", {"Cookie": "session=alice"})
        _, headers, body = proxy.request("GET", f"{origin.base}/catalogue", {"Cookie": "session=bob"})
        assert body == b"page for session=alice" and headers["x-edg-caching-status"] == "hit"
        assert seen(origin, "/catalogue") == 1


def test_an_absolute_url_with_another_host_header_never_shares_an_entry(tmp_path):
    def by_host(request: SeenRequest) -> Reply:
        return Reply(200, {**TEXT, "cache-control": "max-age=60"}, f"site {request.headers['host']}".encode())

    with Origin({"/h": by_host}) as origin, Mitmdump(tmp_path) as proxy:
        url = f"{origin.base}/h"
        _, _, a = proxy.request("GET", url, {"Host": "a.example"})
        _, _, b = proxy.request("GET", url, {"Host": "b.example"})
        _, _, own = proxy.request("GET", url)
        assert (a, b) == (b"site a.example", b"site b.example")
        assert own == f"site 127.0.0.1:{origin.port}".encode()
        assert seen(origin, "/h") == 3
        _, headers, again = proxy.request("GET", url, {"Host": "b.example"})  # its own entry still hits
        assert again == b"site b.example" and headers["x-edg-caching-status"] == "hit"


def test_a_truncated_gzip_body_is_always_sent_as_stored_with_its_label(tmp_path):
    broken = gzip.compress(b"hello world " * 200)[:-20]
    headers = {**TEXT, "content-encoding": "gzip", "cache-control": "max-age=60"}
    good = gzip.compress(b"fine " * 100)
    routes = {"/broken": Reply(200, headers, broken), "/good": Reply(200, headers, good)}
    with Origin(routes) as origin, Mitmdump(tmp_path) as proxy:
        _, first, body = proxy.request("GET", f"{origin.base}/broken", {"Accept-Encoding": "gzip"})
        assert body == broken and first["content-encoding"] == "gzip" and first["x-edg-caching-status"] == "cached"
        for accept in ("identity", None):  # a client that cannot take gzip: what the origin sent, labelled
            _, plain, body = proxy.request("GET", f"{origin.base}/broken", {"Accept-Encoding": accept} if accept else {})
            assert (plain["x-edg-caching-status"], plain.get("content-encoding"), body) == ("hit", "gzip", broken)
        # A body that decodes is still decoded for such a client.
        proxy.request("GET", f"{origin.base}/good", {"Accept-Encoding": "gzip"})
        _, plain, body = proxy.request("GET", f"{origin.base}/good")
        assert "content-encoding" not in plain and body == b"fine " * 100
        assert seen(origin, "/broken") == 1


def test_an_emptied_rules_file_keeps_the_last_good_rules_until_rules_is_written_empty(tmp_path, trail):
    rules = tmp_path / "rules"
    rules.mkdir()
    site = rules / "site.yaml"
    site.write_text("rules:\n  - match: {path: /p}\n    caching: {max_age: 5m}\n"
                    "  - match: {path: /admin}\n    caching: {bypass_cache: true}\n")
    with Origin({"/p": Reply(200, TEXT, b"p"), "/admin": Reply(200, TEXT, b"admin")}) as origin, \
            Mitmdump(tmp_path, {"prefetch_rules": str(rules), "prefetch_audit_file": str(trail)}) as proxy:
        site.write_text("")  # an editor truncating before it writes, or `> site.yaml`
        assert wait_until(lambda: any(r["event"] == "rules-error" for r in audit_records(trail)), timeout=10)
        [error] = [r for r in audit_records(trail) if r["event"] == "rules-error"]
        assert "empty" in error["reason"] and "rules: []" in error["reason"]
        assert "keeping the last good rules" in proxy.log()
        # Still the old rules: /p is cached by its max_age, /admin is bypassed.
        assert proxy.request("GET", f"{origin.base}/p")[1]["x-edg-caching-status"] == "cached"
        assert proxy.request("GET", f"{origin.base}/admin")[1]["x-edg-caching-status"] == "bypassed"
        time.sleep(1.1)  # a new mtime
        site.write_text("rules: []\n")
        assert wait_until(lambda: [r.get("rules") for r in audit_records(trail) if r["event"] == "rules-loaded"][-1] == 0,
                          timeout=10)
        assert proxy.request("GET", f"{origin.base}/admin")[1]["x-edg-caching-status"] != "bypassed"


def _concurrently(n: int, call) -> list:
    results: list = [None] * n
    start = threading.Barrier(n)

    def one(i: int) -> None:
        start.wait()
        results[i] = call()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_64_concurrent_misses_reach_the_origin_once_and_a_cold_prefetch_never(tmp_path):
    routes = {
        "/slow": Reply(200, {**TEXT, "cache-control": "max-age=60"}, b"slow page", delay=1.0),
        "/private": Reply(200, {**TEXT, "cache-control": "private"}, b"mine", delay=0.5),
    }
    with Origin(routes) as origin, Mitmdump(tmp_path) as proxy:
        url = f"{origin.base}/slow"
        results = _concurrently(64, lambda: proxy.request("GET", url))
        assert [(status, body) for status, _, body in results] == [(200, b"slow page")] * 64
        assert seen(origin, "/slow") == 1
        statuses = sorted(headers["x-edg-caching-status"] for _, headers, _ in results)
        assert statuses == ["cached"] + ["hit"] * 63

        # Not cacheable: the waiters are released to the origin, each gets its own answer.
        results = _concurrently(8, lambda: proxy.request("GET", f"{origin.base}/private"))
        assert [(status, body) for status, _, body in results] == [(200, b"mine")] * 8
        assert seen(origin, "/private") == 8

        # The gate is unchanged: a cold prefetch while a miss is in flight is refused at once. The
        # origin holds the miss until the prefetch has its answer: a prefetch that waited on the
        # miss would get the stored 200 (after the hold), not the 412.
        release = threading.Event()
        origin.routes["/cold"] = lambda _: release.wait(20) and Reply(200, {**TEXT, "cache-control": "max-age=60"}, b"cold")
        miss = threading.Thread(target=proxy.request, args=("GET", f"{origin.base}/cold"))
        miss.start()
        assert wait_until(lambda: seen(origin, "/cold") == 1, timeout=5)
        status, _, _ = proxy.request("GET", f"{origin.base}/cold", {"Sec-Purpose": "prefetch"})
        release.set()
        assert status == 412
        miss.join(10)
        assert seen(origin, "/cold") == 1
        assert proxy.request("GET", f"{origin.base}/cold", {"Sec-Purpose": "prefetch"})[0] == 200
