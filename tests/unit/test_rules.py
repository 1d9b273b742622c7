import json
import random
import textwrap

import pytest

from prefetch_lab.rules.model import Features, Regex, RequestInfo, RuleSet, RulesError
from prefetch_lab.rules.rule_file import load_rules, load_rules_text


def rules_from(yaml_text: str, name: str = "t.yaml") -> RuleSet:
    return load_rules_text(textwrap.dedent(yaml_text), name)


def req(path="/", query="", method="GET", scheme="https", host="shop.example.com") -> RequestInfo:
    return RequestInfo(method=method, scheme=scheme, host=host, path=path, query=query)


def matches(ruleset: RuleSet, request: RequestInfo) -> bool:
    return bool(ruleset.match(request).matched)


# ---------------------------------------------------------------- conditions


def one_rule(match_yaml: str) -> RuleSet:
    body = textwrap.indent(textwrap.dedent(match_yaml).strip(), " " * 6)
    return load_rules_text(f"rules:\n  - match:\n{body}\n    caching: {{max_age: 1m}}\n", "t.yaml")


def test_no_match_key_matches_everything():
    ruleset = rules_from("""
        rules:
          - caching: {max_age: 10}
    """)
    assert ruleset.match(req("/anything", "x=1", method="DELETE", scheme="http")).max_age == 10


@pytest.mark.parametrize(
    ("request_", "expected"),
    [(req("/pages/1"), True), (req("/PAGES/1/"), True), (req("/pages"), False), (req("/other/1"), False)],
)
def test_path(request_, expected):
    assert matches(one_rule("path: /pages/:id"), request_) is expected


def test_path_list_is_any_of():
    ruleset = one_rule("path: [/a/:x, /b]")
    assert matches(ruleset, req("/a/1")) and matches(ruleset, req("/b"))
    assert not matches(ruleset, req("/c"))


def test_path_regex_is_searched_and_case_sensitive_without_prefix():
    ruleset = one_rule(r"path_regex: '\.json$'")
    assert matches(ruleset, req("/api/x.json"))
    assert not matches(ruleset, req("/api/x.JSON"))


def test_path_regex_edgio_case_insensitive_prefix():
    ruleset = one_rule(r"path_regex: '(?i)^/API/'")
    assert matches(ruleset, req("/api/x"))
    assert ruleset.rules[0].path_regexes == ("(?i)^/API/",)


def test_path_and_path_regex_are_and_ed():
    ruleset = one_rule("""
        path: /files/:name
        path_regex: '\\.pdf$'
    """)
    assert matches(ruleset, req("/files/a.pdf"))
    assert not matches(ruleset, req("/files/a.txt"))
    assert not matches(ruleset, req("/other/a.pdf"))


@pytest.mark.parametrize(("method", "expected"), [("GET", True), ("get", True), ("HEAD", True), ("POST", False)])
def test_method(method, expected):
    assert matches(one_rule("method: [get, Head]"), req(method=method)) is expected


@pytest.mark.parametrize(("scheme", "expected"), [("https", True), ("HTTPS", True), ("http", False)])
def test_scheme(scheme, expected):
    assert matches(one_rule("scheme: https"), req(scheme=scheme)) is expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.example.com", True),
        ("SHOP.Example.com", True),
        ("a.cdn.example.com", True),
        ("b.a.cdn.example.com", True),
        ("cdn.example.com", False),  # the wildcard is for sub-domains only
        ("example.com", False),
        ("xshop.example.com", False),
        ("acdn.example.com", False),
    ],
)
def test_host_exact_and_wildcard(host, expected):
    ruleset = one_rule('host: [Shop.Example.com, "*.cdn.example.com"]')
    assert matches(ruleset, req(host=host)) is expected
    assert ruleset.rules[0].applies_to_host(host) is expected


