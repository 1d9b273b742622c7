"""Speculation-Rules header, tag gate, and the rules document's `where` tree.

The `where` tree is checked against `RuleSet.match(...).prefetchable` by evaluating it in
Python: URLPattern pathname and search components are compiled by the small reference
compiler below (the subset of the URLPattern grammar speculation.py emits; regexp groups run
as Python regexes, which agree with JavaScript on that subset), selectors by attribute lookup.
Every pattern is also checked against URLPattern's tokenizer rules for regexp groups and the
v flag's stricter syntax; tests/e2e/test_speculation_document_in_chromium.py asks Chromium.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.rules import speculation
from prefetch_lab.rules.model import Regex, RequestInfo, parse_query
from prefetch_lab.rules.rule_file import load_rules, load_rules_text
from prefetch_lab.rules.speculation import (
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
    return urlpattern_component_regex(pattern, "/")


def urlpattern_component_regex(pattern: str, delimiter: str) -> re.Pattern[str]:
    """A URLPattern component → Python regex; delimiter "/" for pathname, "" for search."""
    tokens = _lex_urlpattern(pattern)
    out, pending, i = "", "", 0

    def body(kind: str, text: str) -> str:
        if kind == "name":
            return f"[^{delimiter}]+?" if delimiter else ".+?"
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
            if delimiter and pending.endswith(delimiter):
                pending, prefix = pending[:-1], delimiter
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
        "/(a\\/(?:b|c).*)": (["/a/b", "/a/cd"], ["/a/d", "/xa/b"]),
        "/((?<=^(?=.*(?:x))\\/).*)": (["/x", "/a/x/b"], ["/", "/a"]),
    }
    for pattern, (accepted, rejected) in cases.items():
        regex = urlpattern_pathname_regex(pattern)
        assert [p for p in accepted if not regex.match(p)] == [], pattern
        assert [p for p in rejected if regex.match(p)] == [], pattern
    search = urlpattern_component_regex("(a=.*)", "")
    assert search.match("a=1") and not search.match("b=1&a=1")
    assert urlpattern_component_regex("", "").match("") and not urlpattern_component_regex("", "").match("a")


# ---------------------------------------------------------------- URLPattern syntax checks

_SYNTAX = set("^$\\.*+?()[]{}|/")
_DOUBLE_PUNCTUATORS = set("&!#$%*+,.:;<=>?@^`~")


def urlpattern_syntax_problem(pattern: str) -> str | None:
    """Why URLPattern's tokenizer, or a u/v-flag RegExp, would reject a regexp group in it."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] != "(":
            i += 1
            continue
        start = j = i + 1
        if pattern[j : j + 1] == "?":
            return "a regexp group may not start with ?"
        depth = 1
        while depth:
            if j >= len(pattern):
                return "unbalanced regexp group"
            char = pattern[j]
            if not char.isascii():
                return "non-ASCII in a regexp group"
            if char == "\\":
                j += 2
                continue
            if char == "(":
                depth += 1
                if pattern[j + 1 : j + 2] != "?":
                    return "unnamed capturing group"
            depth -= char == ")"
            j += 1
        if j - 1 == start:
            return "empty regexp group"
        if problem := regex_flag_problem(pattern[start : j - 1]):
            return problem
        i = j
    return None


def regex_flag_problem(regex: str) -> str | None:
    """Syntax valid without flags that the u or v flag rejects (the cases we could emit)."""
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1]
            if not (escaped in _SYNTAX or escaped in "dDwWsSbBnrtfv"
                    or re.match(r"x[0-9A-Fa-f]{2}", regex[i + 1 : i + 4])):
                return f"identity escape \\{escaped}"
            i += 2
        elif char == "[":
            i, problem = _class_problem(regex, i + 1)
            if problem:
                return problem
        elif char == "{":
            quantifier = re.match(r"\{\d+(,\d*)?\}", regex[i:])
            if not quantifier:
                return "lone {"
            i += quantifier.end()
        elif char in "}]":
            return f"lone {char}"
        else:
            i += 1
    return None


def _class_problem(regex: str, i: int) -> tuple[int, str | None]:
    i += regex[i] == "^"
    operands = 0  # consecutive single characters, for ranges
    while regex[i] != "]":
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1]
            if not (escaped in _SYNTAX or escaped in "-dDwWsS"
                    or re.match(r"x[0-9A-Fa-f]{2}", regex[i + 1 : i + 4])):
                return i, f"class escape \\{escaped} (invalid under u)"
            i += 4 if escaped == "x" else 2
            operands += 1
            continue
        if char == "-" and operands and regex[i + 1] != "]":
            operands, i = -1, i + 1  # a range: the next operand ends it
            continue
        if char in "()[]{}/-\\|":
            return i, f"unescaped {char} in a class (invalid under v)"
        if char in _DOUBLE_PUNCTUATORS and regex[i + 1] == char:
            return i, f"doubled {char} in a class (reserved under v)"
        operands, i = operands + 1, i + 1
    return i + 1, None


