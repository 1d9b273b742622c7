"""Cloudflare Speed Brain emulation: the Speculation Rules document the edge serves.

The document asks Chromium to prefetch the same-origin links the edge may serve from cache:
a URL is prefetchable when, after merging every matching rule in order, `max_age` is set,
`service_worker_max_age > 0` and `bypass_cache` is false (`Features.prefetchable`). That
ordered-override semantics becomes an and/or/not tree of `href_matches` URL patterns.

Rule conditions become URL patterns exactly where URLPattern can say the same thing
(regex_to_js.py translates them):
- `path`: `path_pattern.to_urlpattern` where a rule grants prefetchability (readable, but
  case-sensitive, so it under-approximates), and the case-folded regex of
  `path_pattern.to_js_regex` in a regexp group where a rule revokes it (exact).
- `path_regex`: a pathname regexp group with the Python regex translated; exact.
- `querystring` and `query` (present, absent, exact first values): a `{"pathname": "/*",
  "search": ...}` pattern over the raw query; exact.
Whatever cannot be translated (backreferences, non-ASCII, query value regexes on decoded
values, a scheme when the page's is unknown) is approximated so the tree only ever
*under*-approximates prefetchability: rules granting it are narrowed (usually dropped),
rules revoking it are widened (a query value regex to "the parameter is present", an
untranslatable path regex to every URL, which leaves no rules).

The `Speculation-Rules` header that points at the document is http/speculation_headers.py's.

Known deviation: the edge matches a rule's conditions after removing `edgio_*` query
parameters, the browser before; links carrying them are Edgio's own machinery, not content.

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from prefetch_lab.http.speculation_headers import TAG
from prefetch_lab.rules.model import QueryCondition, Regex, Rule, RuleSet
from prefetch_lab.rules.path_pattern import to_js_regex, to_urlpattern
from prefetch_lab.rules.regex_to_js import (
    SearchPattern,
    pathname_from_js,
    query_param_search,
    querystring_search,
    regex_pathname,
    translate_regex,
)

RULES_PATH = "/__edgio__/speculation-rules.json"
MEDIA_TYPE = "application/speculationrules+json"
EAGERNESS = ("conservative", "moderate", "eager", "immediate")

# Never speculate our own synthetic files (also Edgio's `/__edgio__service_worker_<v>.js`),
# links the page marks as not-to-follow, or downloads (not navigations). `target=_blank`
# links are kept, like Speed Brain's `/*`: the miss costs one cache-only request at most.
EXCLUDED_PATTERN = "/__edgio__*"
EXCLUDED_SELECTORS = ("[rel~=nofollow]", "[download]")


# ---------------------------------------------------------------- predicate tree

UrlPattern = Union[str, SearchPattern]


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Href:
    patterns: tuple[UrlPattern, ...]  # any of these URL patterns, resolved against the document URL


@dataclass(frozen=True)
class Selector:
    selector: str


@dataclass(frozen=True)
class RuleMatch:
    index: int  # position in the host's rule list; replaced by an approximation before output


@dataclass(frozen=True)
class And:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Union[Const, Href, Selector, RuleMatch, And, Or, Not]
TRUE, FALSE = Const(True), Const(False)


@dataclass(frozen=True)
class MatchApprox:
    """A rule's match as URL predicates: `under` ⊆ real match ⊆ `over`."""

    under: Expr
    over: Expr

    @classmethod
    def exact(cls, pattern: UrlPattern | None) -> MatchApprox:
        """`pattern` when it is exact; "nothing" below and "anything" above when it is None."""
        if pattern is None:
            return cls(FALSE, TRUE)
        return cls(Href((pattern,)), Href((pattern,)))

    def negated(self) -> MatchApprox:
        return MatchApprox(Not(self.over), Not(self.under))


def _all_of(parts: Iterable[MatchApprox]) -> MatchApprox:
    listed = list(parts)
    return MatchApprox(And(tuple(p.under for p in listed)), And(tuple(p.over for p in listed)))


def _any_of(parts: Iterable[MatchApprox]) -> MatchApprox:
    listed = list(parts)
    return MatchApprox(Or(tuple(p.under for p in listed)), Or(tuple(p.over for p in listed)))


