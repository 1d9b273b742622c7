"""Speculation-Rules header, tag gate, and the rules document's `where` tree.

The `where` tree is checked against `RuleSet.match(...).prefetchable` by evaluating it in
Python: URLPattern pathnames are compiled by the small reference compiler below (the subset
of the URLPattern grammar `pathpattern.to_urlpattern` emits), selectors by attribute lookup.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pytest

from prefetch_lab import speculation
from prefetch_lab.rules import RequestInfo, load_rules_text
from prefetch_lab.speculation import (
    EAGERNESS,
    MEDIA_TYPE,
    RULES_PATH,
    TAG,
    build_rules_document,
    has_rules,
    is_speculative,
    merge_header,
    parse_list,
    refusal_applies,
    render,
)

# ---------------------------------------------------------------- a reference evaluator

_NAME = re.compile(r":[A-Za-z_$][A-Za-z0-9_$]*")


def _lex_urlpattern(pattern: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            tokens.append(("escaped", pattern[i : i + 2]))
            i += 2
        elif name := _NAME.match(pattern, i):
            tokens.append(("name", name.group()))
            i = name.end()
        elif pattern[i] == "(":
            depth, j = 0, i
            while True:  # balanced parentheses, skipping escapes
                if pattern[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                j += 1
                if depth == 0:
                    break
            tokens.append(("regex", pattern[i:j]))
            i = j
        else:
            tokens.append(("char", pattern[i]))
            i += 1
    return tokens


def urlpattern_pathname_regex(pattern: str) -> re.Pattern[str]:
    """URLPattern pathname (prefix "/", delimiter "/") → Python regex, case-sensitive."""
    tokens = _lex_urlpattern(pattern)
    out, pending, i = "", "", 0

    def body(kind: str, text: str) -> str:
        if kind == "name":
            return "[^/]+?"
        if kind == "regex":
            return text[1:-1]
        return ".*"  # "*"

    def part(prefix: str, inner: str, suffix: str, modifier: str) -> str:
        prefix, suffix = re.escape(prefix), re.escape(suffix)
        if modifier in ("+", "*"):
            repeated = f"(?:{prefix}((?:{inner})(?:{suffix}{prefix}(?:{inner}))*){suffix})"
            return repeated + ("?" if modifier == "*" else "")
        return f"(?:{prefix}({inner}){suffix}){modifier}"

    def take_modifier() -> str:
        nonlocal i
        if i < len(tokens) and tokens[i][1] in ("?", "+", "*") and tokens[i][0] == "char":
            i += 1
            return tokens[i - 1][1]
        return ""

    def take_text() -> str:
        nonlocal i
        text = ""
        while i < len(tokens) and (tokens[i][0] == "escaped" or (
                tokens[i][0] == "char" and tokens[i][1] not in "{}*?+")):
            text += tokens[i][1][-1]
            i += 1
        return text

    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "char" and text == "{":
            out += re.escape(pending)
            pending = ""
            i += 1
            prefix = take_text()
            inner = ""
            if i < len(tokens) and (tokens[i][0] in ("name", "regex") or tokens[i][1] == "*"):
                inner_kind, inner_text = tokens[i]
                i += 1
                if inner_kind == "name" and i < len(tokens) and tokens[i][0] == "regex":
                    inner_kind, inner_text = tokens[i]
                    i += 1
                inner = body(inner_kind, inner_text)
            suffix = take_text()
            assert tokens[i][1] == "}", pattern
            i += 1
            modifier = take_modifier()
            out += part(prefix, inner, suffix, modifier) if inner else (
                f"(?:{re.escape(prefix + suffix)}){modifier}")
            continue
        if kind in ("name", "regex") or (kind == "char" and text == "*"):
            i += 1
            inner_kind, inner_text = kind, text
            if kind == "name" and i < len(tokens) and tokens[i][0] == "regex":
                inner_kind, inner_text = tokens[i]
                i += 1
            prefix = ""
            if pending.endswith("/"):
                pending, prefix = pending[:-1], "/"
            out += re.escape(pending)
            pending = ""
            out += part(prefix, body(inner_kind, inner_text), "", take_modifier())
            continue
        pending += text[-1]
        i += 1
    return re.compile("^" + out + re.escape(pending) + "$")


def test_reference_urlpattern_compiler() -> None:
    cases = {
        "/*": (["/", "/a/b"], []),
        "/pages/:id{/}?": (["/pages/1", "/pages/1/"], ["/pages", "/pages/1/2", "/Pages/1"]),
        "/__edgio__*": (["/__edgio__/x", "/__edgio__service_worker_1.js"], ["/__edg"]),
        "/a/:rest*{/}?": (["/a", "/a/b/c", "/a/"], ["/ab"]),
        "/f/(\\d+){/}?": (["/f/12"], ["/f/x"]),
    }
    for pattern, (accepted, rejected) in cases.items():
        regex = urlpattern_pathname_regex(pattern)
        assert [p for p in accepted if not regex.match(p)] == [], pattern
        assert [p for p in rejected if regex.match(p)] == [], pattern


@dataclass
class Link:
    path: str
    query: str = ""
    same_origin: bool = True
    rel: str = ""
    attributes: set[str] = field(default_factory=set)


def selector_matches(selector: str, link: Link) -> bool:
    if selector == "[rel~=nofollow]":
        return "nofollow" in link.rel.split()
    if selector == "[download]":
        return "download" in link.attributes
    raise AssertionError(f"selector not modelled: {selector}")


def where_accepts(predicate: dict, link: Link) -> bool:
    """Evaluate a document-rule predicate for a link (patterns relative to the document)."""
    if "and" in predicate:
        return all(where_accepts(p, link) for p in predicate["and"])
    if "or" in predicate:
        return any(where_accepts(p, link) for p in predicate["or"])
    if "not" in predicate:
        return not where_accepts(predicate["not"], link)
    if "selector_matches" in predicate:
        return selector_matches(predicate["selector_matches"], link)
    assert predicate.get("relative_to") == "document", predicate
    patterns = predicate["href_matches"]
    patterns = [patterns] if isinstance(patterns, str) else patterns
    # A relative pattern inherits the document's protocol, host and port; search is "*".
    return link.same_origin and any(
        urlpattern_pathname_regex(p).match(link.path) for p in patterns)


def speculated(document: dict, link: Link) -> bool:
    return any(where_accepts(rule["where"], link) for rule in document["prefetch"])


def edge_prefetchable(ruleset, host: str, link: Link, scheme: str = "https") -> bool:
    request = RequestInfo(method="GET", scheme=scheme, host=host, path=link.path, query=link.query)
    return ruleset.match(request).prefetchable


# ---------------------------------------------------------------- headers


def test_merge_header_appends_ours_after_the_origins_values_in_order() -> None:
    merged = merge_header(['"/a.json"', '"/b.json", "/c.json"'], RULES_PATH)
    assert merged == f'"/a.json", "/b.json", "/c.json", "{RULES_PATH}"'
    assert parse_list(merged) == ["/a.json", "/b.json", "/c.json", RULES_PATH]


def test_merge_header_without_origin_values_is_ours_alone() -> None:
    assert merge_header([], RULES_PATH) == f'"{RULES_PATH}"'
    assert merge_header(["", "  "], RULES_PATH) == f'"{RULES_PATH}"'


def test_merge_header_does_not_add_ours_twice() -> None:
    already = f'"/a.json", "{RULES_PATH}";x=1'
    assert merge_header([already], RULES_PATH) == already
    twice = merge_header([merge_header([], RULES_PATH)], RULES_PATH)
    assert parse_list(twice) == [RULES_PATH]


def test_merge_header_keeps_an_unparsable_origin_value_verbatim() -> None:
    merged = merge_header(["/rules.json", '"/ok.json"'], RULES_PATH)
    assert merged == f'/rules.json, "/ok.json", "{RULES_PATH}"'


def test_merge_header_escapes_and_rejects_non_ascii() -> None:
    assert merge_header([], '/r"1\\.json') == '"/r\\"1\\\\.json"'
    assert parse_list(merge_header([], '/r"1\\.json')) == ['/r"1\\.json']
    with pytest.raises(ValueError):
        merge_header([], "/règles.json")


@pytest.mark.parametrize(
    "value",
    ['"a', '"a" "b"', '"a",', '"a\\x"', "(\"a\"", '"a";', "1.2345"],
)
def test_parse_list_rejects_invalid_lists(value: str) -> None:
    with pytest.raises(ValueError):
        parse_list(value)


def test_parse_list_reads_items_parameters_and_inner_lists() -> None:
    items = parse_list('"a";q=1;r, tok/en:x, ?1, -7, 2.5, ("x" y);p="z"')
    assert items[0] == "a"
    assert items[1] == speculation.Token("tok/en:x")
    assert items[2:5] == [True, -7.0, 2.5]
    assert items[5] == ("x", speculation.Token("y"))


@pytest.mark.parametrize(
    ("tags", "refuse"),
    [
        (None, True),  # older Chromium, <link rel=prefetch>, Edgio-style params
        ("", True),  # an empty list is the same as no header
        (f'"{TAG}"', True),
        (f'"{TAG}", "{TAG}"', True),
        (f'"{TAG}";p=1', True),
        ("null", False),  # the site's own untagged rules
        (f'null, "{TAG}"', False),
        (f'"{TAG}", "site-rules"', False),
        ('"site-rules"', False),
        (TAG, False),  # a token, not our quoted string
        (f'"{TAG}', False),  # not a valid list: cannot be sure it is only ours
    ],
)
def test_refusal_applies_only_when_our_tag_is_alone(tags: str | None, refuse: bool) -> None:
    assert refusal_applies(tags) is refuse


@pytest.mark.parametrize(
    ("sec_purpose", "legacy", "speculative"),
    [
        ("prefetch", None, True),
        ("prefetch;prerender", None, True),
        ("Prefetch ; Prerender", None, True),
        (" prefetch ", None, True),
        ("prerender", None, False),
        ("", None, False),
        (None, None, False),
        (None, "prefetch", True),
        ("prefetchx", None, False),
    ],
)
def test_is_speculative(sec_purpose: str | None, legacy: str | None, speculative: bool) -> None:
    assert is_speculative(sec_purpose, legacy) is speculative


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

# Rules a URL pattern cannot express exactly (regexes, query conditions, schemes).
INEXPRESSIBLE = DEFAULT_LIKE + r"""
  - comment: JSON API bypassed (regex, over-approximated as /api/*)
    match: {path_regex: '^/api/.*\.json$'}
    caching: {bypass_cache: true}
  - comment: previews bypassed (query condition ignored when widening)
    match: {path: "/pages/:id", query: {preview: true}}
    caching: {bypass_cache: true}
  - comment: outlet prefetchable by regex (left out of speculation)
    match: {path_regex: '^/outlet/'}
    caching: {max_age: 1h, service_worker_max_age: 1h}
  - comment: sale pages only over https
    match: {path: "/sale/:id", scheme: https}
    caching: {bypass_cache: true}
  - comment: case-insensitive regex bypass (no prefix we can trust)
    match: {path_regex: '(?i)^/legal/.*\.pdf$'}
    caching: {service_worker_max_age: 0}
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
]
HOSTS = ("a.example", "shop.b.example", "c.example")
EXCLUDED = {"/__edgio__/prefetch/install.js", "/__edgio__service_worker_1.js"}


def is_excluded(link: Link) -> bool:
    return (link.path in EXCLUDED or "nofollow" in link.rel.split()
            or "download" in link.attributes or not link.same_origin)


@pytest.mark.parametrize("text", [DEFAULT_LIKE, INEXPRESSIBLE], ids=["default", "inexpressible"])
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


def test_known_deviation_urlpattern_is_case_sensitive() -> None:
    # Edgio paths are case-insensitive: "/Account/orders" is bypassed at the edge, but the
    # URL pattern "/account/..." does not exclude it. The gate refuses it on a miss.
    ruleset = load_rules_text(DEFAULT_LIKE)
    link = Link("/Account/orders")
    assert not edge_prefetchable(ruleset, "a.example", link)
    assert speculated(build_rules_document(ruleset, "a.example", "moderate"), link)


def test_inexpressible_exclusions_are_widened() -> None:
    ruleset = load_rules_text(INEXPRESSIBLE)
    document = build_rules_document(ruleset, "a.example", "moderate", scheme="https")
    # Prefetchable at the edge, but inside a widened exclusion: regex → its literal prefix
    # (case-insensitively for "(?i)"), query condition → dropped.
    for path in ("/api/items.html", "/pages/1", "/legal/terms", "/LEGAL/terms"):
        assert edge_prefetchable(ruleset, "a.example", Link(path)), path
        assert not speculated(document, Link(path)), path
    # Untouched by the widened rules: still speculated.
    for path in ("/apix", "/static/app.js"):
        assert speculated(document, Link(path)) and edge_prefetchable(ruleset, "a.example", Link(path))


def test_an_exclusion_without_a_usable_prefix_stops_all_speculation() -> None:
    ruleset = load_rules_text(DEFAULT_LIKE + """
  - match: {path_regex: 'secret'}
    caching: {bypass_cache: true}
""")
    assert edge_prefetchable(ruleset, "a.example", Link("/pages/1"))
    assert not has_rules(build_rules_document(ruleset, "a.example", "moderate"))


def test_scheme_conditions_follow_the_page_scheme_when_known() -> None:
    ruleset = load_rules_text(INEXPRESSIBLE)
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
    assert set(rule) == {"source", "where", "relative_to", "eagerness"}
    assert (rule["source"], rule["relative_to"], rule["eagerness"]) == (
        "document", "document", "eager")


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
    "rules:\n  - {match: {path_regex: '^/a'}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
    "rules:\n  - {match: {path: /a, query: {p: '1'}}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
    "rules:\n  - {match: {path: /a, querystring: 'p=1'}, caching: {max_age: 1h, service_worker_max_age: 1h}}",
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


REGEX_SAMPLE_PATHS = ["/", "/a", "/ac", "/abc", "/abbc", "/api", "/api/", "/api/x.json",
                      "/API/x.json", "/api.json", "/p/12", "/P/12", "/x/a", "/a-b/c", "/a+b"]


@pytest.mark.parametrize("regex", [
    r"^/api/.*\.json$", r"(?i)^/api/", r"^/ab?c", r"^/ab*c", r"^/ab+c", r"^/ab{0,2}c",
    r"^\/p\/\d+", r"(?i)^/a-b/", r"^/a\+b", r"^/a(b)?c",
])
def test_regex_prefix_pattern_covers_every_path_the_regex_matches(regex: str) -> None:
    pattern = speculation.regex_prefix_pattern(regex)
    assert pattern is not None
    compiled = urlpattern_pathname_regex(pattern)
    flags = re.IGNORECASE if regex.startswith("(?i)") else 0
    matched = [p for p in REGEX_SAMPLE_PATHS if re.search(regex.removeprefix("(?i)"), p, flags)]
    assert matched, "the sample should exercise the regex"
    assert [p for p in matched if not compiled.match(p)] == []
    assert not compiled.match("/zzz")  # and it is a real restriction


@pytest.mark.parametrize("regex", [r"api", r"^/a|^/b", r"^/a(b|c)", r"^(/a)", r"^.*\.json$"])
def test_regex_without_a_usable_prefix_has_no_pattern(regex: str) -> None:
    assert speculation.regex_prefix_pattern(regex) is None