def test_applies_to_host_without_hosts():
    assert one_rule("path: /x").rules[0].applies_to_host("anything.test")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("page=1&preview=&x=y", True),
        ("preview&page=1", True),  # present without a value
        ("page=1", False),  # preview absent
        ("page=2&preview=1", False),
        ("page=1&page=2&preview=1", True),  # the first occurrence counts (as in Edgio's client)
        ("page=2&page=1&preview=1", False),
        ("page=1&preview=1&draft", False),  # present without a value
        ("page=1&preview=1&draft=1", False),  # draft must be absent
        ("page=%31&preview=1", True),  # values are URL-decoded
    ],
)
def test_query_exact_present_absent(query, expected):
    ruleset = one_rule("""
        query:
          page: 1
          preview: true
          draft: false
    """)
    assert matches(ruleset, req(query=query)) is expected


def test_query_value_keeps_yaml_text_and_lists_are_any_of():
    ruleset = one_rule("query: {page: 01, sort: [asc, desc]}")
    assert ruleset.rules[0].query["page"] == ("01",)
    assert matches(ruleset, req(query="page=01&sort=desc"))
    assert not matches(ruleset, req(query="page=1&sort=desc"))
    assert not matches(ruleset, req(query="page=01&sort=up"))


def test_query_regex():
    ruleset = one_rule("query: {sort: {regex: '(?i)^(asc|desc)$'}}")
    condition = ruleset.rules[0].query["sort"]
    assert isinstance(condition, Regex) and condition.ignore_case and condition.js_source == "^(asc|desc)$"
    assert matches(ruleset, req(query="sort=DESC"))
    assert not matches(ruleset, req(query="sort=random"))
    assert not matches(ruleset, req(query=""))


def test_querystring_exact_and_regex():
    exact = one_rule('querystring: "a=1&b=2"')
    assert matches(exact, req(query="a=1&b=2"))
    assert not matches(exact, req(query="b=2&a=1"))
    regex = one_rule("querystring: {regex: '(^|&)utm_'}")
    assert matches(regex, req(query="x=1&utm_source=y"))
    assert not matches(regex, req(query="x_utm_=1"))
    either = one_rule("querystring: ['', {regex: '^v=\\d+$'}]")
    assert matches(either, req(query="")) and matches(either, req(query="v=3"))
    assert not matches(either, req(query="v=x"))


def test_all_conditions_are_and_ed():
    ruleset = one_rule("""
        path: /p/:id
        method: GET
        scheme: https
        host: shop.example.com
        query: {a: "1"}
        querystring: {regex: 'a='}
    """)
    good = dict(path="/p/1", query="a=1", method="GET", scheme="https", host="shop.example.com")
    assert matches(ruleset, req(**good))
    for key, bad in [("path", "/q/1"), ("query", "a=2"), ("method", "POST"), ("scheme", "http"), ("host", "other.com")]:
        assert not matches(ruleset, req(**{**good, key: bad})), key


def test_rule_exposes_conditions_and_features():
    ruleset = rules_from("""
        rules:
          - comment: "Product pages"
            match:
              path: /pages/:id
              path_regex: '^/pages/'
              method: get
              scheme: HTTPS
              host: Shop.Example.com
              query: {preview: false}
              querystring: "x=1"
            caching:
              max_age: 1h
              service_worker_max_age: 30m
              stale_while_revalidate: 1d
              bypass_cache: false
              bypass_client_cache: true
              ignore_origin_no_cache: [200, 404]
              cacheable_status_codes: [200, 301]
            headers:
              set_response_headers: {x-foo: bar, x-num: 5}
            deep_fetch:
              - {selector: img.hero, max_matches: 2, as: image}
              - {json_query: products.thumbnail}
    """, "shop.yaml")
    (rule,) = ruleset.rules
    assert rule.id == "shop.yaml#1" and rule.comment == "Product pages" and rule.line == 3
    assert rule.paths == ("/pages/:id",) and rule.path_regexes == ("^/pages/",)
    assert rule.methods == ("GET",) and rule.schemes == ("https",) and rule.hosts == ("shop.example.com",)
    assert dict(rule.query) == {"preview": False} and rule.querystring == ("x=1",)
    assert rule.deep_fetch == (
        {"selector": "img.hero", "max_matches": 2, "as": "image", "attribute": "src"},
        {"json_query": "products.thumbnail"},
    )
    assert dict(rule.features) == {
        "max_age": 3600,
        "service_worker_max_age": 1800,
        "stale_while_revalidate": 86400,
        "bypass_cache": False,
        "bypass_client_cache": True,
        "ignore_origin_no_cache": (200, 404),
        "cacheable_status_codes": (200, 301),
        "set_response_headers": (("x-foo", "bar"), ("x-num", "5")),
        "deep_fetch": rule.deep_fetch,
    }
    assert ruleset.sources == ("shop.yaml",)


