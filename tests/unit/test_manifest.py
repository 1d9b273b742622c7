"""The Edgio cache manifest: shape, host filtering, and agreement with the edge's rules.

Agreement is checked with a small Python evaluator of the manifest's condition vocabulary
(the same semantics the browser's evaluator implements), compared with RuleSet.match.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from urllib.parse import parse_qs

import pytest

from prefetch_lab.http.durations import parse_duration
from prefetch_lab.rules.manifest import build_manifest, duration, present_regex, render_manifest, to_js_literal
from prefetch_lab.rules.path_pattern import compile_path
from prefetch_lab.rules.model import RequestInfo, RulesError
from prefetch_lab.rules.rule_file import load_rules_text

RULES = r"""
rules:
  - comment: every page
    match: {path: "/:path*"}
    caching: {max_age: 1h, service_worker_max_age: 10m, stale_while_revalidate: 1d}
    headers: {set_response_headers: {x-page: "1"}}
  - comment: product pages deep-fetch their hero image
    match: {path: "/products/:id"}
    caching: {max_age: 2h, service_worker_max_age: 1w}
    deep_fetch: [{selector: "img.hero", max_matches: 1, as: image}]
  - comment: JSON API, case-insensitive regex
    match: {path_regex: '(?i)^/api/.*\.json$'}
    caching: {bypass_cache: true}
  - comment: previews and drafts
    match: {path: "/products/:id", query: {preview: true}}
    caching: {bypass_cache: true}
  - match: {path: "/search", query: {page: ["1", "2"], sort: {regex: '^(asc|desc)$'}, debug: false}}
    caching: {service_worker_max_age: 0}
  - match: {path: "/feed", querystring: ["format=rss", {regex: '^v=\d+$'}]}
    caching: {bypass_cache: true, bypass_client_cache: true}
  - match: {path: "/https-only/:x", scheme: https, method: [GET, HEAD]}
    caching: {bypass_cache: true}
  - match: {path: "/never", method: POST}
    caching: {bypass_cache: true}
  - comment: host a bypasses promos
    match: {path: "/promo/:id", host: a.example}
    caching: {bypass_cache: true}
  - comment: sub-domains of b.example do not prefetch the blog
    match: {path: "/blog/:rest*", host: ["*.b.example"]}
    caching: {service_worker_max_age: 0}
  - comment: headers only, nothing for the browser
    match: {path: "/robots.txt"}
    headers: {set_response_headers: {x-robots: "1"}}
  - comment: an exact empty querystring, or none
    match: {path: "/empty", querystring: ""}
    caching: {bypass_cache: true}
  - comment: an exact empty first value (or a bare name)
    match: {path: "/blank", query: {b: ""}}
    caching: {bypass_cache: true}
