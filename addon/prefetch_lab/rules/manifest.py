"""The Edgio cache manifest (`/__edgio__/cache-manifest.js`) for one host.

The browser evaluates these rules to decide which links to prefetch: our install.js and
service worker (static/manifest-eval.js), or Edgio's own `@edgio/prefetch` client
(`CacheManifest.shouldPrefetch` from `@edgio/core`). The manifest is written so both decide
exactly as `RuleSet.match(...).prefetchable`; the contract is in docs/DESIGN.md ("Cache
manifest"). Edgio's evaluator shapes it:
- durations are strings with a unit (`"120s"`, `"2h"`, `"7d"`): Edgio calls `.match` on them;
  only s/h/d are used, the units Edgio's browser-side `fromTimeUnitAbbrev` reads as the edge
  does (it takes `m` for months and knows no `w`);
- a missing query parameter is `undefined` to Edgio and an empty one too (`get(name) ||
  undefined`), so present/absent are regexes on the raw query string, and a value regex is
  guarded by "present" (Edgio would test it against "");
- schemes are compared upper-case (`url.protocol` upper-cased), with no `not` operator.
Only what the browser can evaluate goes in: host conditions are resolved here, rules with a
`cache-manifest-ignore` comment, and rules whose regexes JavaScript would read differently or
whose query names have no raw-query regex, are left out (the latter under "skipped" with the
reason).

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
from typing import Any

from prefetch_lab.rules.path_pattern import js_regex_problem
from prefetch_lab.rules.model import QueryCondition, Regex, Rule, RuleSet
from prefetch_lab.rules.regex_to_js import query_text_regex

VERSION = "0.2.0"
IGNORE_MARKER = "cache-manifest-ignore"
CACHING_KEYS = (
    "max_age",
    "service_worker_max_age",
    "stale_while_revalidate",
    "bypass_cache",
    "bypass_client_cache",
)
DURATION_KEYS = ("max_age", "service_worker_max_age", "stale_while_revalidate")
NON_EMPTY = "[\\s\\S]"  # matches any non-empty string (Edgio tests undefined as "")
PATH = {"request": "path"}
METHOD = {"request": "method"}
SCHEME = {"request": "scheme"}
QUERYSTRING = {"request": "querystring"}


# ---------------------------------------------------------------- Python regex → JavaScript


def regex_problem(source: str) -> str | None:
    """Why a rule regex (valid for Python `re`) would not mean the same in JavaScript.

    A leading `(?i)` is fine: the manifest evaluator turns it into the `i` flag.
    """
    return js_regex_problem(source.removeprefix("(?i)"))


# ---------------------------------------------------------------- conditions


def _any_of(conditions: list[dict[str, Any]]) -> dict[str, Any]:
    return conditions[0] if len(conditions) == 1 else {"or": conditions}


def duration(seconds: int) -> str:
    """Seconds as a duration string both Edgio parsers read alike: the edge's `toSeconds`
    and the browser's `fromTimeUnitAbbrev` (which knows s, h, d, takes m for months and has no
    w). 604800 -> "7d", 7200 -> "2h", 120 -> "120s", 0 -> "0s"."""
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _querystring_condition(spec: str | Regex) -> dict[str, Any]:
    if isinstance(spec, Regex):
        return {"=~": [QUERYSTRING, spec.source]}  # a leading "(?i)" is the evaluator's i flag
    if spec == "":  # no query: Edgio's querystring is then undefined, not ""
        return {"!~": [QUERYSTRING, NON_EMPTY]}
    return {"===": [QUERYSTRING, spec]}


def present_regex(name: str) -> str | None:
    """A JS regex on the raw query string: some pair decodes to the name `name` (`%2D` for
    "-", `+` for a space...; with or without a value). None when that has no regex."""
    encoded = query_text_regex(name, in_value=False)
    return None if encoded is None else f"(?:^|&){encoded}(?:[=&]|$)"


def _query_condition(name: str, spec: QueryCondition) -> dict[str, Any]:
    """`request.origin_query` is the first occurrence, decoded, and `undefined` when absent
    or empty (Edgio's `searchParams.get(name) || undefined`): presence is decided on the raw
    query string instead, and conditions that an empty or missing value could satisfy are
    guarded by it."""
    variable = {"request.origin_query": name}
    present = present_regex(name)
    if present is None:
        raise ValueError(f"query name {name!r} has no regex on the raw query")
    if spec is True:
        return {"=~": [QUERYSTRING, present]}
    if spec is False:
        return {"!~": [QUERYSTRING, present]}
    is_present = {"=~": [QUERYSTRING, present]}
    if isinstance(spec, Regex):
        return {"and": [is_present, {"=~": [variable, spec.source]}]}
    values = []
    for value in spec:
        if value:
            values.append({"===": [variable, value]})
        else:  # present, and its first value is empty
            values.append({"and": [is_present, {"!~": [variable, NON_EMPTY]}]})
    return _any_of(values)


def _regexes(rule: Rule) -> list[str]:
    """Every regex source the browser would have to evaluate for `rule`."""
    specs = [*rule.query.values(), *rule.querystring]
    return [*rule.path_regexes, *(s.source for s in specs if isinstance(s, Regex))]


def rule_conditions(rule: Rule) -> list[dict[str, Any]]:
    """The rule's `match` in the manifest vocabulary, minus hosts (resolved per host)."""
    conditions: list[dict[str, Any]] = []
    if rule.paths:
        conditions.append(_any_of([{"==": [PATH, p]} for p in rule.paths]))
    if rule.path_regexes:
        conditions.append(_any_of([{"=~": [PATH, r]} for r in rule.path_regexes]))
    if rule.methods:
        conditions.append({"in": [METHOD, list(rule.methods)]})
    if rule.schemes:  # Edgio compares with url.protocol upper-cased: "HTTPS"
        conditions.append({"in": [SCHEME, [s.upper() for s in rule.schemes]]})
    for name, spec in rule.query.items():
        conditions.append(_query_condition(name, spec))
    if rule.querystring:
        conditions.append(_any_of([_querystring_condition(q) for q in rule.querystring]))
    return conditions


def rule_features(rule: Rule) -> dict[str, Any]:
    """Only what the browser uses: caching keys (duration strings, bools) and deep_fetch."""
    caching = {k: rule.features[k] for k in CACHING_KEYS if rule.features.get(k) is not None}
    for key in DURATION_KEYS:
        if key in caching:
            caching[key] = duration(int(caching[key]))
    features: dict[str, Any] = {}
    if caching:
        features["caching"] = caching
    if rule.deep_fetch:
        features["deep_fetch"] = [dict(entry) for entry in rule.deep_fetch]
    return features


# ---------------------------------------------------------------- manifest


def build_manifest(ruleset: RuleSet, host: str) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    for rule in ruleset.rules:
        if IGNORE_MARKER in (rule.comment or "") or not rule.applies_to_host(host.lower()):
            continue
        features = rule_features(rule)
        if not features:  # e.g. response headers only: nothing the browser would merge
            continue
        problem = next(filter(None, (regex_problem(r) for r in _regexes(rule))), None)
        if problem:
            skipped.append({"id": rule.id, "reason": f"regex {problem}"})
            continue
        try:
            conditions = rule_conditions(rule)
        except ValueError as error:
            skipped.append({"id": rule.id, "reason": str(error)})
            continue
        rules.append({"id": rule.id, "if": [{"and": conditions}, features]})
    return {"version": VERSION, "rules": rules, "skipped": skipped}


def to_js_literal(value: Any) -> str:
    """JSON that is also safe inside a `<script>`: ASCII only (so U+2028/2029 are escaped)
    and no `</script` or `<!--` (every `<` is escaped; `<` only occurs inside strings)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def render_manifest(ruleset: RuleSet, host: str) -> bytes:
    body = f"self.__EDGIO_CACHE_MANIFEST__ = {to_js_literal(build_manifest(ruleset, host))};\n"
    return body.encode("ascii")
