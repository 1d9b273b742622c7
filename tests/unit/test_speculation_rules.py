"""The Speculation Rules document (rules/speculation_rules.py) and its `where` tree.

The `where` tree is checked against `RuleSet.match(...).prefetchable` by evaluating it in
Python with the reference evaluator of speculation_reference.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.rules.rule_file import load_rules, load_rules_text
from prefetch_lab.rules.speculation_rules import (
    EAGERNESS,
    MEDIA_TYPE,
    RULES_PATH,
    TAG,
    build_rules_document,
    has_rules,
    render,
)
from tests.unit.speculation_reference import Link, edge_prefetchable, speculated


# ---------------------------------------------------------------- the rules document

# Default-like: broad document/asset rules, then exclusions; one host-scoped rule per host.
DEFAULT_LIKE = r"""
rules:
  - comment: every page
    match: {path: "/:path*"}
    caching: {max_age: 1h, service_worker_max_age: 10m, stale_while_revalidate: 1d}
  - comment: assets
    match: {path: ["/static/:file+", "/assets/(.*)"]}
    caching: {max_age: 1d, service_worker_max_age: 1d}
  - comment: accounts are private
    match: {path: "/account/:rest*"}
    caching: {bypass_cache: true}
  - comment: except the help page
    match: {path: "/account/help"}
    caching: {bypass_cache: false}
  - comment: cart is edge-cached but never prefetched
    match: {path: "/cart"}
    caching: {service_worker_max_age: 0}
  - comment: a POST-only rule never applies to a navigation
    match: {path: "/news/:id", method: POST}
    caching: {bypass_cache: true}
  - comment: a GET rule does apply
    match: {path: "/feed", method: [GET, HEAD]}
    caching: {bypass_cache: true}
  - comment: host a only
    match: {path: "/promo/:id", host: a.example}
    caching: {bypass_cache: true}
  - comment: sub-domains of b.example only
    match: {path: "/b-only/:id", host: "*.b.example"}
    caching: {service_worker_max_age: 0}
  - comment: members area bypassed everywhere...
    match: {path: "/members/:rest*"}
    caching: {bypass_cache: true}
  - comment: ...except its public page on host a
    match: {path: "/members/public", host: a.example}
    caching: {bypass_cache: false}
"""

# Beyond path patterns: regexes and query conditions (exact as regexp groups and search
# patterns), schemes (exact once the page's scheme is known), and what stays approximate.
BEYOND_PATHS = DEFAULT_LIKE + r"""
  - comment: JSON API bypassed (regex)
    match: {path_regex: '^/api/.*\.json$'}
    caching: {bypass_cache: true}
  - comment: previews bypassed (query condition)
    match: {path: "/pages/:id", query: {preview: true}}
    caching: {bypass_cache: true}
  - comment: shop pages bypassed...
    match: {path_regex: '^/(outlet|shop)/'}
    caching: {bypass_cache: true}
  - comment: ...except outlet pages without a ref parameter
    match: {path_regex: '^/outlet/', query: {ref: false}}
    caching: {max_age: 1h, service_worker_max_age: 1h, bypass_cache: false}
  - comment: sale pages only over https
    match: {path: "/sale/:id", scheme: https}
    caching: {bypass_cache: true}
  - comment: case-insensitive regex, not anchored at the start
    match: {path_regex: '(?i)/legal/.*\.pdf$'}
    caching: {service_worker_max_age: 0}
  - comment: 'sorted listings bypassed (a regex on the decoded value, widened to "sort present")'
    match: {query: {sort: {regex: '^desc$'}}}
    caching: {bypass_cache: true}
  - comment: a backreference has no URLPattern form (left out of speculation)
    match: {path_regex: '^/(\w)\1/', querystring: 'x=1'}
    caching: {bypass_cache: false}
