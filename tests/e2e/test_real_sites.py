"""The real software the audit tests run against (tests/sites/): each installed by
scripts/setup.sh --sites, started on a free loopback port, answering as itself, its request log
read back. The audits on them are in test_real_sites_audit.py."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tests.sites.mediawiki import mediawiki  # noqa: F401 (fixture)
from tests.sites.spa import PAGES as SPA_PAGES, spa  # noqa: F401 (fixture)
from tests.sites.trac import COOKIES as TRAC_COOKIES, trac  # noqa: F401 (fixture)

pytestmark = pytest.mark.e2e


def get(url: str) -> tuple[int, dict, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.headers, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def test_mediawiki_serves_its_pages_with_state_changing_links_and_logs_them(mediawiki):
    status, _, html = get(f"{mediawiki.url}/index.php/Alpha")
    assert status == 200 and "This is the page" in html and "MediaWiki" in html
    # What the audit must never follow is on the page (MediaWiki's own and the seeded links).
    for unsafe in ("action=edit", "action=purge", "action=watch", "Special:UserLogout"):
        assert unsafe in html, unsafe
    assert mediawiki.unsafe_requests() == []
    get(f"{mediawiki.url}/index.php?title=Alpha&action=history")
    get(f"{mediawiki.url}/index.php?title=Beta&action=purge")
    mediawiki.wait_for("/index.php?title=Beta&action=purge")
    logged = [(r.method, r.target, r.status) for r in mediawiki.requests()]
    assert ("GET", "/index.php/Alpha", 200) in logged
    assert ("GET", "/index.php?title=Alpha&action=history", 200) in logged
    assert mediawiki.unsafe_requests() == ["/index.php?title=Beta&action=purge"]


def test_trac_sets_its_session_and_form_token_cookies_on_every_page(trac):
    for path in ("/wiki", "/wiki/TracGuide", "/timeline"):
        status, headers, html = get(trac.url + path)
        assert status == 200 and "Trac" in html
        cookies = " ".join(headers.get_all("Set-Cookie") or [])
        for name in TRAC_COOKIES:
            assert f"{name}=" in cookies, (path, cookies)
    trac.wait_for("/timeline")
    assert [r.target for r in trac.requests()][-3:] == ["/wiki", "/wiki/TracGuide", "/timeline"]
    assert trac.unsafe_requests() == []


def test_vitepress_build_routes_on_the_client_and_prefetches_its_own_chunks(spa):
    status, headers, html = get(spa.url + "/")
    assert status == 200 and 'id="app"' in html
    assert "modulepreload" in html and "/assets/app." in html  # VitePress's client app
    for page in SPA_PAGES[1:]:
        status, _, page_html = get(spa.url + page)
        assert status == 200 and page.strip("/").capitalize() in page_html
    assert get(spa.url + "/no-such-page")[0] == 404
    assert headers["Cache-Control"] == "public, max-age=300"
    asset = html.split('src="/assets/', 1)[1].split('"', 1)[0]
    status, asset_headers, _ = get(f"{spa.url}/assets/{asset}")
    assert status == 200 and "immutable" in asset_headers["Cache-Control"]
    spa.wait_for(f"/assets/{asset}")
    targets = [r.target for r in spa.requests()]
    assert targets[-1] == f"/assets/{asset}" and "/guide" in targets