def test_features_only_lists_keys_actually_set():
    (rule,) = rules_from("rules: [{caching: {bypass_cache: true}}]").rules
    assert dict(rule.features) == {"bypass_cache": True}


# ---------------------------------------------------------------- merging


MERGE_RULES = """
    rules:
      - caching: {max_age: 1h, service_worker_max_age: 1h, stale_while_revalidate: 1d}
        headers: {set_response_headers: {x-a: "1", X-B: "1"}}
        deep_fetch: [{selector: img.a}]
      - match: {path: /special/:id}
        caching: {max_age: 5m, bypass_cache: true}
        headers: {set_response_headers: {x-b: "2"}}
      - match: {path: /special/2}
        caching: {bypass_cache: false}
        deep_fetch: [{json_query: x.y}]
"""


def test_later_rules_override_earlier_keys_and_keep_the_rest():
    ruleset = rules_from(MERGE_RULES)
    features = ruleset.match(req("/special/1"))
    assert features.matched == ("t.yaml#1", "t.yaml#2")
    assert (features.max_age, features.service_worker_max_age, features.stale_while_revalidate) == (300, 3600, 86400)
    assert features.bypass_cache and not features.prefetchable
    assert features.set_response_headers == (("x-a", "1"), ("x-b", "2"))  # by name, case-insensitive
    assert features.deep_fetch == ({"selector": "img.a", "attribute": "src"},)

    third = ruleset.match(req("/special/2"))
    assert third.matched == ("t.yaml#1", "t.yaml#2", "t.yaml#3")
    assert not third.bypass_cache and third.prefetchable and third.max_age == 300
    assert third.deep_fetch == ({"json_query": "x.y"},)


def test_no_match_gives_default_features():
    ruleset = rules_from("rules: [{match: {path: /x}, caching: {max_age: 1}}]")
    assert ruleset.match(req("/y")) == Features()
    assert RuleSet.empty().match(req("/y")) == Features()
    assert RuleSet.empty().rules == () and RuleSet.empty().sources == ()


@pytest.mark.parametrize(
    ("features", "prefetchable"),
    [
        (Features(max_age=60, service_worker_max_age=60), True),
        (Features(max_age=0, service_worker_max_age=60), True),  # Edgio only checks max_age is set
        (Features(max_age=None, service_worker_max_age=60), False),
        (Features(max_age=60, service_worker_max_age=0), False),
        (Features(max_age=60), False),
        (Features(max_age=60, service_worker_max_age=60, bypass_cache=True), False),
    ],
)
def test_prefetchable(features, prefetchable):
    assert features.prefetchable is prefetchable


def test_multi_host_rule_is_applied_once():
    ruleset = rules_from("""
        rules:
          - match: {host: [a.example.com, "*.example.com"]}
            caching: {max_age: 1}
          - caching: {service_worker_max_age: 2}
    """)
    assert ruleset.match(req(host="a.example.com")).matched == ("t.yaml#1", "t.yaml#2")


# ---------------------------------------------------------------- errors


def error_for(yaml_text: str, name: str = "rules/site.yaml") -> RulesError:
    with pytest.raises(RulesError) as error:
        load_rules_text(textwrap.dedent(yaml_text).lstrip("\n"), name)
    return error.value