"""

LINKS = [
    Link("/"), Link("/pages/1"), Link("/pages/1/"), Link("/pages/1", query="preview=1"),
    Link("/static/app.js"), Link("/static/a/b.css"), Link("/assets/x/y.png"),
    Link("/account"), Link("/account/orders/2"), Link("/account/help"), Link("/cart"),
    Link("/cart/"), Link("/news/7"), Link("/feed"), Link("/promo/3"), Link("/b-only/4"), Link("/members/x"),
    Link("/members/public"),
    Link("/api/items.json"), Link("/api/items.html"), Link("/apix"), Link("/outlet/shoes"),
    Link("/sale/9"), Link("/legal/a.pdf"), Link("/Legal/B.PDF"), Link("/legal/c"), Link("/Pages/2"),
    Link("/__edgio__/prefetch/install.js"), Link("/__edgio__service_worker_1.js"),
    Link("/pages/2", rel="external nofollow"), Link("/pages/3", attributes={"download"}),
    Link("/pages/4", same_origin=False),
    Link("/pages/1", query="sort=asc"), Link("/outlet/shoes", query="ref=1"), Link("/aa/x", query="x=1"),
    Link("/API/items.json"), Link("/x/legal/y.PDF"), Link("/members/public", query="preview=1"),
]
HOSTS = ("a.example", "shop.b.example", "c.example")
EXCLUDED = {"/__edgio__/prefetch/install.js", "/__edgio__service_worker_1.js"}


def is_excluded(link: Link) -> bool:
    return (link.path in EXCLUDED or "nofollow" in link.rel.split()
            or "download" in link.attributes or not link.same_origin)


@pytest.mark.parametrize("text", [DEFAULT_LIKE, BEYOND_PATHS], ids=["default", "beyond-paths"])
@pytest.mark.parametrize("scheme", ["https", "http", None])
def test_never_speculates_a_link_the_edge_would_refuse(text: str, scheme: str | None) -> None:
    ruleset = load_rules_text(text)
    for host in HOSTS:
        document = build_rules_document(ruleset, host, "moderate", scheme=scheme)
        assert any(speculated(document, link) for link in LINKS), host
        for page_scheme in ([scheme] if scheme else ["https", "http"]):
            wrongly = [link.path for link in LINKS if speculated(document, link)
                       and not edge_prefetchable(ruleset, host, link, page_scheme)]
            assert wrongly == [], (host, page_scheme)


def test_expressible_rules_give_exactly_the_edges_prefetchable_links() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    for host in HOSTS:
        document = build_rules_document(ruleset, host, "moderate", scheme="https")
        for link in LINKS:
            expected = edge_prefetchable(ruleset, host, link) and not is_excluded(link)
            assert speculated(document, link) is expected, (host, link)


def test_the_table_covers_both_outcomes_on_every_host() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    for host in HOSTS:
        document = build_rules_document(ruleset, host, "moderate")
        outcomes = {speculated(document, link) for link in LINKS}
        assert outcomes == {True, False}, host


def test_host_scoped_rules_apply_only_to_their_host() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    promo, b_only, public = Link("/promo/3"), Link("/b-only/4"), Link("/members/public")
    for host in HOSTS:
        document = build_rules_document(ruleset, host, "eager")
        assert speculated(document, promo) is (host != "a.example")
        assert speculated(document, b_only) is (host != "shop.b.example")
        assert speculated(document, public) is (host == "a.example")
        for link in (promo, b_only, public):
            assert speculated(document, link) is edge_prefetchable(ruleset, host, link)


def test_path_pattern_exclusions_are_case_insensitive_like_the_edge() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    document = build_rules_document(ruleset, "a.example", "moderate")
    for path in ("/Account/orders", "/ACCOUNT", "/Members/x", "/FEED/"):
        assert not edge_prefetchable(ruleset, "a.example", Link(path)), path
        assert not speculated(document, Link(path)), path


def test_path_patterns_granting_prefetchability_stay_case_sensitive() -> None:
    # Readable to_urlpattern output: an under-approximation, so "/Docs/x" is not speculated.
    ruleset = load_rules_text("""
rules:
  - match: {path: "/docs/:page"}
    caching: {max_age: 1h, service_worker_max_age: 1h}
