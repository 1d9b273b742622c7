"""mitmproxy reloads the script when it changes: the trail written so far must survive."""

from __future__ import annotations

import os
import time

import pytest

from prefetch_lab.trail import read_records
from tests.harness import ROOT, Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e


def test_a_hot_reload_appends_to_the_trail_instead_of_truncating_it(tmp_path):
    shim = tmp_path / "prefetch.py"  # a copy, so that touching it reloads only this proxy
    shim.write_text(f"import sys\nsys.path.insert(0, {str(ROOT / 'addon')!r})\n"
                    + (ROOT / "addon" / "prefetch.py").read_text())
    trail = tmp_path / "trail.jsonl"
    with Origin({"/a": Reply(200, {"content-type": "text/plain"}, b"a")}) as origin, \
            Mitmdump(tmp_path, {"prefetch_audit_file": str(trail)}, script=shim) as proxy:
        assert proxy.request("GET", f"{origin.base}/a")[0] == 200
        time.sleep(1.1)  # mitmproxy compares mtimes; make the change visible
        os.utime(shim)
        assert wait_until(lambda: sum(r["event"] == "rules-loaded" for r in read_records(trail)) == 2, timeout=15)
        events = [r["event"] for r in read_records(trail)]
    assert events[:2] == ["rules-loaded", "cache-store"] and events.count("rules-loaded") == 2
