"""The Edgio cache manifest (`/__edgio__/cache-manifest.js`) for one host.

The browser (install.js and the service worker) evaluates these rules to decide which links
to prefetch; the shape is the contract in docs/DESIGN.md ("Cache manifest"). Only what the
browser can evaluate goes in: host conditions are resolved here, rules with a
`cache-manifest-ignore` comment and rules whose regexes JavaScript would read differently are
left out (the latter listed under "skipped" with the reason).

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
from typing import Any

from .pathpattern import js_regex_problem
from .rules import QueryCondition, Regex, Rule, RuleSet

VERSION = "0.1.0"
IGNORE_MARKER = "cache-manifest-ignore"
CACHING_KEYS = (
    "max_age",
    "service_worker_max_age",
    "stale_while_revalidate",
    "bypass_cache",
    "bypass_client_cache",
)
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


def _value_condition(variable: dict[str, Any], spec: str | Regex) -> dict[str, Any]:
    if isinstance(spec, Regex):
        return {"=~": [variable, spec.source]}  # a leading "(?i)" is the evaluator's i flag
    return {"===": [variable, spec]}


def _query_condition(name: str, spec: QueryCondition) -> dict[str, Any]:
    variable = {"request.origin_query": name}
    if spec is True:
        return {"!==": [variable, None]}
    if spec is False:
        return {"===": [variable, None]}
    if isinstance(spec, Regex):
        return _value_condition(variable, spec)
    return _any_of([_value_condition(variable, value) for value in spec])


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
    if rule.schemes:
        conditions.append({"in": [SCHEME, list(rule.schemes)]})
    for name, spec in rule.query.items():
        conditions.append(_query_condition(name, spec))
    if rule.querystring:
        conditions.append(_any_of([_value_condition(QUERYSTRING, q) for q in rule.querystring]))
    return conditions


def rule_features(rule: Rule) -> dict[str, Any]:
    """Only what the browser uses: caching keys (int seconds, bools) and deep_fetch."""
    caching = {k: rule.features[k] for k in CACHING_KEYS if rule.features.get(k) is not None}
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
        rules.append({"id": rule.id, "if": [{"and": rule_conditions(rule)}, features]})
    return {"version": VERSION, "rules": rules, "skipped": skipped}


def to_js_literal(value: Any) -> str:
    """JSON that is also safe inside a `<script>`: ASCII only (so U+2028/2029 are escaped)
    and no `</script` or `<!--` (every `<` is escaped; `<` only occurs inside strings)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("<", "\\u003c")


def render_manifest(ruleset: RuleSet, host: str) -> bytes:
    body = f"self.__EDGIO_CACHE_MANIFEST__ = {to_js_literal(build_manifest(ruleset, host))};\n"
    return body.encode("ascii")
