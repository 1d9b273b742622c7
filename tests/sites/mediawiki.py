"""MediaWiki as Debian packages it (SQLite, PHP's built-in server), for audits of a wiki: edit,
history, purge, watch, delete and log-out links on every page, Special: pages.

`scripts/setup.sh --sites` installs the packages and runs MediaWiki's own installer once into
PREFETCH_LAB_SITES/mediawiki (LocalSettings.php, the SQLite files, the pages of
tests/sites/mediawiki_pages/); each server here gets its own copy of the data folder, so what one
test does to the wiki no other test sees. The request log is PHP's: one line per request with its
status, method and target.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.sites.server import SiteServer, installed, sites_dir

MEDIAWIKI = Path("/usr/share/mediawiki")
# The URLs that change a wiki's state (or would, once confirmed): never to be requested.
UNSAFE = re.compile(r"action=(edit|submit|purge|watch|unwatch|delete|protect|rollback|markpatrolled)"
                    r"|Special:(UserLogout|Upload|MovePage|Block)", re.IGNORECASE)
PAGES = ("Main_Page", "Alpha", "Beta", "Gamma", "Delta")
# A cookie banner, as many wikis add one (here by a hook, as an extension would, at the end of the
# body): fixed over the top of the viewport, where the wiki's header, personal links and tabs are.
BANNER_HOOK = """$wgHooks['SkinAfterBottomScripts'][] = function ($skin, &$text) {
  $text .= '<div id="cookie-banner" style="position:fixed;top:0;left:0;right:0;height:150px;'
    . 'background:#eee;z-index:1000;font-size:20px">This wiki uses cookies.</div>';
};
"""


class MediaWikiServer(SiteServer):
    name = "mediawiki"
    ready_path = "/index.php/Main_Page"
    # [Fri Dec  4 10:29:30 2026] 127.0.0.1:35328 [200]: GET /index.php/Alpha
    line = re.compile(r"\[(?P<status>\d{3})\]: (?P<method>[A-Z]+) (?P<target>\S+)")

    def __init__(self, workdir: Path, banner: bool = True) -> None:
        super().__init__(workdir)
        template = installed(sites_dir() / "mediawiki", "MediaWiki")
        self.settings = installed(template / "LocalSettings.php", "MediaWiki's LocalSettings.php")
        self.data = workdir / "data"
        shutil.copytree(template / "data", self.data, dirs_exist_ok=True)
        if banner:  # this server's settings: the installed ones, and a cookie banner on every page
            self.settings = workdir / "LocalSettings.php"
            self.settings.write_text(f"<?php\nrequire {str(installed(template / 'LocalSettings.php', 'LocalSettings.php'))!r};\n{BANNER_HOOK}")

    def command(self) -> list[str]:
        return ["php", "-S", f"127.0.0.1:{self.port}", "-t", str(MEDIAWIKI)]

    def environment(self) -> dict[str, str]:
        # Several workers: the browser asks for the page, its styles and scripts at once.
        return {**super().environment(), "MW_CONFIG_FILE": str(self.settings),
                "PREFETCH_LAB_WIKI_DATA": str(self.data), "PHP_CLI_SERVER_WORKERS": "4"}

    def unsafe_requests(self) -> list[str]:
        return [r.target for r in self.requests() if UNSAFE.search(r.target)]


@pytest.fixture
def mediawiki(tmp_path):
    with MediaWikiServer(tmp_path / "mediawiki") as server:
        yield server
