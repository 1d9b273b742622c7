"""A documentation site built with VitePress from npm (tests/sites/spa_site: its sources; built
once by `scripts/setup.sh --sites` into PREFETCH_LAB_SITES/spa, outside the repository) and served
by static_server.py: client-side routing (a click loads the next page's JavaScript chunk, not a
document) and VitePress's own prefetcher (`<link rel=prefetch>` for the chunks of the links in
view, which Chromium sends with `Sec-Purpose: prefetch`). The request log is JSON lines with the
headers that tell who asked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.sites.server import LoggedRequest, SiteServer, installed, sites_dir

PAGES = ("/", "/guide", "/api", "/faq", "/changelog", "/deploy")
STATIC_SERVER = Path(__file__).with_name("static_server.py")


class SpaServer(SiteServer):
    name = "spa"
    ready_path = "/"

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.root = installed(sites_dir() / "spa" / "docs" / ".vitepress" / "dist", "The VitePress site's build")
        installed(self.root / "index.html", "The VitePress site's index.html")

    def command(self) -> list[str]:
        return [sys.executable, str(STATIC_SERVER), str(self.root), str(self.port), str(self.log_path)]

    def requests(self) -> list[LoggedRequest]:
        found = []
        for text in self.log_path.read_text(errors="replace").splitlines():
            if text.startswith("{"):
                r = json.loads(text)
                found.append(LoggedRequest(r["method"], r["target"], r["status"], r["headers"], r["ts"]))
        return found

    def prefetches(self) -> list[LoggedRequest]:
        """Requests that said they were prefetches (Sec-Purpose: prefetch)."""
        return [r for r in self.requests() if "prefetch" in (r.headers.get("sec-purpose") or "")]


@pytest.fixture
def spa(tmp_path):
    with SpaServer(tmp_path / "spa") as server:
        yield server