def test_bad_duration_error_has_design_doc_format():
    error = error_for("""
        rules:
          - match: {path: /x}
            caching:
              service_worker_max_age: 1h
              max_age: soon
    """)
    assert str(error) == (
        "rules/site.yaml:5: caching.max_age: expected a duration like 30s/5m/1h/1d/1w/1y, got 'soon'"
    )
    assert (error.file, error.line) == ("rules/site.yaml", 5)


@pytest.mark.parametrize(
    ("yaml_text", "line", "message"),
    [
        ("rules:\n  - match: {path: /x\n", 3, "YAML syntax error"),
        ("rules:\n  - caching:\n      max_age: 1h\n     bad: indentation\n", 4, "YAML syntax error"),
        ("rules:\n  - comment: x\n    cachng: {max_age: 1h}\n", 3, "cachng: unknown key (did you mean 'caching'?)"),
        ("rules:\n  - match:\n      pth: /x\n", 3, "match.pth: unknown key (did you mean 'path'?)"),
        ("rules:\n  - caching:\n      max_age: 1h\n      maxage: 1h\n", 4, "caching.maxage: unknown key"),
        ("rules: []\nrulez: []\n", 2, "rulez: unknown key"),
        ("rules:\n  - caching:\n      max_age: -5\n", 3, "caching.max_age: duration must not be negative"),
        ("rules:\n  - caching:\n      stale_while_revalidate: [1h]\n", 3, "caching.stale_while_revalidate: expected a duration"),
        ("rules:\n  - match:\n      path_regex: '(unclosed'\n", 3, "match.path_regex: bad regex '(unclosed'"),
        ("rules:\n  - match:\n      path_regex: [ok, '(?P<n>x)']\n", 3, "named groups"),
        ("rules:\n  - match:\n      query:\n        q: {regex: '['}\n", 4, "match.query.q.regex: bad regex"),
        ("rules:\n  - match:\n      querystring: {regex: '*'}\n", 3, "match.querystring.regex: bad regex"),
        ("rules:\n  - match:\n      path:\n        - /ok\n        - /static/*\n", 5, "match.path: bad path pattern '/static/*'"),
        ("rules:\n  - match:\n      path: 404\n", 3, "match.path: expected a string, got int 404"),
        ("rules:\n  - match:\n      method: [GET, 5]\n", 3, "match.method: expected a string"),
        ("rules:\n  - match:\n      method: 'GE T'\n", 3, "match.method: not an HTTP method"),
        ("rules:\n  - match:\n      scheme: ftp\n", 3, "match.scheme: expected http or https"),
        ("rules:\n  - match:\n      host: 'a.*.com'\n", 3, "match.host: expected a host name"),
        ("rules:\n  - match:\n      path: []\n", 3, "match.path: empty list would never match"),
        ("rules:\n  - match:\n      query: {a: null}\n", 3, "match.query.a: expected a value"),
        ("rules:\n  - match:\n      query: {a: {regx: x}}\n", 3, "match.query.a.regx: unknown key"),
        ("rules:\n  - match: /x\n", 2, "match: expected a mapping, got str '/x'"),
        ("rules:\n  - caching:\n      bypass_cache: 'no thanks'\n", 3, "caching.bypass_cache: expected true or false"),
        ("rules:\n  - caching:\n      cacheable_status_codes: [200, 999]\n", 3, "caching.cacheable_status_codes: expected an HTTP status code"),
        ("rules:\n  - caching:\n      ignore_origin_no_cache: maybe\n", 3, "caching.ignore_origin_no_cache: expected true or false"),
        ("rules:\n  - headers:\n      set_response_headers: {'bad header': x}\n", 3, "not a valid header name"),
        ("rules:\n  - headers:\n      set_response_headers: {x-a: [1]}\n", 3, "headers.set_response_headers.x-a: expected a header value"),
        ("rules:\n  - deep_fetch: {selector: img}\n", 2, "deep_fetch: expected a list"),
        ("rules:\n  - deep_fetch:\n      - {attribute: src}\n", 3, "exactly one of selector or json_query"),
        ("rules:\n  - deep_fetch:\n      - selector: img\n        max_matches: 0\n", 4, "deep_fetch.max_matches: expected an integer >= 1"),
        ("rules:\n  - deep_fetch:\n      - {selector: img, maxMatches: 1}\n", 3, "deep_fetch.maxMatches: unknown key"),
        ("rules:\n  - deep_fetch:\n      - {json_query: a.b, attribute: src}\n", 3, "only applies to selector"),
        ("rules:\n  - comment: 5\n", 2, "comment: expected a string, got int 5"),
        ("rules:\n  - comment: a\n    comment: b\n", 3, "comment: duplicate key"),
        ("rules:\n  - just a string\n", 2, "rule 1: expected a mapping"),
        ("rules: {max_age: 1}\n", 1, "rules: expected a list of rules"),
        ("- a\n- b\n", 1, "expected a mapping, got a list"),
        ("rules:\n  - comment: !custom x\n", 2, "cannot read value"),
    ],
)
def test_errors_name_file_line_and_problem(yaml_text, line, message):
    error = error_for(yaml_text)
    assert error.file == "rules/site.yaml"
    assert error.line == line, str(error)
    assert message in str(error)
    assert str(error).startswith(f"rules/site.yaml:{line}: ")