def approximate_rule_match(rule: Rule, host: str, scheme: str | None) -> MatchApprox:
    """What a navigation (GET, same origin as the document) matching `rule` looks like."""
    if not rule.applies_to_host(host):
        return MatchApprox(FALSE, FALSE)
    if rule.methods and "GET" not in rule.methods:  # navigations are GETs
        return MatchApprox(FALSE, FALSE)
    conditions: list[MatchApprox] = []
    if rule.schemes:
        if scheme is None:  # patterns inherit the document's protocol, which we do not know
            conditions.append(MatchApprox(FALSE, TRUE))
        elif scheme.lower() not in rule.schemes:
            return MatchApprox(FALSE, FALSE)
    if rule.paths:
        conditions.append(_any_of(_path_match(p) for p in rule.paths))
    if rule.path_regexes:
        conditions.append(_any_of(
            MatchApprox.exact(regex_pathname(Regex.parse(r))) for r in rule.path_regexes))
    if rule.querystring:
        conditions.append(_any_of(MatchApprox.exact(querystring_search(q)) for q in rule.querystring))
    conditions.extend(_query_match(name, cond) for name, cond in rule.query.items())
    approx = _all_of(conditions)
    return MatchApprox(simplify(approx.under), simplify(approx.over))


def _path_match(pattern: str) -> MatchApprox:
    """`to_urlpattern` below (case-sensitive, readable), the case-folded regex above."""
    folded = pathname_from_js(translate_regex(to_js_regex(pattern), ignore_case=True))
    readable = to_urlpattern(pattern) or folded
    return MatchApprox(Href((readable,)) if readable else FALSE, Href((folded,)) if folded else TRUE)


def _query_match(name: str, condition: QueryCondition) -> MatchApprox:
    present = MatchApprox.exact(query_param_search(name))
    if condition is True:
        return present
    if condition is False:
        return present.negated()
    if isinstance(condition, Regex):  # on the decoded value: only "present" is expressible
        return MatchApprox(FALSE, present.over)
    return _any_of(MatchApprox.exact(query_param_search(name, value)) for value in condition)


# ---------------------------------------------------------------- rules merged in order


def final_value_is_good(
    sets: Sequence[Any | None], is_good: Callable[[Any], bool], default_is_good: bool
) -> Expr:
    """Predicate "the merged value of one feature is good", over RuleMatch leaves.

    `sets[i]` is rule i's value for the feature, None when it does not set it. The last
    matching rule that sets it wins, so folding in file order is exact: a rule setting a
    good value adds its URLs (`or`), one setting a bad value removes them (`and not`).
    """
    predicate: Expr = Const(default_is_good)
    for index, value in enumerate(sets):
        if value is None:
            continue
        if is_good(value):
            predicate = Or((predicate, RuleMatch(index)))
        else:
            predicate = And((predicate, Not(RuleMatch(index))))
    return predicate


def approximate(expr: Expr, matches: Sequence[MatchApprox], under: bool = True) -> Expr:
    """Replace RuleMatch leaves; polarity flips under `not` so the result stays sound."""
    if isinstance(expr, RuleMatch):
        return matches[expr.index].under if under else matches[expr.index].over
    if isinstance(expr, Not):
        return Not(approximate(expr.item, matches, not under))
    if isinstance(expr, (And, Or)):
        return type(expr)(tuple(approximate(e, matches, under) for e in expr.items))
    return expr


def simplify(expr: Expr) -> Expr:
    """Fold constants, flatten, drop duplicates, and merge sibling `Href`s under `or`."""
    if isinstance(expr, Not):
        inner = simplify(expr.item)
        if isinstance(inner, Const):
            return Const(not inner.value)
        return inner.item if isinstance(inner, Not) else Not(inner)
    if not isinstance(expr, (And, Or)):
        return expr
    kind = type(expr)
    absorbing, neutral = (FALSE, TRUE) if kind is And else (TRUE, FALSE)
    items: list[Expr] = []
    for item in (simplify(e) for e in expr.items):
        if item == absorbing:
            return absorbing
        for flat in item.items if isinstance(item, kind) else (item,):
            if flat != neutral and flat not in items:
                items.append(flat)
    items = _merge_patterns(items, negated=kind is And)
    if not items:
        return neutral
    return items[0] if len(items) == 1 else kind(tuple(items))


