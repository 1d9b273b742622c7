"""scripts/bench_probe.py runs its variants side by side and reports each one's CPU per request
(the values are not checked: it is a measuring tool)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.e2e


def test_probe_reports_every_variant():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_probe.py"), "--case", "hit", "--rounds", "2",
         "--seconds", "0.3", "--requests", "60", "--variants", "floor=scripts/bench_floor.py,addon"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = dict(re.findall(r"^(\w+)\s+(\d+) requests  CPU [\d.]+ ms/request \([\d.]+x\).*errors 0$",
                           done.stdout, re.MULTILINE))
    assert set(rows) == {"floor", "addon"}, done.stdout
    assert all(int(n) > 0 for n in rows.values())
