"""The rules document generated from rules/default.yaml, as real Chromium sees it.

An inline `<script type="speculationrules">` on a page served from 127.0.0.1 (no proxy):
CDP's `Preload.ruleSetUpdated` reports whether Chromium parsed the rule set (an invalid URL
pattern or rule shape shows as errorType/errorMessage), and
`Preload.preloadingAttemptSourcesUpdated` lists the links the document rule selects.
Chromium's own URLPattern also checks the regex translation against Python's `re`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefetch_lab.rules.model import Regex
from prefetch_lab.rules.regex_to_js import querystring_search, regex_pathname, translate_regex
from prefetch_lab.rules.rule_file import load_rules
from prefetch_lab.rules.speculation_rules import build_rules_document
from tests.harness import Origin, Reply, launch_chromium

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
HTML = {"content-type": "text/html; charset=utf-8"}

CANDIDATES = ["/", "/products/1", "/static/app.js", "/login-help", "/x?mytoken=2", "/?ADD-TO-CART=1"]
EXCLUDED = ["/logout", "/LOGOUT", "/Sign-Out", "/cart/add?id=1", "/?add-to-cart=5",
            "/?add%2Dto-cart=5", "/wp-admin/", "/WP-Admin/x", "/x?_wpnonce=1", "/x?TOKEN=2",
            "/__edgio__/x", "/Account/x"]
NOFOLLOW = "/products/nofollow"


def page_html(document: dict) -> bytes:
    links = "".join(f'<a href="{url}">{url}</a><br>' for url in CANDIDATES + EXCLUDED)
    links += f'<a rel="nofollow" href="{NOFOLLOW}">nofollow</a>'
    # "</" cannot occur in the JSON (no such text in the rules), so inline it as is.
    script = json.dumps(document)
    assert "</" not in script
    return f"<!doctype html><script type=speculationrules>{script}</script>{links}".encode()


@pytest.fixture(scope="module")
def chromium():
    browser = launch_chromium()
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture()
def chromium_page(chromium):
    context = chromium.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


def wait_for(page, predicate, timeout_ms: int = 10_000) -> bool:
    """Poll through Playwright's own waits: its sync API delivers CDP events only then."""
    for _ in range(timeout_ms // 50):
        if predicate():
            return True
        page.wait_for_timeout(50)
    return bool(predicate())


def test_default_rules_document_is_accepted_and_selects_the_right_links(chromium_page):
    document = build_rules_document(load_rules([ROOT / "rules" / "default.yaml"]),
                                    "127.0.0.1", "conservative", "http")
    assert document["prefetch"], "the default rules must give a rule"
    page = chromium_page
    with Origin({"/page": Reply(200, HTML, page_html(document))}) as origin:
        rule_sets: list[dict] = []
        sources: list[list[dict]] = []
        cdp = page.context.new_cdp_session(page)
        cdp.on("Preload.ruleSetUpdated", lambda event: rule_sets.append(event["ruleSet"]))
        cdp.on("Preload.preloadingAttemptSourcesUpdated",
               lambda event: sources.append(event["preloadingAttemptSources"]))
        cdp.send("Preload.enable")
        page.goto(f"{origin.base}/page")
        assert wait_for(page, lambda: rule_sets)
        [rule_set] = rule_sets
        assert "errorType" not in rule_set, rule_set.get("errorMessage")
        assert rule_set.get("tag") == "prefetch-lab"

        # Chromium reports the selection in several updates (seen: "/" alone first): wait for
        # the latest one to settle on the candidates, then check it is exactly them.
        def selected() -> list[str]:
            return sorted(s["key"]["url"].removeprefix(origin.base) for s in (sources[-1] if sources else []))

        wait_for(page, lambda: selected() == sorted(CANDIDATES))
        assert selected() == sorted(CANDIDATES)


PATHS = ["/", "/logout", "/LogOut.php", "/user/sign-out/", "/signoutx", "/api/x.json", "/API/X.JSON",
         "/p/12", "/a-b/c", "/x/a%2Fb", "/cart", "/cartography"]
QUERIES = ["", "a=1", "x=1&TOKEN=2", "mytoken=1", "_wpnonce=1&b=2", "b=22"]


@pytest.mark.parametrize("regex", [
    r"(?i)/(log[-_]?out|sign[-_]?out|log[-_]?off)(?=[/._;-]|$)", r"(?i)^/api/.*\.json$",
    r"^\/p\/\d{2,}", r"(?i)[^a-z/]$", r"^/(?!cart)[a-z]+$", r"(?i)%2f", r"[\]\-&!,]",
])
def test_chromium_urlpattern_agrees_with_python_on_translated_path_regexes(chromium_page, regex):
    pathname = regex_pathname(Regex.parse(regex))
    compiled = Regex.parse(regex).compiled
    expected = [bool(compiled.search(path)) for path in PATHS]
    assert set(expected) == {True, False}
    actual = chromium_page.evaluate(
        "([pathname, paths]) => paths.map(p => new URLPattern({pathname}).test({pathname: p}))",
        [pathname, PATHS])
    assert actual == expected, pathname


def test_chromium_urlpattern_agrees_with_python_on_translated_querystring_regexes(chromium_page):
    regex = Regex.parse(r"(?i)(^|&)(_wpnonce|nonce|_?token|csrf[^=&]*)(=|&|$)")
    search = querystring_search(regex)
    expected = [bool(regex.compiled.search(query)) for query in QUERIES]
    actual = chromium_page.evaluate(
        "([search, queries]) => queries.map(q => new URLPattern({search}).test({search: q}))",
        [search.search, QUERIES])
    assert actual == expected, search


@pytest.mark.parametrize("regex", [
    r"[-/.(){}|\[\]&&!,]x{2}\-\&\=[^\\]{,3}]", r"[!-,a-c]{,2}\x41", r"^/(a)?[^/#?]+?(?<=x)$",
])
def test_translations_compile_under_the_u_and_the_v_flag(chromium_page, regex):
    translated = translate_regex(regex, ignore_case=True)
    assert translated is not None
    errors = chromium_page.evaluate(
        """source => ["u", "v"].flatMap(flags => {
             try { new RegExp(source, flags); return []; } catch (e) { return [flags + ": " + e]; }
           })""",
        translated.source)
    assert errors == [], translated.source