""")
    document = build_rules_document(ruleset, "a.example", "moderate")
    assert edge_prefetchable(ruleset, "a.example", Link("/Docs/intro"))
    assert not speculated(document, Link("/Docs/intro"))
    assert speculated(document, Link("/docs/intro"))


def test_regex_and_query_rules_are_exact_and_the_rest_under_approximated() -> None:
    ruleset = load_rules_text(BEYOND_PATHS)
    document = build_rules_document(ruleset, "a.example", "moderate", scheme="https")
    widened = Link("/pages/1", query="sort=asc")  # "sort" present stands for sort=~^desc$
    assert edge_prefetchable(ruleset, "a.example", widened)
    assert not speculated(document, widened)
    for link in LINKS:
        if link != widened:
            expected = edge_prefetchable(ruleset, "a.example", link) and not is_excluded(link)
            assert speculated(document, link) is expected, link
    # Where the old prefix/"any query" widening used to over-exclude, and where it fell short.
    for path, query, expected in [
            ("/api/items.json", "", False), ("/api/items.html", "", True), ("/pages/1", "", True),
            ("/pages/1", "preview=1", False), ("/pages/1", "a=1&preview", False),
            ("/x/legal/y.PDF", "", False), ("/legal/terms", "", True),
            ("/outlet/shoes", "", True), ("/outlet/shoes", "ref=1", False), ("/shop/x", "", False)]:
        assert speculated(document, Link(path, query)) is expected, (path, query)


def test_an_untranslatable_exclusion_stops_all_speculation() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE + r"""
  - match: {path_regex: '(\w)\1'}
    caching: {bypass_cache: true}
""")
    assert edge_prefetchable(ruleset, "a.example", Link("/pages/1"))
    assert not has_rules(build_rules_document(ruleset, "a.example", "moderate"))


def test_scheme_conditions_follow_the_page_scheme_when_known() -> None:
    ruleset = load_rules_text(BEYOND_PATHS)
    sale = Link("/sale/9")
    over_http = build_rules_document(ruleset, "a.example", "moderate", scheme="http")
    over_https = build_rules_document(ruleset, "a.example", "moderate", scheme="https")
    unknown = build_rules_document(ruleset, "a.example", "moderate")
    assert edge_prefetchable(ruleset, "a.example", sale, "http")
    assert speculated(over_http, sale)
    assert not edge_prefetchable(ruleset, "a.example", sale, "https")
    assert not speculated(over_https, sale)
    assert not speculated(unknown, sale)  # could be either: do not speculate


def test_good_rule_with_unknown_scheme_is_left_out() -> None:
    ruleset = load_rules_text("""
rules:
  - match: {path: "/docs/:page", scheme: https}
    caching: {max_age: 1h, service_worker_max_age: 1h}
""")
    link = Link("/docs/intro")
    assert speculated(build_rules_document(ruleset, "a.example", "moderate", "https"), link)
    assert not has_rules(build_rules_document(ruleset, "a.example", "moderate", "http"))
    assert not has_rules(build_rules_document(ruleset, "a.example", "moderate"))


def test_a_later_rule_can_make_a_bypassed_url_prefetchable_again() -> None:
    ruleset = load_rules_text("""
rules:
  - match: {path: "/a/:x*"}
    caching: {max_age: 1h, service_worker_max_age: 1h, bypass_cache: true}
  - match: {path: "/a/open/:x"}
    caching: {bypass_cache: false}
  - match: {path: "/a/open/secret"}
    caching: {service_worker_max_age: 0}
  - match: {path: "/a/open/secret"}
    caching: {service_worker_max_age: 5}