def test_urlpattern_syntax_checker_rejects_what_chromium_rejects() -> None:
    for bad in ["(?:a)", "(a(b))", "()", "(é)", "(a{)", "(a\\-b)", "([(])", "([-a])", "([a&&b])",
                "(a\\&)", "([\\&])", "(a]"]:
        assert urlpattern_syntax_problem(bad), bad
    for good in ["/*", "/(a(?:b)(?=c)(?<=d))", "([\\-_])", "([a-z\\/])", "(a{2,})", "(\\x2C)",
                 "([a&b])"]:
        assert urlpattern_syntax_problem(good) is None, good


def all_patterns(predicate: dict) -> list[str]:
    """Every URLPattern string in a `where` tree (dict patterns: each component)."""
    if "href_matches" in predicate:
        patterns = predicate["href_matches"]
        found = []
        for item in [patterns] if isinstance(patterns, (str, dict)) else patterns:
            found += list(item.values()) if isinstance(item, dict) else [item]
        return found
    children = predicate.get("and") or predicate.get("or") or (
        [predicate["not"]] if "not" in predicate else [])
    return [p for child in children for p in all_patterns(child)]


def assert_valid_patterns(document: dict) -> None:
    for rule in document["prefetch"]:
        problems = {p: urlpattern_syntax_problem(p) for p in all_patterns(rule["where"])}
        assert {p: why for p, why in problems.items() if why} == {}


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
    patterns = [patterns] if isinstance(patterns, (str, dict)) else patterns
    return link.same_origin and any(pattern_accepts(p, link) for p in patterns)


def pattern_accepts(pattern: str | dict, link: Link) -> bool:
    """A relative pattern inherits the document's protocol, host and port. A string's search
    is "*"; a dict names its pathname (else it would inherit the document's) and search."""
    if isinstance(pattern, str):
        return bool(urlpattern_pathname_regex(pattern).match(link.path))
    assert set(pattern) == {"pathname", "search"}, pattern
    return bool(urlpattern_pathname_regex(pattern["pathname"]).match(link.path)
                and urlpattern_component_regex(pattern["search"], "").match(link.query))


def speculated(document: dict, link: Link) -> bool:
    assert_valid_patterns(document)
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


# ---------------------------------------------------------------- regexes as URL patterns

REGEX_SAMPLE_PATHS = [
    "/", "/a", "/ac", "/abc", "/abbc", "/ab/c", "/api", "/api/", "/api/x.json", "/API/x.json",
    "/api.json", "/x.JSON", "/p/12", "/P/12", "/p/1", "/x/a", "/a-b/c", "/A-B/x", "/a+b", "/x",
    "//x", "/xy", "/xxxy", "/{", "/123", "/logout", "/LogOut.php", "/user/sign-out/", "/signoutx",
    "/app.JS", "/s.css", "/a]b", "/a&b", "/a!b", "/a,b", "/a-b", "/a%2Fb", "/a%2fb", "/Z",
]


@pytest.mark.parametrize("regex", [
    r"^/api/.*\.json$", r"(?i)^/api/", r"^/ab?c", r"^/ab*c", r"^/ab+c", r"^/ab{0,2}c",
    r"^\/p\/\d+", r"(?i)^/a-b/", r"^/a\+b", r"^/a(b)?c", r"api", r"^/a|^/b", r"^/a(b|c)",
    r"^(/a)", r"^.*\.json$", r"(?i)/(log[-_]?out|sign[-_]?out)(?=[/._;-]|$)", r"[^/]$",
    r"(?i)[a-c]{2}", r"x{,2}y$", r"/{", r"\d{2,}$", r"(?<=/p)/\d", r"^/?x", r"\.(js|css)$",
    r"(?i)\.(JS|Css)$", r"[\]\-&]", r"[!-,]", r"(?i)[^a-z/]", r"^/$", r"^/x$", r"(?i)%2f",
    r"^/(?!api)[a-z]+$", r"\x41|\u005A", r"[\x5D]",
])
def test_path_regex_becomes_an_exact_pathname(regex: str) -> None:
    pathname = speculation.regex_pathname(Regex.parse(regex))
    assert pathname is not None and pathname.startswith("/")  # relative ones resolve per directory
    assert urlpattern_syntax_problem(pathname) is None, pathname
    compiled = urlpattern_pathname_regex(pathname)
    python = Regex.parse(regex).compiled
    expected = {path: bool(python.search(path)) for path in REGEX_SAMPLE_PATHS}
    assert set(expected.values()) == {True, False}, "the sample should exercise both outcomes"
    assert {path: bool(compiled.match(path)) for path in REGEX_SAMPLE_PATHS} == expected


