"""manifest-eval.js, run by Chromium's JS engine, against the edge's own Python code: path patterns
compile to the same regexes and every rule set decides prefetchability and deep_fetch the same way
in the browser (from the served manifest) as at the edge (RuleSet.match)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.rules.manifest import build_manifest
from prefetch_lab.rules.path_pattern import compile_path, to_js_regex
from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules, load_rules_text

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "addon" / "prefetch_lab" / "client" / "static"
DEFAULT_RULES = Path(__file__).resolve().parents[2] / "rules" / "default.yaml"

PATTERNS = {
    "/pages/:id": ["/pages/1", "/pages/1/", "/PAGES/1", "/pages", "/pages/1/2"],
    "/docs/:rest*": ["/docs", "/docs/a/b", "/docsx"],
    "/docs/:rest+": ["/docs", "/docs/a", "/docs/a/b"],
    "/pages/:id?": ["/pages", "/pages/1", "/pages/1/2"],
    "/api/products/:id.json": ["/api/products/7.json", "/api/products/7", "/api/products/a.b.json"],
    "/file.:ext": ["/file.txt", "/file", "/file.tar.gz"],
    "/user/:id(\\d+)": ["/user/42", "/user/bob"],
    "/user/(\\d+)": ["/user/42", "/user/bob"],
    "/shop{/:lang}?/cart": ["/shop/cart", "/shop/en/cart", "/shop/en/fr/cart"],
    "/a\\:b": ["/a:b", "/ab"],
    "/:a-:b": ["/x-y", "/x-y-z", "/x"],
    "/x-:id": ["/x-1", "/x-"],
    "/": ["/", "", "/a"],
    "/caf%C3%A9/:id": ["/caf%C3%A9/1", "/café/1"],
}

RULES = r"""
rules:
  - comment: every page
    match: {path: "/:path*"}
    caching: {max_age: 1h, service_worker_max_age: 10m}
  - match: {path: "/products/:id"}
    caching: {service_worker_max_age: 1w}
    deep_fetch: [{selector: "img.hero", max_matches: 1, as: image}]
  - match: {path_regex: '(?i)^/api/.*\.json$'}
    caching: {bypass_cache: true}
  - match: {path: "/products/:id", query: {preview: true}}
    caching: {bypass_cache: true}
  - match: {path: "/search", query: {page: ["1", "2"], sort: {regex: '^(asc|desc)$'}, debug: false}}
    caching: {service_worker_max_age: 0}
  - match: {path: "/feed", querystring: ["format=rss", {regex: '^v=\d+$'}]}
    caching: {bypass_cache: true}
  - match: {scheme: https, path: "/secure/:rest*"}
    caching: {bypass_cache: true}
  - comment: "cache-manifest-ignore: the browser never sees this one"
    match: {path: "/hidden"}
    caching: {bypass_cache: true}
  - match: {host: other.example, path: "/products/:id"}
    caching: {bypass_cache: true}
