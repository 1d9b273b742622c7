"""Path patterns against path-to-regexp 6.3.0 behaviour (Edgio router.match options).

The expected regex sources were produced by path-to-regexp 6.3.0's
`pathToRegexp(pattern).source`.
"""

import re

import pytest

from prefetch_lab.rules.path_pattern import compile_path, js_regex_problem, literal_first_segment, to_js_regex, to_urlpattern

P2R_SOURCES = {
    "/pages/:id": r"^\/pages(?:\/([^\/#\?]+?))[\/#\?]?$",
    "/api/products/:id.json": r"^\/api\/products(?:\/([^\/#\?]+?))\.json[\/#\?]?$",
    "/file.:ext": r"^\/file(?:\.((?:(?!\.)[^\/#\?])+?))[\/#\?]?$",
    "/:a-:b": r"^(?:\/([^\/#\?]+?))-((?:(?!-)[^\/#\?])+?)[\/#\?]?$",
    "/a/:rest*": r"^\/a(?:\/((?:[^\/#\?]+?)(?:\/(?:[^\/#\?]+?))*))?[\/#\?]?$",
    "/a/:rest+": r"^\/a(?:\/((?:[^\/#\?]+?)(?:\/(?:[^\/#\?]+?))*))[\/#\?]?$",
    "/a/:x?": r"^\/a(?:\/([^\/#\?]+?))?[\/#\?]?$",
    "/x/(\\d+)": r"^\/x(?:\/(\d+))[\/#\?]?$",
    "/x{/:y}?": r"^\/x(?:\/([^\/#\?]+?))?[\/#\?]?$",
    "/": r"^\/[\/#\?]?$",
    "/a{-b}+": r"^\/a(?:-b)+[\/#\?]?$",
    "/a{:b(\\d+)-}+": r"^\/a(?:((?:\d+)(?:-(?:\d+))*)-)[\/#\?]?$",
    "/a\\:b": r"^\/a\:b[\/#\?]?$",
    "/test\\/:x": r"^\/test\/([^\/#\?]+?)[\/#\?]?$",
    "/$a^b|c[d]": r"^\/\$a\^b\|c\[d\][\/#\?]?$",
}


@pytest.mark.parametrize(("pattern", "source"), P2R_SOURCES.items())
def test_js_regex_equals_path_to_regexp_output(pattern, source):
    assert to_js_regex(pattern) == source


MATCHES = [
    ("/pages/:id", "/pages/1", True),
    ("/pages/:id", "/pages/1/", True),  # optional trailing slash
    ("/pages/:id", "/PAGES/abc", True),  # case-insensitive
    ("/pages/:id", "/pages", False),
    ("/pages/:id", "/pages/", False),
    ("/pages/:id", "/pages/1/2", False),  # anchored at the end
    ("/pages/:id", "/x/pages/1", False),  # anchored at the start
    ("/pages/:id", "/pages/1//", False),
    ("/logout", "/logout\n", False),  # JS `$` semantics, not Python's
    ("/api/products/:id.json", "/api/products/7.json", True),
    ("/api/products/:id.json", "/api/products/7.JSON", True),
    ("/api/products/:id.json", "/api/products/7", False),
    ("/api/products/:id.json", "/api/products/.json", False),
    ("/file.:ext", "/file.txt", True),
    ("/file.:ext", "/file.tar.gz", False),  # 6.3.0: the parameter may not contain its "." prefix
    ("/a/:rest*", "/a", True),
    ("/a/:rest*", "/a/", True),
    ("/a/:rest*", "/a/b/c", True),
    ("/a/:rest*", "/ab", False),
    ("/a/:rest+", "/a", False),
    ("/a/:rest+", "/a/b/c", True),
    ("/a/:x?", "/a", True),
    ("/a/:x?", "/a/b", True),
    ("/a/:x?", "/a/b/c", False),
    ("/user/:id(\\d+)", "/user/42", True),
    ("/user/:id(\\d+)", "/user/bob", False),
    ("/user/(\\d+)", "/user/42", True),
    ("/shop{/:lang}?/cart", "/shop/cart", True),
    ("/shop{/:lang}?/cart", "/shop/en/cart", True),
    ("/a{-b}?", "/a-b", True),
    ("/a{-b}?", "/a", True),
    ("/a\\:b", "/a:b", True),
    ("/:a-:b", "/x-y-z", True),
    ("/:a-:b", "/x-", False),
    ("/", "/", True),
    ("/", "/x", False),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_matching(pattern, path, expected):
    assert bool(compile_path(pattern).match(path)) is expected


@pytest.mark.parametrize(("pattern", "path", "expected"), MATCHES)
def test_js_source_means_the_same_in_python(pattern, path, expected):
    # The browser uses the same source with the "i" flag; check it is at least consistent.
    source = to_js_regex(pattern)
    assert source.endswith("$")
    assert bool(re.match(source[:-1] + r"\Z", path, re.IGNORECASE)) is expected


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [
        ("/foo*", "unexpected MODIFIER at 4, expected END"),
        ("/static/*", "unexpected MODIFIER"),
        ("/:a:b", "must have text between two parameters"),
        ("/a(b(c))", "capturing groups are not allowed at 4"),
        ("/a(?:b)", 'pattern cannot start with "?" at 3'),
        ("/a(", "unbalanced pattern at 2"),
        ("/a()", "missing pattern at 2"),
        ("/:", "missing parameter name at 1"),
        ("/a/{", "unexpected END at 4, expected CLOSE"),
        ("/a}", "unexpected CLOSE at 2, expected END"),
        ("/a-:b+", 'can not repeat "b" without a prefix and suffix'),
        ("/a\\", "trailing backslash"),
        ("/a/(\\d+[)", "missing ), unterminated subpattern"),  # lexes, but is no regex
        ("/a/(?P<x>\\d)", 'pattern cannot start with "?"'),
        ("/a/((?P<x>\\d))", "named groups"),
        ("/a/(\\d++)", "possessive"),
    ],
)
def test_malformed_patterns_raise_with_a_message(pattern, problem):
    with pytest.raises(ValueError) as error:
        compile_path(pattern)
    assert f"bad path pattern {pattern!r}" in str(error.value)
    assert problem in str(error.value)