"""

URLS = [
    "/", "/about", "/products/7", "/products/7?preview=1", "/products/7?x=1", "/PRODUCTS/7",
    "/products/7?preview", "/products/7?preview=", "/products/7?pre%76iew=1", "/products/7?x=1&preview",
    "/api/items.json", "/API/Items.JSON", "/api/items.html", "/search", "/search?page=1&sort=asc",
    "/search?page=3&sort=asc", "/search?page=2&sort=desc&debug=1", "/search?page=2&sort=up",
    "/search?page=1&page=3&sort=asc", "/search?page=3&page=1&sort=asc", "/search?page=1&sort=asc&sort=up",
    "/search?page=1&sort=up&sort=asc", "/search?page=1&sort=asc&debug", "/search?page=1&sort=asc&debug=",
    "/search?page=1&sort=", "/search?page=1&sort", "/search?page=%31&sort=asc", "/search?page=1&sort=asc&&x",
    "/feed", "/feed?format=rss", "/feed?v=12", "/feed?v=x", "/feed?", "/https-only/1", "/never",
    "/promo/1", "/blog/post/1", "/robots.txt", "/empty", "/empty?", "/empty?x", "/blank", "/blank?b",
    "/blank?b=", "/blank?b=1", "/blank?b=&b=1", "/blank?b=1&b=",
]
HOSTS = ("a.example", "www.b.example", "c.example")


# ---------------------------------------------------------------- a reference evaluator
#
# Edgio's own semantics (@edgio/core 7.13.13 CacheManifest + RulesConditionalVisitor), in
# Python: a query param is its first value and None (undefined) when missing or empty, the
# querystring None when empty, the scheme upper-case, strict comparisons, no "not".
# tests/e2e/test_edgio_evaluator.py runs Edgio's real code on the same manifests.


def variable(spec: dict, path: str, query: str, scheme: str) -> str | None:
    if "request.origin_query" in spec:
        values = parse_qs(query, keep_blank_values=True).get(spec["request.origin_query"])
        return values[0] or None if values else None
    return {"path": path, "querystring": query or None, "method": "GET",
            "scheme": scheme.upper()}[spec["request"]]


def regex_test(source: str, value: str | None) -> bool:
    flags = re.IGNORECASE if source.startswith("(?i)") else 0
    return re.search(source.removeprefix("(?i)"), value or "", flags) is not None


def holds(condition: dict, path: str, query: str, scheme: str) -> bool:
    [(operator, operands)] = condition.items()
    if operator == "and":
        return all(holds(c, path, query, scheme) for c in operands)
    if operator == "or":
        return any(holds(c, path, query, scheme) for c in operands)
    value = variable(operands[0], path, query, scheme)
    expected = operands[1]
    if operator == "==":
        return bool(compile_path(expected).match(value or ""))
    if operator == "=~":
        return regex_test(expected, value)
    if operator == "!~":
        return not regex_test(expected, value)
    if operator == "===":
        return value == expected
    if operator == "in":
        return value in expected
    raise AssertionError(f"operator not in the manifest vocabulary: {operator}")


def seconds(value: str) -> float:
    """Edgio's fromTimeUnitAbbrev (its m is months; w is NaN)."""
    match = re.search(r"(\d+)([a-z]+)", value, re.IGNORECASE)
    units = {"s": 1, "h": 3600, "d": 86400, "m": 86400 * 30.437, "y": 86400 * 30.437 * 12}
    return int(match[1]) * units[match[2]] if match and match[2] in units else float("nan")


def browser_prefetchable(manifest: dict, url: str, scheme: str = "https") -> bool:
    path, _, query = url.partition("?")
    caching: dict = {}
    for rule in manifest["rules"]:
        condition, features = rule["if"]
        if holds(condition, path, query, scheme):
            caching.update(features.get("caching", {}))
    sw_max_age = caching.get("service_worker_max_age")
    return ("max_age" in caching and bool(sw_max_age) and seconds(sw_max_age) > 0
            and not caching.get("bypass_cache"))


def edge_prefetchable(ruleset, host: str, url: str, scheme: str = "https") -> bool:
    path, _, query = url.partition("?")
    return ruleset.match(RequestInfo("GET", scheme, host, path, query)).prefetchable


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_the_browser_and_the_edge_agree_on_every_url(scheme: str) -> None:
    ruleset = load_rules_text(RULES)
    for host in HOSTS:
        manifest = build_manifest(ruleset, host)
        outcomes = []
        for url in URLS:
            expected = edge_prefetchable(ruleset, host, url, scheme)
            assert browser_prefetchable(manifest, url, scheme) is expected, (host, url)
            outcomes.append(expected)
        assert set(outcomes) == {True, False}, host


def test_rule_shape_keeps_only_browser_features_as_duration_strings() -> None:
    manifest = build_manifest(load_rules_text(RULES), "c.example")
    assert manifest["version"] == "0.2.0"
    assert manifest["skipped"] == []
    first, products = manifest["rules"][:2]
    assert first == {
        "id": "rules.yaml#1",
        "if": [{"and": [{"==": [{"request": "path"}, "/:path*"]}]},
               {"caching": {"max_age": "1h", "service_worker_max_age": "600s",
                            "stale_while_revalidate": "1d"}}],
    }
    assert products["if"][1] == {
        "caching": {"max_age": "2h", "service_worker_max_age": "7d"},
        "deep_fetch": [{"selector": "img.hero", "max_matches": 1, "as": "image",
                        "attribute": "src"}],
    }
    ids = [rule["id"] for rule in manifest["rules"]]
    assert "rules.yaml#11" not in ids  # headers only