"""

URLS = [
    "http://shop.example/",
    "http://shop.example/products/1",
    "http://shop.example/Products/1/",
    "http://shop.example/products/1?preview",
    "http://shop.example/products/1?preview=0&x=1",
    "http://shop.example/products/1?a=1&preview=1&a=2",
    "http://shop.example/api/list.json",
    "http://shop.example/API/LIST.JSON",
    "http://shop.example/search",
    "http://shop.example/search?page=1&sort=asc",
    "http://shop.example/search?page=3&sort=asc",
    "http://shop.example/search?page=3&page=2&sort=desc",
    "http://shop.example/search?page=1&sort=asc&debug=1",
    "http://shop.example/search?page=1&sort=ASC",
    "http://shop.example/search?page=1&sort=asc%20",
    "http://shop.example/feed?format=rss",
    "http://shop.example/feed?v=12",
    "http://shop.example/feed?v=12&x",
    "https://shop.example/secure/a",
    "http://shop.example/secure/a",
    "http://shop.example/hidden",
    "http://shop.example/logout",
    "http://shop.example/wp-admin/edit.php",
    "http://shop.example/cart/add?id=1",
    "http://shop.example/p?add-to-cart=5",
    "http://shop.example/p?_wpnonce=abc",
    "http://shop.example/assets/app.JS",
    "http://shop.example/login-help",
    "http://shop.example/my-account/orders",
    # Edgio's reading: a repeated param is its first value; an empty one still counts as present.
    "http://shop.example/search?page=1&page=3&sort=asc",
    "http://shop.example/search?page=3&page=1&sort=asc",
    "http://shop.example/search?page=1&sort=up&sort=asc",
    "http://shop.example/search?page=1&sort=asc&debug",
    "http://shop.example/search?page=1&sort=",
    "http://shop.example/products/1?preview=",
    "http://shop.example/products/1?pre%76iew=1",
    "http://shop.example/p?x=1&add%2Dto-cart",
    "https://shop.example/products/1",
    "https://shop.example/secure/a?x=1",
]


@pytest.fixture(scope="module")
def evaluator(browser):
    page = browser.new_page()
    page.set_content("<!doctype html><title>manifest-eval</title>")
    page.add_script_tag(content=(STATIC / "manifest-eval.js").read_text(encoding="utf-8"))
    yield page
    page.close()


def test_path_patterns_compile_like_the_edge(evaluator):
    sources = evaluator.evaluate("ps => ps.map(p => PrefetchLabRules.pathToRegExp(p).source)", list(PATTERNS))
    assert dict(zip(PATTERNS, sources)) == {p: to_js_regex(p) for p in PATTERNS}
    cases = [(pattern, path) for pattern, paths in PATTERNS.items() for path in paths]
    browser_says = evaluator.evaluate(
        "cases => cases.map(([p, path]) => PrefetchLabRules.pathToRegExp(p).test(path))", cases
    )
    edge_says = [bool(compile_path(pattern).match(path)) for pattern, path in cases]
    assert dict(zip(cases, browser_says)) == dict(zip(cases, edge_says))
    assert any(browser_says) and not all(browser_says)


def edge_decision(ruleset, url: str) -> dict:
    parts = urlsplit(url)
    query = "&".join(pair for pair in parts.query.split("&") if pair and not pair.startswith("edgio_"))
    features = ruleset.match(RequestInfo("GET", parts.scheme, parts.hostname, parts.path, query))
    return {"prefetchable": features.prefetchable, "deep_fetch": [dict(d) for d in features.deep_fetch]}


@pytest.mark.parametrize("source", ["inline rules", "rules/default.yaml"])
def test_the_browser_decides_like_the_edge(evaluator, source):
    ruleset = load_rules_text(RULES) if source == "inline rules" else load_rules([DEFAULT_RULES])
    manifest = build_manifest(ruleset, "shop.example")
    assert not manifest["skipped"]
    browser_says = evaluator.evaluate(
        """([manifest, urls]) => urls.map(url => {
            const features = PrefetchLabRules.featuresFor(manifest, url);
            return { prefetchable: PrefetchLabRules.isPrefetchable(features), deep_fetch: features.deep_fetch || [] };
        })""",
        [manifest, URLS],
    )
    edge_says = [edge_decision(ruleset, url) for url in URLS]
    browser, edge = dict(zip(URLS, browser_says)), dict(zip(URLS, edge_says))
    if source == "inline rules":
        # A "cache-manifest-ignore" rule stays at the edge: the browser asks, the edge refuses.
        hidden = "http://shop.example/hidden"
        assert browser.pop(hidden)["prefetchable"] and not edge.pop(hidden)["prefetchable"]
    assert browser == edge
    verdicts = [d["prefetchable"] for d in edge_says]
    assert any(verdicts) and not all(verdicts), "the URL list exercises both outcomes"


def test_prefetch_params_and_cache_keys(evaluator):
    out = evaluator.evaluate(
        """() => {
            const R = PrefetchLabRules;
            return {
              plain: R.withPrefetchParams("http://s.example/p/1?b=%20&a=1#top"),
              misses: R.withPrefetchParams("http://s.example/p/1", { includeCacheMisses: true }),
              forced: R.withPrefetchParams("http://s.example/p/1", { forcePrefetchRatio: 1 }),
              ttl: R.withPrefetchParams("http://s.example/p/1", { maxAgeSeconds: 30 }),
              key: R.cacheKeyUrl("http://s.example/p/1?edgio_dt_pf=1&b=%20&edgio_prefetch_ttl=3&a=1&edgio%5Fx=2#f"),
            };
        }"""
    )
    assert out == {
        "plain": "http://s.example/p/1?b=%20&a=1&edgio_dt_pf=1&edgio_prefetch=1",
        "misses": "http://s.example/p/1?edgio_dt_pf=1",
        "forced": "http://s.example/p/1?edgio_dt_pf=1",
        "ttl": "http://s.example/p/1?edgio_dt_pf=1&edgio_prefetch=1&edgio_prefetch_ttl=30",
        "key": "http://s.example/p/1?b=%20&a=1",
    }