@pytest.mark.parametrize("text", ["", "# only a comment\n", "rules: []\n", "rules:\n"])
def test_empty_files_are_valid(text):
    assert load_rules_text(text, "e.yaml").rules == ()


# ---------------------------------------------------------------- loading files


def test_load_directory_sorted_non_recursive_yaml_only(tmp_path):
    (tmp_path / "b.yaml").write_text("rules: [{caching: {max_age: 2}}]\n")
    (tmp_path / "a.yml").write_text("rules: [{caching: {max_age: 1}}, {caching: {service_worker_max_age: 1}}]\n")
    (tmp_path / "c.txt").write_text("not: [yaml\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "0.yaml").write_text("rules: [{caching: {max_age: 99}}]\n")
    ruleset = load_rules([tmp_path])
    assert ruleset.sources == (str(tmp_path / "a.yml"), str(tmp_path / "b.yaml"))
    assert [r.id for r in ruleset.rules] == ["a.yml#1", "a.yml#2", "b.yaml#1"]
    assert ruleset.match(req()).max_age == 2


def test_load_files_in_given_order(tmp_path):
    first, second = tmp_path / "z.yaml", tmp_path / "a.yaml"
    first.write_text("rules: [{caching: {max_age: 1}}]\n")
    second.write_text("rules: [{caching: {max_age: 2}}]\n")
    assert load_rules([first, str(second)]).match(req()).matched == ("z.yaml#1", "a.yaml#1")


def test_load_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - caching: {max_age: later}\n")
    with pytest.raises(RulesError, match=rf"^{bad}:2: caching.max_age: "):
        load_rules([tmp_path])
    with pytest.raises(RulesError, match="no such file"):
        load_rules([tmp_path / "missing.yaml"])


# ---------------------------------------------------------------- index vs naive


def naive_matched_ids(ruleset: RuleSet, request: RequestInfo) -> tuple[str, ...]:
    return tuple(rule.id for rule in ruleset.rules if rule.matches(request))


PATH_PATTERNS = [
    "/", "/a", "/a/:x", "/A/:x?", "/a/:rest*", "/b/:rest+", "/:x", "/:x/b", "/a{/:x}?b", "/a.:ext",
    "/file.:ext?", "/b/(\\d+)", "/b-:x", "/a/b/c", "/wp-admin/", "/c/:x/d", "/caf\u00e9/:x", "/a\\?b",
    "/shop{/:lang}?/cart", "/a/:x/:y*", "/k/:x", "/s/:x",
]
PATH_REGEXES = [
    "^/a/", "(?i)^/B/", "^/a\\/b", "\\.js$", "^/c/|^/a", "^/a/?$", "^/$", "(?i)/logout", "^/b/\\d+$", "^/fil",
    "^/b/?-", "(?i)^/k/",
]
HOSTS = ["shop.example.com", "*.example.com", "example.com", "*.shop.example.com", "other.test"]
REQUEST_PATHS = [
    "/", "//", "/a", "/A", "/a/", "/a/1", "/a/1/2", "/ab", "/a.txt", "/file", "/file.", "/file.js", "/b", "/b/",
    "/b/12", "/B/12", "/b/x/y", "/b-1", "/a/b/c", "/wp-admin/", "/WP-ADMIN", "/c/1/d", "/caf\u00e9/1", "/CAF\u00c9/1",
    "/a?b", "/a#x", "/logout", "/x/LOGOUT", "/shop/cart", "/shop/en/cart", "", "a/1", "/app.js",
    "/\u212a/1", "/\u017f/1",  # Kelvin sign and long s equal "k" and "s" under Python's IGNORECASE
]
REQUEST_HOSTS = ["shop.example.com", "a.example.com", "example.com", "x.shop.example.com", "other.test", "elsewhere.org"]


def random_rules_yaml(rng: random.Random, count: int) -> str:
    lines = ["rules:"]
    for _ in range(count):
        lines.append("  - caching: {max_age: %d}" % rng.randint(0, 99))
        conditions = []
        if rng.random() < 0.6:
            conditions.append("path: " + json.dumps(rng.sample(PATH_PATTERNS, rng.randint(1, 2))))
        if rng.random() < 0.3:
            conditions.append("path_regex: " + json.dumps(rng.sample(PATH_REGEXES, rng.randint(1, 2))))
        if rng.random() < 0.3:
            conditions.append("host: " + json.dumps(rng.sample(HOSTS, rng.randint(1, 2))))
        if rng.random() < 0.2:
            conditions.append("method: " + rng.choice(["GET", "[GET, HEAD]", "POST"]))
        if rng.random() < 0.15:
            conditions.append("query: {p: " + rng.choice(["true", "false", "'1'", "{regex: '^[12]$'}"]) + "}")
        if conditions:
            lines.append("    match: {" + ", ".join(conditions) + "}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(20))
def test_indexed_match_equals_naive_in_order_match(seed):
    rng = random.Random(seed)
    ruleset = load_rules_text(random_rules_yaml(rng, rng.randint(1, 60)), "r.yaml")
    for _ in range(150):
        request = RequestInfo(
            method=rng.choice(["GET", "HEAD", "POST"]),
            scheme="https",
            host=rng.choice(REQUEST_HOSTS),
            path=rng.choice(REQUEST_PATHS),
            query=rng.choice(["", "p=1", "p=3", "q=1", "p"]),
        )
        assert ruleset.match(request).matched == naive_matched_ids(ruleset, request), request


def test_index_candidates_do_not_grow_with_unrelated_rules():
    many = "rules:\n" + "".join(
        f"  - {{match: {{path: /section{i}/:id}}, caching: {{max_age: {i}}}}}\n" for i in range(1000)
    )
    ruleset = load_rules_text(many, "many.yaml")
    assert len(ruleset._candidates(req("/section500/7"))) == 1
    assert ruleset.match(req("/Section500/7/")).matched == ("many.yaml#501",)
    assert ruleset.match(req("/nothing/7")).matched == ()


def test_rule_built_in_code_behaves_like_a_loaded_one():
    from prefetch_lab.rules.model import Rule

    rule = Rule(id="code#1", source="code", line=1, paths=("/a/:id",), methods=("get",), hosts=("A.test",),
                features={"max_age": 5})
    ruleset = RuleSet([rule])
    assert ruleset.match(req("/a/1", host="a.test")).max_age == 5
    assert ruleset.match(req("/b/1", host="a.test")).matched == ()
    with pytest.raises(ValueError, match="bad path pattern"):
        Rule(id="code#2", source="code", line=1, paths=("/a*",))
