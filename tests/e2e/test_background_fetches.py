"""The edge's own origin fetches, through mitmproxy's client replay in a real mitmdump:
stale-while-revalidate refreshes and warming after a refused prefetch."""

from __future__ import annotations

import itertools
import json
import threading
import time

import pytest

from tests.harness import Mitmdump, Origin, Reply, SeenRequest, wait_until
from tests.site import self_signed_tls

pytestmark = pytest.mark.e2e


def versioned_page(cache_control: str):
    counter = itertools.count(1)

    def reply(_: SeenRequest) -> Reply:
        return Reply(200, {"content-type": "text/plain", "cache-control": cache_control}, f"v{next(counter)}".encode())

    return reply


def test_stale_entry_is_served_once_stale_and_refreshed_in_the_background(tmp_path):
    with Origin({"/news": versioned_page("max-age=1, stale-while-revalidate=60")}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none"}
    ) as proxy:
        url = f"{origin.base}/news"
        assert proxy.request("GET", url)[2] == b"v1"
        time.sleep(1.6)  # past max-age, within stale-while-revalidate
        status, headers, body = proxy.request("GET", url)
        assert (status, headers["x-edg-caching-status"], body) == (200, "stale", b"v1")
        # stale entries can still be prefetched (Edgio's advice for fewer 412s)
        status, headers, body = proxy.request("GET", url + "?edgio_prefetch=1")
        assert status == 200 and body in (b"v1", b"v2")
        assert wait_until(lambda: len(origin.seen) == 2)
        assert wait_until(lambda: proxy.request("GET", url)[1]["x-edg-caching-status"] == "hit")
        assert proxy.request("GET", url)[2] == b"v2"
        assert len(origin.seen) == 2  # one background refresh, not one per stale request


def test_refused_prefetch_warms_the_edge_when_asked(tmp_path):
    with Origin({"/p": versioned_page("max-age=300")}) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none", "prefetch_warm_on_refusal": "true"}
    ) as proxy:
        url = f"{origin.base}/p?id=1&edgio_dt_pf=1&edgio_prefetch=1"
        assert proxy.request("GET", url)[0] == 412
        assert wait_until(lambda: origin.paths_seen() == ["/p?id=1"])
        assert not any("sec-purpose" in r.headers for r in origin.seen)
        assert wait_until(lambda: proxy.request("GET", url)[0] == 200)
        assert origin.paths_seen() == ["/p?id=1"]


def test_without_warming_a_refused_prefetch_stays_cold(tmp_path):
    with Origin({"/p": versioned_page("max-age=300")}) as origin, Mitmdump(tmp_path, {"prefetch_rules": "none"}) as proxy:
        url = f"{origin.base}/p?edgio_prefetch=1"
        assert proxy.request("GET", url)[0] == 412
        assert proxy.request("GET", url)[0] == 412
        # A warming fetch starts in the refused request's own hook: by the time a later request
        # has been through the edge to the origin and back, one would have reached it as well.
        assert proxy.request("GET", f"{origin.base}/sentinel")[0] == 404
        assert origin.paths_seen() == ["/sentinel"]


def test_a_hung_origin_gets_a_gateway_error_and_stalls_no_other_fetch(tmp_path):
    """Stale entries of a hung URL and of a healthy one: both refreshes start at once (no queue),
    and the client asking the hung URL past its freshness gets a gateway error in time."""
    hung = {"on": False}

    def slow(_: SeenRequest) -> Reply:
        return Reply(200, {"content-type": "text/plain", "cache-control": "max-age=1, stale-while-revalidate=60"},
                     b"slow", delay=30 if hung["on"] else 0)

    held = threading.Event()  # /hangs answers only once the test is done with it

    def hangs(_: SeenRequest) -> Reply:
        held.wait(30)
        return Reply(200, {"content-type": "text/plain"}, b"late")

    routes = {"/slow": slow, "/fast": versioned_page("max-age=1, stale-while-revalidate=60"), "/hangs": hangs}
    with Origin(routes) as origin, Mitmdump(
        tmp_path, {"prefetch_rules": "none", "prefetch_origin_timeout": "1"}
    ) as proxy:
        assert proxy.request("GET", f"{origin.base}/slow")[2] == b"slow"
        assert proxy.request("GET", f"{origin.base}/fast")[2] == b"v1"
        time.sleep(1.6)
        hung["on"] = True
        assert proxy.request("GET", f"{origin.base}/slow")[1]["x-edg-caching-status"] == "stale"
        assert proxy.request("GET", f"{origin.base}/fast")[1]["x-edg-caching-status"] == "stale"
        # The fast refresh is not queued behind the hung one.
        assert wait_until(lambda: proxy.request("GET", f"{origin.base}/fast")[2] == b"v2", timeout=1.2)
        status, _, _ = proxy.request("GET", f"{origin.base}/hangs")
        held.set()  # only now: an edge that waited for the origin would have got its 200
        assert status == 504  # the edge's gateway timeout


def test_a_hung_tls_origin_gets_mitmproxys_502_and_the_trail_says_origin_timeout(tmp_path):
    """On a TLS origin connection the edge cannot hand mitmproxy an answer as if read from the
    wire (originfetch.py): it closes the connection, and mitmproxy's 502 it is."""
    trail = tmp_path / "trail.jsonl"
    held = threading.Event()

    def hangs(_: SeenRequest) -> Reply:
        held.wait(30)
        return Reply(200, {"content-type": "text/plain"}, b"late")

    routes = {"/hangs": hangs}
    with Origin(routes, tls=self_signed_tls(tmp_path)) as origin, Mitmdump(tmp_path, {
        "mode": f"reverse:{origin.base}", "ssl_insecure": "true", "prefetch_origin_timeout": "1",
        "prefetch_audit_file": str(trail),
    }) as proxy:
        status, _, _ = proxy.request("GET", f"http://127.0.0.1:{proxy.port}/hangs")
        held.set()  # only now: an edge that waited for the origin would have got its 200
        assert status == 502  # cut at the origin timeout
    errors = [json.loads(line) for line in trail.read_text().splitlines() if '"origin-error"' in line]
    assert [e["reason"].split(":")[0] for e in errors] == ["origin-timeout"]
