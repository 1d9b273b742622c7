"""Failure isolation between the edge's stages (issue 17): a stage that raises in `response`
must not hold other requests back. The failure here is a real one: mitmdump runs with a file
size limit (RLIMIT_FSIZE) that its trail reaches with the first record after start-up, so every
later trail record raises ("a full disk while writing the trail"), which makes the store stage
raise in `response` after it stored or decided not to store.

On the old layout (PrefetchLab with Collapse and StaleIfError nested as its sub-addons, one
`safecall` for all) the exception skipped Collapse's release: a waiter and every later miss on
the key waited the whole origin timeout; and a background refresh never gave back its key's
revalidation lock. Real mitmdump, real origin."""

from __future__ import annotations

import functools
import resource
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

OPTIONS = {"prefetch_rules": "none", "prefetch_origin_timeout": "20"}
# The start-up record (rules-loaded) fits; the first record of a request does not.
TRAIL_LIMIT = 200
# Far below the origin timeout: a request held back until the timeout cannot finish within it.
NOT_HELD = 8.0


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory):
    """A confdir with mitmproxy's CA already made (its files are larger than the size limit)."""
    confdir = tmp_path_factory.mktemp("ca")
    with Mitmdump(confdir, OPTIONS):
        pass
    return confdir


@contextmanager
def full_disk_proxy(tmp_path, ca_dir):
    shutil.copytree(ca_dir, tmp_path, dirs_exist_ok=True)
    trail = tmp_path / "trail.jsonl"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (TRAIL_LIMIT, resource.RLIM_INFINITY))

    popen = subprocess.Popen
    subprocess.Popen = functools.partial(popen, preexec_fn=limit)
    try:
        proxy = Mitmdump(tmp_path, {**OPTIONS, "prefetch_audit_file": str(trail)})
    finally:
        subprocess.Popen = popen
    with proxy:
        yield proxy
    assert 0 < trail.stat().st_size <= TRAIL_LIMIT  # the trail did hit the limit


def in_background(call) -> threading.Thread:
    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    return thread


def timed_request(proxy: Mitmdump, url: str) -> tuple[int, float]:
    started = time.monotonic()
    status = proxy.request("GET", url)[0]
    return status, time.monotonic() - started


@pytest.mark.parametrize("cache_control", ["max-age=60", "private"], ids=["stored", "not-stored"])
def test_a_raising_store_stage_does_not_hold_back_waiters_or_later_misses(tmp_path, ca_dir, cache_control):
    routes = {"/page": Reply(200, {"content-type": "text/plain", "cache-control": cache_control}, b"p", delay=0.6)}
    with Origin(routes) as origin, full_disk_proxy(tmp_path, ca_dir) as proxy:
        url = f"{origin.base}/page"
        first = in_background(lambda: proxy.request("GET", url))
        assert wait_until(lambda: origin.paths_seen().count("/page") == 1, timeout=5)
        status, waited = timed_request(proxy, url)  # a waiter on the first request
        first.join(10)
        assert status == 200 and waited < NOT_HELD
        for _ in range(2):  # later requests for the key: a hit, or misses that must not wait
            status, waited = timed_request(proxy, url)
            assert status == 200 and waited < NOT_HELD
        if cache_control == "private":
            assert origin.paths_seen().count("/page") == 4  # every request reached the origin
        else:
            assert origin.paths_seen().count("/page") == 1  # the waiter and the later ones were hits


def test_a_raising_store_stage_does_not_leak_a_background_fetch(tmp_path, ca_dir):
    """stale-while-revalidate: each stale hit refreshes the entry in the background, once per key
    at a time. The refresh's `response` raises in the store stage; its key lock must still be
    given back, or no later stale hit refreshes the entry (for the lock's 30 s)."""
    routes = {"/swr": Reply(200, {"content-type": "text/plain",
                                  "cache-control": "max-age=1, stale-while-revalidate=60"}, b"s")}
    with Origin(routes) as origin, full_disk_proxy(tmp_path, ca_dir) as proxy:
        url = f"{origin.base}/swr"
        assert proxy.request("GET", url)[0] == 200  # stored
        for refreshes in (2, 3):
            time.sleep(1.2)  # stale now, inside stale-while-revalidate
            assert proxy.request("GET", url)[0] == 200  # served stale; a refresh starts
            assert wait_until(lambda: origin.paths_seen().count("/swr") == refreshes, timeout=5), \
                f"refresh {refreshes - 1} never reached the origin: {origin.paths_seen()}"
