"""scripts/proxy as the README starts it: listening on loopback only (mitmdump's own default is
every interface, an open proxy for anyone on the network)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_scripts_proxy_listens_on_loopback_only(tmp_path):
    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "proxy"), "-p", "0", "--set", f"confdir={tmp_path}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        for line in proc.stdout:  # bounded: mitmdump prints the line once it listens, or exits
            lines.append(line)
            if "listening at" in line or len(lines) > 50:
                break
        listening = next(line for line in lines if "listening at" in line)
        assert re.search(r"listening at 127\.0\.0\.1:\d+\.", listening), listening
    finally:
        proc.terminate()
        proc.wait(20)