@pytest.mark.parametrize(("value", "expected"), [
    (0, "0s"), (1, "1s"), (59, "59s"), (60, "60s"), (300, "300s"), (3600, "1h"), (5400, "5400s"),
    (7200, "2h"), (86400, "1d"), (90000, "25h"), (604800, "7d"), (31536000, "365d"),
])
def test_durations_are_strings_both_edgio_parsers_read_alike(value: int, expected: str) -> None:
    assert duration(value) == expected
    assert parse_duration(expected) == value  # the edge's reading
    assert seconds(expected) == value  # Edgio's browser-side fromTimeUnitAbbrev


def test_conditions_use_the_manifest_vocabulary() -> None:
    rules = {rule["id"]: rule["if"][0]["and"] for rule in
             build_manifest(load_rules_text(RULES), "a.example")["rules"]}
    qs = {"request": "querystring"}
    present = {name: present_regex(name) for name in ("preview", "sort", "debug", "b")}
    assert present["preview"] == ("(?:^|&)(?:p|%70)(?:r|%72)(?:e|%65)(?:v|%76)(?:i|%69)(?:e|%65)"
                                  "(?:w|%77)(?:[=&]|$)")
    assert rules["rules.yaml#3"] == [{"=~": [{"request": "path"}, r"(?i)^/api/.*\.json$"]}]
    assert rules["rules.yaml#4"][1] == {"=~": [qs, present["preview"]]}
    assert rules["rules.yaml#5"][1:] == [
        {"or": [{"===": [{"request.origin_query": "page"}, "1"]},
                {"===": [{"request.origin_query": "page"}, "2"]}]},
        {"and": [{"=~": [qs, present["sort"]]}, {"=~": [{"request.origin_query": "sort"}, "^(asc|desc)$"]}]},
        {"!~": [qs, present["debug"]]},
    ]
    assert rules["rules.yaml#6"][1] == {"or": [{"===": [qs, "format=rss"]},
                                               {"=~": [qs, r"^v=\d+$"]}]}
    assert rules["rules.yaml#7"][1:] == [{"in": [{"request": "method"}, ["GET", "HEAD"]]},
                                         {"in": [{"request": "scheme"}, ["HTTPS"]]}]
    assert rules["rules.yaml#12"][1] == {"!~": [qs, r"[\s\S]"]}
    assert rules["rules.yaml#13"][1] == {"and": [{"=~": [qs, present["b"]]},
                                                 {"!~": [{"request.origin_query": "b"}, r"[\s\S]"]}]}
    # Nothing Edgio's visitor lacks (no "not") or cannot read (null for undefined, numbers).
    text = json.dumps(build_manifest(load_rules_text(RULES), "a.example"))
    assert '"not"' not in text and "null" not in text and '"!=="' not in text


def test_query_names_without_a_raw_regex_skip_the_rule() -> None:
    manifest = build_manifest(load_rules_text(
        "rules:\n  - {match: {query: {'100%': true}}, caching: {bypass_cache: true}}\n"), "c.example")
    assert manifest["rules"] == []
    assert manifest["skipped"] == [{"id": "rules.yaml#1", "reason": "query name '100%' has no regex on the raw query"}]


def test_host_scoped_rules_are_served_to_their_hosts_without_the_host_condition() -> None:
    ruleset = load_rules_text(RULES)
    for host in HOSTS:
        manifest = build_manifest(ruleset, host)
        ids = {rule["id"] for rule in manifest["rules"]}
        assert ("rules.yaml#9" in ids) is (host == "a.example")
        assert ("rules.yaml#10" in ids) is (host == "www.b.example")
        assert "host" not in json.dumps(manifest)
    assert "rules.yaml#10" not in {r["id"] for r in build_manifest(ruleset, "b.example")["rules"]}
    assert "rules.yaml#9" in {r["id"] for r in build_manifest(ruleset, "A.Example")["rules"]}