def _merge_patterns(items: list[Expr], negated: bool) -> list[Expr]:
    """`a or b` → one Href listing both; likewise `not a and not b` → `not (a or b)`."""

    def patterns_of(item: Expr) -> tuple[UrlPattern, ...] | None:
        if negated:
            return item.item.patterns if isinstance(item, Not) and isinstance(item.item, Href) else None
        return item.patterns if isinstance(item, Href) else None

    found = [(n, p) for n, i in enumerate(items) if (p := patterns_of(i)) is not None]
    if len(found) < 2:
        return items
    merged: Expr = Href(tuple(dict.fromkeys(p for _, ps in found for p in ps)))
    kept = [i for n, i in enumerate(items) if n not in {m for m, _ in found}]
    kept.insert(found[0][0], Not(merged) if negated else merged)
    return kept


def to_json(expr: Expr) -> dict[str, Any]:
    if isinstance(expr, Href):
        rendered = [p.to_json() if isinstance(p, SearchPattern) else p for p in expr.patterns]
        patterns: Any = rendered[0] if len(rendered) == 1 else rendered
        return {"href_matches": patterns, "relative_to": "document"}
    if isinstance(expr, Selector):
        return {"selector_matches": expr.selector}
    if isinstance(expr, Not):
        return {"not": to_json(expr.item)}
    if isinstance(expr, (And, Or)):
        return {"and" if isinstance(expr, And) else "or": [to_json(e) for e in expr.items]}
    raise ValueError(f"no speculation-rules form for {expr!r}")


# ---------------------------------------------------------------- rules document


def prefetchable_predicate(rules: Sequence[Rule], host: str, scheme: str | None) -> Expr:
    """Sound URL-pattern predicate for `Features.prefetchable` on `host` (before exclusions)."""
    max_age = final_value_is_good([r.features.get("max_age") for r in rules], lambda v: True, False)
    sw_max_age = final_value_is_good(
        [r.features.get("service_worker_max_age") for r in rules], lambda v: v > 0, False
    )
    bypass = final_value_is_good(
        [r.features.get("bypass_cache") for r in rules], lambda v: not v, True
    )
    matches = [approximate_rule_match(r, host, scheme) for r in rules]
    return simplify(approximate(And((max_age, sw_max_age, bypass)), matches))


def build_rules_document(
    ruleset: RuleSet, host: str, eagerness: str, scheme: str | None = None
) -> dict[str, Any]:
    """The `application/speculationrules+json` document for pages on `host`.

    `scheme` is the page's scheme; without it, rules with a scheme condition are treated as
    not matching where that widens speculation and as matching where it narrows it.
    """
    if eagerness not in EAGERNESS:
        raise ValueError(f"eagerness must be one of {', '.join(EAGERNESS)}, got {eagerness!r}")
    prefetchable = prefetchable_predicate(ruleset.rules, host.lower(), scheme)
    # Negations alone would match every link, cross-origin ones too: anchor on same-origin.
    where = simplify(
        And(
            (
                Href(("/*",)),
                prefetchable,
                Not(Href((EXCLUDED_PATTERN,))),
                *(Not(Selector(s)) for s in EXCLUDED_SELECTORS),
            )
        )
    )
    # The tag sits at the rule-set level only: older Chromium ignores unknown top-level keys
    # but drops a whole rule with an unknown key. Chromium then sends it in Sec-Speculation-Tags.
    # No rule-level "relative_to": Chromium skips a document rule that has one ("cannot have
    # relative_to outside the where clause"); each href_matches carries its own.
    document: dict[str, Any] = {"tag": TAG, "prefetch": []}
    if where != FALSE:
        document["prefetch"].append(
            {
                "source": "document",
                "where": to_json(where),
                "eagerness": eagerness,
            }
        )
    return document


def has_rules(document: dict[str, Any]) -> bool:
    """Chromium rejects a rule set with no rules: send the header only when this is true."""
    return bool(document.get("prefetch") or document.get("prerender"))


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def render(ruleset: RuleSet, host: str, eagerness: str, scheme: str | None = None) -> bytes:
    return encode(build_rules_document(ruleset, host, eagerness, scheme))

