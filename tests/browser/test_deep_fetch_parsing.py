"""The service worker's deep-fetch extractors (no DOMParser in workers), run by Chromium's JS engine:
the tolerant HTML start-tag scanner with its selector subset, and JSON dot paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

STATIC = Path(__file__).resolve().parents[2] / "addon" / "prefetch_lab" / "client" / "static"

HTML = """<!doctype html><html><head><base href="/shop/">
<!-- <img class="hero" src="/commented.png"> -->
<script>var s = '<img class="hero" src="/in-script.png">';</script>
<link rel="stylesheet" href="/site.css"><link rel="preload stylesheet" href="/both.css">
</head><body>
<IMG CLASS="hero main" SRC="/images/a.png" alt="a > b">
<img class=hero src=/images/b.png>
<img class="heroic" src="/images/not.png">
<img data-src="/lazy.png" class="lazy hero" src="data:,">
<a class="hero" href="/link" src="/a-src.png">link</a>
<div id="main"><img id="logo" src="/logo.png?x=1&amp;y=2&#38;z=&#x33;"></div>
<img src='/images/c.png' class='hero' />
<template><img class="hero" src="/tpl.png"></template>
<textarea><img class="hero" src="/ta.png"></textarea>
<img class="hero" src="  ">
</body></html>"""

DOCUMENT = {
    "products": [{"thumbnail": "/t1.png"}, {"thumbnail": "/t2.png"}, {"thumbnail": 3}, {"name": "no thumb"}],
    "hero": {"image": {"url": "/h.png"}},
    "groups": [[{"img": "/g1.png"}], [{"img": "/g2.png"}]],
}


@pytest.fixture(scope="module")
def worker_code(browser):
    """The worker bundle as the proxy serves it, evaluated in a page (its worker-only calls are
    guarded or inside event handlers), so its top-level functions can be called directly."""
    page = browser.new_page()
    page.set_content("<!doctype html><title>deep fetch</title>")
    bundle = "\n".join((STATIC / name).read_text(encoding="utf-8") for name in ("manifest-eval.js", "service-worker.js"))
    page.add_script_tag(content=bundle)
    yield page
    page.close()


@pytest.mark.parametrize(
    "selector, attribute, expected",
    [
        ("img.hero", "src", ["/images/a.png", "/images/b.png", "data:,", "/images/c.png"]),
        ("img.hero", "data-src", ["/lazy.png"]),
        (".hero", "src", ["/images/a.png", "/images/b.png", "data:,", "/images/c.png"]),  # never <a>
        ("#logo", "src", ["/logo.png?x=1&y=2&z=3"]),
        ("img.hero.main", "src", ["/images/a.png"]),
        ("link[rel=stylesheet]", "href", ["/site.css"]),
        ("link[rel~='stylesheet']", "href", ["/site.css", "/both.css"]),
        ('img[src^="/images/"]', "src", ["/images/a.png", "/images/b.png", "/images/not.png", "/images/c.png"]),
        ("img[src$=b.png]", "src", ["/images/b.png"]),
        ("img[data-src]", "data-src", ["/lazy.png"]),
        ("#logo, img.main", "src", ["/images/a.png", "/logo.png?x=1&y=2&z=3"]),
        ("*[id=logo]", "src", ["/logo.png?x=1&y=2&z=3"]),
        ("div img", "src", []),  # combinators are not supported: nothing, and a warning
        ("img:first-child", "src", []),
    ],
)
def test_html_selectors(worker_code, selector, attribute, expected):
    found = worker_code.evaluate("([html, s, a]) => htmlAttributeValues(html, s, a)", [HTML, selector, attribute])
    assert found == expected


def test_base_href_resolves_relative_assets(worker_code):
    assert worker_code.evaluate("h => baseHref(h, 'http://s.example/p/1')", HTML) == "http://s.example/shop/"
    assert worker_code.evaluate("() => baseHref('<p>no base</p>', 'http://s.example/p/1')") == "http://s.example/p/1"


@pytest.mark.parametrize(
    "query, expected",
    [
        ("products.thumbnail", ["/t1.png", "/t2.png"]),  # numbers and missing keys are skipped
        ("products[*].thumbnail", ["/t1.png", "/t2.png"]),
        ("products[1].thumbnail", ["/t2.png"]),
        ("hero.image.url", ["/h.png"]),
        ("groups.img", ["/g1.png", "/g2.png"]),
        ("missing.path", []),
    ],
)
def test_json_paths(worker_code, query, expected):
    assert worker_code.evaluate("([text, q]) => jsonStrings(text, q)", [json.dumps(DOCUMENT), query]) == expected


def test_json_that_does_not_parse_yields_nothing(worker_code):
    assert worker_code.evaluate("() => jsonStrings('{not json', 'a.b')") == []