def test_cache_manifest_ignore_keeps_a_rule_out() -> None:
    ruleset = load_rules_text(RULES + """
  - comment: "edge only (cache-manifest-ignore)"
    match: {path: "/edge-only"}
    caching: {bypass_cache: true}
""")
    manifest = build_manifest(ruleset, "c.example")
    assert "rules.yaml#14" not in {rule["id"] for rule in manifest["rules"]}
    assert not edge_prefetchable(ruleset, "c.example", "/edge-only")
    assert browser_prefetchable(manifest, "/edge-only")  # the browser was told nothing


def test_python_only_regexes_are_skipped_with_a_reason() -> None:
    # Rule() and the loader already reject these; the manifest is the second line of
    # defence, so the regex is swapped in after construction, the way __post_init__ sets fields.
    with pytest.raises(RulesError):
        load_rules_text("rules:\n  - {match: {path_regex: '(?P<n>a)'}, caching: {max_age: 1}}")
    ruleset = load_rules_text(RULES)
    api_rule = ruleset.rules[2]
    regexes = [r"^/a\Z", "(?P<n>a)", "^/(?>a)", "^/a*+", "(?s)^/a"]
    for regex in regexes:
        object.__setattr__(api_rule, "path_regexes", (regex,))
        manifest = build_manifest(ruleset, "c.example")
        assert "rules.yaml#3" not in {rule["id"] for rule in manifest["rules"]}, regex
        [skipped] = manifest["skipped"]
        assert skipped["id"] == "rules.yaml#3" and skipped["reason"].startswith("regex "), regex
    object.__setattr__(api_rule, "path_regexes", ("(?i)^/fine",))
    manifest = build_manifest(ruleset, "c.example")
    assert manifest["skipped"] == [] and "rules.yaml#3" in {r["id"] for r in manifest["rules"]}


def test_render_is_script_safe_ascii_javascript() -> None:
    ruleset = load_rules_text("""
rules:
  - match: {path: "/x", query: {q: "a\\u2028b</script><!--"}}
    caching: {max_age: 1h, service_worker_max_age: 1h}
    deep_fetch: [{selector: "a[title='</SCRIPT>']", as: image}]
""")
    body = render_manifest(ruleset, "c.example")
    text = body.decode("ascii")
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    prefix, suffix = "self.__EDGIO_CACHE_MANIFEST__ = ", ";\n"
    assert text.startswith(prefix) and text.endswith(suffix)
    assert json.loads(text[len(prefix):-len(suffix)]) == build_manifest(ruleset, "c.example")
    assert json.loads(to_js_literal({"k": "\u2029"})) == {"k": "\u2029"}


NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="needs node to run the JavaScript")
def test_javascript_reads_the_same_manifest_and_compiles_its_regexes() -> None:
    ruleset = load_rules_text(RULES)
    body = render_manifest(ruleset, "a.example").decode("ascii")
    script = body + """
const manifest = self.__EDGIO_CACHE_MANIFEST__;
const regexes = [];
JSON.stringify(manifest, (key, value) => {
  if (key === "=~") regexes.push(value[1]);
  return value;
});
for (const source of regexes) {
  new RegExp(source.replace(/^\\(\\?i\\)/, ""), source.startsWith("(?i)") ? "i" : "");
}
process.stdout.write(JSON.stringify({manifest, regexes: regexes.length}));
"""
    result = subprocess.run([NODE, "-e", "var self = {};\n" + script], capture_output=True,
                            text=True, timeout=20, check=True)
    output = json.loads(result.stdout)
    assert output["manifest"] == build_manifest(ruleset, "a.example")
    assert output["regexes"] == body.count('"=~"') > 0