def test_non_string_pattern():
    with pytest.raises(ValueError, match="must be a string"):
        compile_path(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "urlpattern"),
    [
        ("/pages/:id", "/pages/:id{/}?"),
        ("/api/products/:id.json", "/api/products/:id.json{/}?"),
        ("/a/:rest*", "/a/:rest*{/}?"),
        ("/x/(\\d+)", "/x/(\\d+){/}?"),
        ("/user/:id(\\d+)", "/user/:id(\\d+){/}?"),
        ("/x{/:y}?", "/x/:y?{/}?"),
        ("/file.:ext", "/file{.:ext((?:(?!\\.)[^\\/])+?)}{/}?"),
        ("/a{-b}?", "/a{-b}?{/}?"),
        ("/a\\:b", "/a\\:b{/}?"),
        ("/test\\/:x?", "/test/{:x}?{/}?"),  # braces keep "/" from becoming the prefix
        ("/1/:2nd/:2nd", "/1/:p2nd/:p2nd_2{/}?"),  # URLPattern names: identifiers, unique
        ("/", "/{/}?"),
    ],
)
def test_urlpattern(pattern, urlpattern):
    assert to_urlpattern(pattern) == urlpattern


@pytest.mark.parametrize("pattern", ["/a/:id([a-z]+)", "/caf\u00e9/:x", "/a b", "/a/(x|[y])", "/a/:x(\\-)"])
def test_urlpattern_none_when_not_faithful(pattern):
    assert to_urlpattern(pattern) is None


def test_urlpattern_rejects_malformed():
    with pytest.raises(ValueError):
        to_urlpattern("/foo*")


@pytest.mark.parametrize(
    ("pattern", "segment"),
    [
        ("/pages/:id", "pages"),
        ("/Pages/:id", "pages"),
        ("/logout", "logout"),
        ("/wp-admin/", "wp-admin"),
        ("/a/:rest*", "a"),
        ("/a/:rest+", "a"),
        ("/shop{/:lang}?", "shop"),
        ("/", ""),
        ("/:id", None),
        ("/file.:ext", None),
        ("/a{/:b}?c", None),  # "/ac" is possible
        ("/a:b", None),
        ("/(\\d+)", None),
        ("/caf\u00e9/:x", None),
        ("pages/:id", None),
        ("/a\\?b/:c", None),
    ],
)
def test_literal_first_segment(pattern, segment):
    assert literal_first_segment(pattern) == segment


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (r"(?P<id>\d+)", "named groups"),
        (r"(?<id>\d+)", "named groups"),
        (r"(?#note)a", "comments"),
        (r"(?>a)", "atomic"),
        (r"(a)?(?(1)b|c)", "conditional"),
        (r"a(?i)b", "inline flags"),
        (r"a*+", "possessive"),
        (r"a{2}+", "possessive"),
        (r"\Aabc", r"\A is Python-only"),
        (r"abc\Z", r"\Z is Python-only"),
    ],
)
def test_python_only_regex_constructs(source, problem):
    assert problem in (js_regex_problem(source) or "")


@pytest.mark.parametrize("source", [r"^/api/.*\.json$", r"a+?", r"\++", r"[+*]+", r"(?:a|b)+", r"(?=x)(?!y)(?<=z)(?<!w)", r"a{2,3}?", r"[\]+]+"])
def test_portable_regexes(source):
    assert js_regex_problem(source) is None
