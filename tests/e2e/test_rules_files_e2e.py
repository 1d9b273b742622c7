"""Rules files in a real mitmdump: a broken file stops the start; edits apply without a restart,
and a broken edit keeps the last good rules."""

from __future__ import annotations

import os
import time

import pytest

from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

PAGES = {path: Reply(200, {"content-type": "text/plain"}, path.encode()) for path in ("/a", "/b")}
RULE = "rules:\n  - match: {{path: {path}}}\n    caching: {{max_age: 1h, service_worker_max_age: 1h}}\n"


def write(path, text: str) -> None:
    path.write_text(text)
    stamp = time.time() + 2  # a distinct mtime even on coarse-grained filesystems
    os.utime(path, (stamp, stamp))


def test_broken_rules_file_at_start_stops_the_proxy_naming_file_and_line(tmp_path):
    rules = tmp_path / "site.yaml"
    rules.write_text("rules:\n  - match: {path: /a}\n    caching: {max_age: soon}\n")
    try:
        proxy = Mitmdump(tmp_path / "conf", {"prefetch_rules": str(rules)})
    except RuntimeError as e:  # exited before it printed its address
        output = str(e)
    else:  # mitmproxy listens first, then its startup error check exits
        assert proxy.proc.wait(15) == 1
        output = proxy.log()
    assert f"{rules}:3" in output and "max_age" in output


def test_rules_edits_apply_live_and_a_broken_edit_keeps_the_last_good_rules(tmp_path):
    rules = tmp_path / "site.yaml"
    write(rules, RULE.format(path="/a"))
    with Origin(PAGES) as origin, Mitmdump(tmp_path / "conf", {"prefetch_rules": str(rules)}) as proxy:

        def cached(path: str) -> bool:
            proxy.request("GET", f"{origin.base}{path}")
            return proxy.request("GET", f"{origin.base}{path}?edgio_prefetch=1")[0] == 200

        assert cached("/a") and not cached("/b")
        write(rules, RULE.format(path="/b"))
        assert wait_until(lambda: cached("/b"), timeout=10)
        write(rules, "rules:\n  - match: {path: /a\n")
        assert wait_until(lambda: "keeping the last good rules" in proxy.log(), timeout=10)
        assert "site.yaml:" in proxy.log()
        assert proxy.proc.poll() is None
        assert cached("/b")  # still the last good rules
