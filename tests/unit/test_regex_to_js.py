"""Python rule regexes as JavaScript regexes and URLPattern components (rules/regex_to_js.py).

Each translation is compared, on sample paths and queries, with what the Python regex (or
`parse_qsl`) decides, through the reference URLPattern compiler of speculation_reference.py,
and checked against URLPattern's syntax rules for regexp groups.
"""

from __future__ import annotations

import pytest

from prefetch_lab.rules import regex_to_js
from prefetch_lab.rules.model import Regex, parse_query
from tests.unit.speculation_reference import (
    urlpattern_component_regex,
    urlpattern_pathname_regex,
    urlpattern_syntax_problem,
)


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


def test_urlpattern_syntax_checker_rejects_what_chromium_rejects() -> None:
    for bad in ["(?:a)", "(a(b))", "()", "(é)", "(a{)", "(a\\-b)", "([(])", "([-a])", "([a&&b])",
                "(a\\&)", "([\\&])", "(a]"]:
        assert urlpattern_syntax_problem(bad), bad
    for good in ["/*", "/(a(?:b)(?=c)(?<=d))", "([\\-_])", "([a-z\\/])", "(a{2,})", "(\\x2C)",
                 "([a&b])"]:
        assert urlpattern_syntax_problem(good) is None, good


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
    pathname = regex_to_js.regex_pathname(Regex.parse(regex))
    assert pathname is not None and pathname.startswith("/")  # relative ones resolve per directory
    assert urlpattern_syntax_problem(pathname) is None, pathname
    compiled = urlpattern_pathname_regex(pathname)
    python = Regex.parse(regex).compiled
    expected = {path: bool(python.search(path)) for path in REGEX_SAMPLE_PATHS}
    assert set(expected.values()) == {True, False}, "the sample should exercise both outcomes"
    assert {path: bool(compiled.match(path)) for path in REGEX_SAMPLE_PATHS} == expected


@pytest.mark.parametrize("regex", [r"(a)\1", r"^/caf\u00e9", r"(?i)ſ", r"\Z", r"(?P<x>a)"])
def test_regex_without_a_faithful_form_has_no_pattern(regex: str) -> None:
    assert regex_to_js.translate_regex(regex) is None
    assert regex_to_js.translate_regex(regex, ignore_case=True) is None


def test_translated_regexes_are_valid_under_the_v_flag() -> None:
    translated = regex_to_js.translate_regex(r"[-/.(){}|\[\]&&!,]x{2}\-\&\=[^\\]{,3}]", True)
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
    search = regex_to_js.querystring_search(Regex.parse(regex))
    assert search is not None and urlpattern_syntax_problem(search.search) is None, search
    compiled = urlpattern_component_regex(search.search, "")
    python = Regex.parse(regex).compiled
    expected = {query: bool(python.search(query)) for query in SAMPLE_QUERIES}
    assert set(expected.values()) == {True, False}
    assert {query: bool(compiled.match(query)) for query in SAMPLE_QUERIES} == expected


@pytest.mark.parametrize("exact", ["a=1", "", "q=a+b", "x"])
def test_exact_querystring_becomes_an_exact_search(exact: str) -> None:
    search = regex_to_js.querystring_search(exact)
    assert search is not None and urlpattern_syntax_problem(search.search) is None
    compiled = urlpattern_component_regex(search.search, "")
    assert [q for q in SAMPLE_QUERIES if compiled.match(q)] == [exact]


@pytest.mark.parametrize(("name", "value"), [
    ("add-to-cart", None), ("a b", None), ("é", None), ("x", None), ("page", "1"), ("q", ""),
    ("q", "a=b"), ("q", "a b"), ("q", "a+b"),
])
def test_query_param_search_matches_what_parse_qsl_decodes(name: str, value: str | None) -> None:
    search = regex_to_js.query_param_search(name, value)
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
    assert regex_to_js.query_param_search(name) is None
