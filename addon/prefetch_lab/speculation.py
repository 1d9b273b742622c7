"""Cloudflare Speed Brain emulation: the `Speculation-Rules` header and the rules document.

The document asks Chromium to prefetch the same-origin links the edge may serve from cache:
a URL is prefetchable when, after merging every matching rule in order, `max_age` is set,
`service_worker_max_age > 0` and `bypass_cache` is false (`Features.prefetchable`). That
ordered-override semantics becomes an and/or/not tree of `href_matches` URL patterns, exact
when every rule converts (`pathpattern.to_urlpattern`). Conditions a URL pattern cannot
express (path regexes, query conditions, a scheme when the page's is unknown) are
approximated so the tree only ever *under*-approximates prefetchability: rules granting
prefetchability are narrowed (usually dropped), rules revoking it are widened (a regex to its
literal prefix, a query condition to "any query", or to every URL, which leaves no rules).

Known deviation: URLPattern is case-sensitive while Edgio paths are case-insensitive, so a
bypass rule for `/account/*` does not stop a speculation of `/Account/x` (the gate still
refuses it on a cache miss; nothing reaches the origin).

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from .pathpattern import to_urlpattern
from .rules import Rule, RuleSet

RULES_PATH = "/__edgio__/speculation-rules.json"
TAG = "prefetch-lab"
MEDIA_TYPE = "application/speculationrules+json"
EAGERNESS = ("conservative", "moderate", "eager", "immediate")

# Never speculate our own synthetic files (also Edgio's `/__edgio__service_worker_<v>.js`),
# links the page marks as not-to-follow, or downloads (not navigations). `target=_blank`
# links are kept, like Speed Brain's `/*`: the miss costs one cache-only request at most.
EXCLUDED_PATTERN = "/__edgio__*"
EXCLUDED_SELECTORS = ("[rel~=nofollow]", "[download]")


# ---------------------------------------------------------------- predicate tree


@dataclass(frozen=True)
class Const:
    value: bool


@dataclass(frozen=True)
class Href:
    patterns: tuple[str, ...]  # any of these URL patterns, resolved against the document URL


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


def approximate_rule_match(rule: Rule, host: str, scheme: str | None) -> MatchApprox:
    """What a navigation (GET, same origin as the document) matching `rule` looks like."""
    if not rule.applies_to_host(host):
        return MatchApprox(FALSE, FALSE)
    if rule.methods and "GET" not in rule.methods:  # navigations are GETs
        return MatchApprox(FALSE, FALSE)
    unders: list[Expr] = []
    overs: list[Expr] = []
    if rule.schemes:
        if scheme is None:  # patterns inherit the document's protocol, which we do not know
            unders.append(FALSE)
        elif scheme.lower() not in rule.schemes:
            return MatchApprox(FALSE, FALSE)
    if rule.paths:
        converted = [to_urlpattern(p) for p in rule.paths]
        usable = tuple(p for p in converted if p is not None)
        unders.append(Href(usable) if usable else FALSE)
        overs.append(Href(usable) if len(usable) == len(converted) else TRUE)
    if rule.path_regexes:
        unders.append(FALSE)
        prefixes = [regex_prefix_pattern(r) for r in rule.path_regexes]
        overs.append(TRUE if None in prefixes else Href(tuple(p for p in prefixes if p)))
    if rule.query or rule.querystring:
        unders.append(FALSE)  # no URL pattern for these: `over` ignores them (any query)
    return MatchApprox(simplify(And(tuple(unders))), simplify(And(tuple(overs))))


_REGEX_META = set("\\.^$*+?()[]{}|")
_SAFE_LITERAL = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]+")
_V_FLAG_ESCAPE = re.compile(r"([\^$\\.*+?()\[\]{}|/])")  # URLPattern compiles with the v flag


def regex_prefix_pattern(source: str) -> str | None:
    """A URL pattern for "the path starts with the regex's literal prefix", or None.

    `^/api/.*\\.json$` → `/api/*`: a superset of the regex's matches, enough to
    over-approximate a rule that makes URLs non-prefetchable; with a leading `(?i)` the
    prefix is matched case-insensitively. None without an anchored literal prefix, or with
    alternatives (`|` could escape the prefix).
    """
    ignore_case = source.startswith("(?i)")
    body = source.removeprefix("(?i)")
    if not body.startswith("^") or "|" in body:
        return None
    literal, pos = "", 1
    while pos < len(body):
        char = body[pos]
        if char == "\\" and pos + 1 < len(body) and not body[pos + 1].isalnum():
            literal, pos = literal + body[pos + 1], pos + 2
        elif char not in _REGEX_META:
            literal, pos = literal + char, pos + 1
        else:
            if char in "*?{":  # the last literal character is optional
                literal = literal[:-1]
            break
    if not literal.startswith("/") or not _SAFE_LITERAL.fullmatch(literal):
        return None
    if ignore_case:  # one regex group ("/" is its prefix) with [xX] for every letter
        letters = (f"[{c.lower()}{c.upper()}]" if c.isalpha() else _V_FLAG_ESCAPE.sub(r"\\\1", c)
                   for c in literal[1:])
        return "/(" + "".join(letters) + ".*)"
    return re.sub(r"([\\:*?+(){}])", r"\\\1", literal) + "*"


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

    def patterns_of(item: Expr) -> tuple[str, ...] | None:
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
        patterns: Any = expr.patterns[0] if len(expr.patterns) == 1 else list(expr.patterns)
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
    document: dict[str, Any] = {"tag": TAG, "prefetch": []}
    if where != FALSE:
        document["prefetch"].append(
            {
                "source": "document",
                "where": to_json(where),
                "relative_to": "document",
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


# ---------------------------------------------------------------- structured fields (RFC 8941)

_TOKEN = re.compile(r"[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*")
_KEY = re.compile(r"[a-z*][a-z0-9_\-.*]*")
_NUMBER = re.compile(r"-?[0-9]{1,15}(\.[0-9]{1,3})?")
_BYTES = re.compile(r":[A-Za-z0-9+/=]*:")


@dataclass(frozen=True)
class Token:
    name: str


@dataclass(frozen=True)
class _ByteSequence:
    encoded: str


def _bare_item(text: str, pos: int) -> tuple[Any, int]:
    if text.startswith('"', pos):
        out: list[str] = []
        pos += 1
        while pos < len(text):
            char = text[pos]
            if char == "\\":
                if pos + 1 >= len(text) or text[pos + 1] not in '"\\':
                    raise ValueError("bad escape")
                out.append(text[pos + 1])
                pos += 2
            elif char == '"':
                return "".join(out), pos + 1
            elif " " <= char <= "~":
                out.append(char)
                pos += 1
            else:
                raise ValueError("bad string character")
        raise ValueError("unterminated string")
    if text.startswith("?0", pos) or text.startswith("?1", pos):
        return text[pos + 1] == "1", pos + 2
    for pattern, convert in ((_NUMBER, float), (_BYTES, _ByteSequence), (_TOKEN, Token)):
        found = pattern.match(text, pos)
        if found:
            return convert(found.group()), found.end()
    raise ValueError(f"unexpected character at {pos}")


def _parameters(text: str, pos: int) -> int:
    while text.startswith(";", pos):
        pos += 1
        while text.startswith(" ", pos):
            pos += 1
        key = _KEY.match(text, pos)
        if not key:
            raise ValueError("bad parameter key")
        pos = key.end()
        if text.startswith("=", pos):
            _, pos = _bare_item(text, pos + 1)
    return pos


def parse_list(value: str) -> list[Any]:
    """RFC 8941 list → its bare items (parameters dropped; an inner list becomes a tuple).

    Raises ValueError when the value is not a valid structured-field list.
    """
    text = value.strip(" \t")
    items: list[Any] = []
    pos = 0
    while pos < len(text):
        if text.startswith("(", pos):
            inner: list[Any] = []
            pos += 1
            while True:
                while text.startswith(" ", pos):
                    pos += 1
                if text.startswith(")", pos):
                    pos += 1
                    break
                item, pos = _bare_item(text, pos)
                inner.append(item)
                pos = _parameters(text, pos)
                if not text.startswith((" ", ")"), pos):
                    raise ValueError("bad inner list")
            items.append(tuple(inner))
        else:
            item, pos = _bare_item(text, pos)
            items.append(item)
        pos = _parameters(text, pos)
        while text.startswith((" ", "\t"), pos):
            pos += 1
        if pos == len(text):
            break
        if not text.startswith(",", pos):
            raise ValueError(f"expected ',' at {pos}")
        pos += 1
        while text.startswith((" ", "\t"), pos):
            pos += 1
        if pos == len(text):
            raise ValueError("trailing comma")
    return items


def quote_string(value: str) -> str:
    if any(not " " <= c <= "~" for c in value):
        raise ValueError(f"a structured-field string must be printable ASCII: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------- headers


def merge_header(existing: Sequence[str], our_url: str) -> str:
    """`Speculation-Rules` value: the origin's values verbatim and in order, then ours once.

    A value we cannot parse is still kept verbatim and ours still appended: Chromium then
    rejects the whole header, which is exactly what the origin's header alone would get
    (we never drop or rewrite theirs), and a more lenient parser may still use ours.
    """
    kept = [v.strip(" \t") for v in existing if v.strip(" \t")]  # blank lines would leave ", "
    already_there = False
    for value in kept:
        try:
            already_there = already_there or our_url in parse_list(value)
        except ValueError:
            pass
    if not already_there:
        kept.append(quote_string(our_url))
    return ", ".join(kept)


def refusal_applies(sec_speculation_tags: str | None) -> bool:
    """May the gate refuse an uncached speculation? Only when it can only be ours.

    Absent (or empty) header: an older Chromium, `<link rel=prefetch>` or Edgio-style
    params; refuse. Otherwise refuse only when every tag is our quoted tag. `null` (untagged
    site rules), other tags, and values that are not a valid list mean the site may have
    asked for it: pass through as a normal request.
    """
    if sec_speculation_tags is None or not sec_speculation_tags.strip(" \t"):
        return True
    try:
        tags = parse_list(sec_speculation_tags)
    except ValueError:
        return False
    return all(tag == TAG for tag in tags)


def is_speculative(sec_purpose: str | None, legacy_purpose: str | None = None) -> bool:
    """`Sec-Purpose: prefetch` or `prefetch;prerender`, leniently (any case or spacing).

    `legacy_purpose` is the old `Purpose` header (WebKit's and older Chromium's
    `<link rel=prefetch>`); the caller decides whether to pass it.
    """
    return any(_names_prefetch(v) for v in (sec_purpose, legacy_purpose) if v)


def _names_prefetch(value: str) -> bool:
    return any(item.split(";")[0].strip().lower() == "prefetch" for item in value.split(","))