""")
    document = build_rules_document(ruleset, "h.example", "conservative")
    for path, expected in [("/a/1", False), ("/a/open/1", True), ("/a/open/secret", True),
                           ("/a/open/1/2", False), ("/b", False)]:
        assert edge_prefetchable(ruleset, "h.example", Link(path)) is expected, path
        assert speculated(document, Link(path)) is expected, path


def test_document_shape_tags_the_rule_set_not_the_rule() -> None:
    document = build_rules_document(load_rules_text(DEFAULT_LIKE), "a.example", "eager")
    assert document["tag"] == TAG
    assert has_rules(document)
    [rule] = document["prefetch"]
    # Chromium skips a document rule with "relative_to" outside "where" (InvalidRulesSkipped).
    assert set(rule) == {"source", "where", "eagerness"}
    assert (rule["source"], rule["eagerness"]) == ("document", "eager")


def test_render_is_the_document_as_utf8_json() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    body = render(ruleset, "a.example", "immediate", scheme="https")
    assert json.loads(body.decode("utf-8")) == build_rules_document(
        ruleset, "a.example", "immediate", scheme="https")
    assert MEDIA_TYPE == "application/speculationrules+json"
    assert RULES_PATH.startswith("/__edgio__/")


@pytest.mark.parametrize("text", [
    "rules: []",
    "rules:\n  - caching: {max_age: 1h, service_worker_max_age: 1h, bypass_cache: true}",
    "rules:\n  - caching: {max_age: 1h}",  # no service worker TTL: never prefetchable
    # Conditions without a URL pattern form: a backreference, a regex on a decoded query value,
    # a non-ASCII query string.
    "rules:\n  - {match: {path_regex: '^/(a)\\1'}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
    "rules:\n  - {match: {path: /a, query: {p: {regex: '1'}}}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
    "rules:\n  - {match: {path: /a, querystring: 'p=é'}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
    "rules:\n  - {match: {path: /a, method: HEAD}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
])
def test_nothing_prefetchable_gives_no_rules(text: str) -> None:
    document = build_rules_document(load_rules_text(text), "a.example", "moderate")
    assert document["prefetch"] == []
    assert not has_rules(document)


def test_every_eagerness_is_accepted_and_others_rejected() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE)
    for eagerness in EAGERNESS:
        assert build_rules_document(ruleset, "a.example", eagerness)["prefetch"][0][
            "eagerness"] == eagerness
    with pytest.raises(ValueError, match="eagerness"):
        build_rules_document(ruleset, "a.example", "sometimes")


def test_max_age_and_service_worker_ttl_may_come_from_different_rules() -> None:
    ruleset = load_rules_text("""
rules:
  - match: {path: "/:path*"}
    caching: {service_worker_max_age: 1h}
  - match: {path: "/a/:x"}
    caching: {max_age: 1h}
""")
    document = build_rules_document(ruleset, "h.example", "moderate")
    for path in ("/a/1", "/b", "/a", "/a/1/2"):
        link = Link(path)
        assert speculated(document, link) is edge_prefetchable(ruleset, "h.example", link), path


# ---------------------------------------------------------------- rules/default.yaml

ROOT = Path(__file__).resolve().parents[2]


def link_to(url: str) -> Link:
    parts = urlsplit(url)
    return Link(parts.path, parts.query)


DEFAULT_SPECULATED = ["/", "/products/shoe", "/static/app.js", "/login-help", "/cartography/maps",
                      "/catalog?token_type=x", "/search?q=shoes&page=2", "/x?mytoken=2",
                      "/?ADD-TO-CART=1", "/?x=add-to-cart", "/wp-admin-guide", "/accounts"]
DEFAULT_NOT_SPECULATED = ["/logout", "/LOGOUT", "/Sign-Out", "/user/logout/", "/logout.php",
                          "/login", "/Register;x", "/cart/add?id=1", "/Cart", "/add-to-cart/5",
                          "/?add-to-cart=5", "/?add%2Dto-cart=5", "/p?a=1&add-to-cart", "/wp-admin/",
                          "/WP-Admin/x", "/wp-login.php", "/x?_wpnonce=1", "/x?TOKEN=2",
                          "/x?a=1&PHPSESSID=3", "/__edgio__/x", "/my-account", "/Profile/",
                          "/administrator"]


@pytest.fixture(scope="module")
def default_document():
    ruleset = load_rules([ROOT / "rules" / "default.yaml"])
    return ruleset, build_rules_document(ruleset, "shop.test", "conservative", "http")


def test_default_rules_give_a_document(default_document) -> None:
    _, document = default_document
    assert has_rules(document)
    assert [url for url in DEFAULT_SPECULATED if not speculated(document, link_to(url))] == []
    assert [url for url in DEFAULT_NOT_SPECULATED if speculated(document, link_to(url))] == []


def test_default_rules_document_is_exactly_the_edges_prefetchable_links(default_document) -> None:
    ruleset, document = default_document
    for url in DEFAULT_SPECULATED + DEFAULT_NOT_SPECULATED:
        link = link_to(url)
        expected = edge_prefetchable(ruleset, "shop.test", link, "http") and not link.path.startswith(
            "/__edgio__")
        assert speculated(document, link) is expected, url
