"""Trac from PyPI (`Trac==1.6` in a virtualenv of its own, installed by
`scripts/setup.sh --sites`), run by its own server, tracd: every page sets the cookies
`trac_form_token` and `trac_session`, the cookie-heavy app of the audit's tests. Each server has a
fresh environment made by `trac-admin initenv` (SQLite). The request log is tracd's (the common
log format on stderr).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.sites.server import SiteServer, installed, sites_dir

COOKIES = ("trac_form_token", "trac_session")
UNSAFE = re.compile(r"/logout|action=(edit|delete|rename)|/newticket|/admin", re.IGNORECASE)


class TracServer(SiteServer):
    name = "trac"
    ready_path = "/wiki"
    # 127.0.0.1 - - [04/Dec/2026 10:30:36] "GET /wiki HTTP/1.1" 200 -
    line = re.compile(r'"(?P<method>[A-Z]+) (?P<target>\S+) HTTP/[\d.]+" (?P<status>\d{3})')

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        venv = installed(sites_dir() / "trac-venv", "Trac")
        self.bin = installed(venv / "bin", "Trac's virtualenv")
        self.env = workdir / "env"
        subprocess.run([str(self.bin / "trac-admin"), str(self.env), "initenv", "Lab Trac", "sqlite:db/trac.db"],
                       check=True, capture_output=True, timeout=120)

    def command(self) -> list[str]:
        return [str(self.bin / "tracd"), "--single-env", "--http11", "-b", "127.0.0.1", "-p", str(self.port), str(self.env)]

    def unsafe_requests(self) -> list[str]:
        return [r.target for r in self.requests() if r.method != "GET" or UNSAFE.search(r.target)]


@pytest.fixture
def trac(tmp_path):
    with TracServer(tmp_path / "trac") as server:
        yield server