@pytest.mark.parametrize("regex", [r"(a)\1", r"^/caf\u00e9", r"(?i)ſ", r"\Z", r"(?P<x>a)"])
def test_regex_without_a_faithful_form_has_no_pattern(regex: str) -> None:
    assert speculation.translate_regex(regex) is None
    assert speculation.translate_regex(regex, ignore_case=True) is None


def test_translated_regexes_are_valid_under_the_v_flag() -> None:
    translated = speculation.translate_regex(r"[-/.(){}|\[\]&&!,]x{2}\-\&\=[^\\]{,3}]", True)
    assert translated is not None
    assert urlpattern_syntax_problem("(" + translated.source + ")") is None, translated.source


SAMPLE_QUERIES = [
    "", "a=1", "A=1", "a=1&b=22", "b=22&a=1", "_wpnonce=1", "x=1&TOKEN=2", "mytoken=1", "x", "y&x",
    "xx", "add-to-cart=5", "add%2Dto-cart=5", "add%2dto%2Dcart", "x=1&add-to-cart", "add-to-cart&y",
    "x=add-to-cart", "add-to-carts=1", "Add-to-cart=1", "a=1&&add-to-cart=", "a+b=1", "a%20b",
    "%C3%A9=1", "%c3%a9", "%E9=1", "page=1", "page=10", "page=1&x", "x&page=%31", "page", "q", "q=",
    "q=1", "q=a=b", "q=a%3Db", "q=a+b", "q=a%2Bb", "page=2&page=1", "page=1&page=2", "qq=1&q=a=b",
    "q&q=a=b", "x=1&page&page=1", "a=1&&page=1", "q=x&q=",
]


@pytest.mark.parametrize("regex", [
    r"(?i)(^|&)(_wpnonce|_?token)(=|&|$)", r"^a=1$", r"b=\d+", r"(^|&)x(&|$)", r"%[Cc]3", r"\+",
    r"^$",
])
def test_querystring_regex_becomes_an_exact_search(regex: str) -> None:
    search = speculation.querystring_search(Regex.parse(regex))
    assert search is not None and urlpattern_syntax_problem(search.search) is None, search
    compiled = urlpattern_component_regex(search.search, "")
    python = Regex.parse(regex).compiled
    expected = {query: bool(python.search(query)) for query in SAMPLE_QUERIES}
    assert set(expected.values()) == {True, False}
    assert {query: bool(compiled.match(query)) for query in SAMPLE_QUERIES} == expected


@pytest.mark.parametrize("exact", ["a=1", "", "q=a+b", "x"])
def test_exact_querystring_becomes_an_exact_search(exact: str) -> None:
    search = speculation.querystring_search(exact)
    assert search is not None and urlpattern_syntax_problem(search.search) is None
    compiled = urlpattern_component_regex(search.search, "")
    assert [q for q in SAMPLE_QUERIES if compiled.match(q)] == [exact]


@pytest.mark.parametrize(("name", "value"), [
    ("add-to-cart", None), ("a b", None), ("é", None), ("x", None), ("page", "1"), ("q", ""),
    ("q", "a=b"), ("q", "a b"), ("q", "a+b"),
])
def test_query_param_search_matches_what_parse_qsl_decodes(name: str, value: str | None) -> None:
    search = speculation.query_param_search(name, value)
    assert search is not None and urlpattern_syntax_problem(search.search) is None, search
    compiled = urlpattern_component_regex(search.search, "")
    expected = {}
    for query in SAMPLE_QUERIES:
        values = parse_query(query).get(name)
        expected[query] = values is not None and (value is None or values[0] == value)  # first value
    assert set(expected.values()) == {True, False}
    assert {query: bool(compiled.match(query)) for query in SAMPLE_QUERIES} == expected


@pytest.mark.parametrize("name", ["100%", "\ufffd"])
def test_query_names_decoding_ambiguously_have_no_pattern(name: str) -> None:
    assert speculation.query_param_search(name) is None


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


@pytest.mark.parametrize("purpose, dest, prerender, subresource", [
    ("prefetch;prerender", "document", True, False),
    ("prefetch; prerender", "image", True, True),
    ("Prefetch;Prerender", "script", True, True),
    ("prefetch;prerender", None, True, False),  # no Sec-Fetch-Dest: treat as the document
    ("prefetch", "document", False, False),
    ("prefetch", "image", False, False),
    (None, "image", False, False),
])
def test_a_prerendered_pages_subresources_are_not_the_speculation(purpose, dest, prerender, subresource):
    from prefetch_lab.rules.speculation import is_prerender, is_prerender_subresource

    assert is_prerender(purpose) is prerender
    assert is_prerender_subresource(purpose, dest) is subresource
