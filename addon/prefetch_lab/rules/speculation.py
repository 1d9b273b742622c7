"""Cloudflare Speed Brain emulation: the `Speculation-Rules` header and the rules document.

The document asks Chromium to prefetch the same-origin links the edge may serve from cache:
a URL is prefetchable when, after merging every matching rule in order, `max_age` is set,
`service_worker_max_age > 0` and `bypass_cache` is false (`Features.prefetchable`). That
ordered-override semantics becomes an and/or/not tree of `href_matches` URL patterns.

Rule conditions become URL patterns exactly where URLPattern can say the same thing:
- `path`: `pathpattern.to_urlpattern` where a rule grants prefetchability (readable, but
  case-sensitive, so it under-approximates), and the case-folded regex of
  `pathpattern.to_js_regex` in a regexp group where a rule revokes it (exact).
- `path_regex`: a pathname regexp group with the Python regex translated (capturing groups
  made non-capturing, `(?i)` spelled out as `[aA]` classes, escapes valid under the u and v
  flags); exact.
- `querystring` and `query` (present, absent, exact first values): a `{"pathname": "/*",
  "search": ...}` pattern over the raw query, covering every percent-encoding `parse_qsl`
  decodes; exact.
Whatever cannot be translated (backreferences, non-ASCII, query value regexes on decoded
values, a scheme when the page's is unknown) is approximated so the tree only ever
*under*-approximates prefetchability: rules granting it are narrowed (usually dropped),
rules revoking it are widened (a query value regex to "the parameter is present", an
untranslatable path regex to every URL, which leaves no rules).

Known deviation: the edge matches a rule's conditions after removing `edgio_*` query
parameters, the browser before; links carrying them are Edgio's own machinery, not content.

Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Union

from prefetch_lab.rules.path_pattern import to_js_regex, to_urlpattern
from prefetch_lab.rules.model import QueryCondition, Regex, Rule, RuleSet

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
class SearchPattern:
    """URLPattern dict input: any path, and a raw query (no "?") matching `search`."""

    search: str

    def to_json(self) -> dict[str, str]:
        # "pathname" must be given: a dict without it inherits the document's path.
        return {"pathname": "/*", "search": self.search}


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
    folded = _pathname_from_body(translate_regex(to_js_regex(pattern), ignore_case=True))
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


# ---------------------------------------------------------------- regexes for URLPattern
#
# A URLPattern regexp group must be ASCII, must not start with "?", and may only nest groups
# that start with "(?" (non-capturing groups and assertions). Chromium compiles it with the
# v flag (u in older versions), where a lone "{", "}" or "]" is an error, identity escapes are
# limited to syntax characters and "/", and inside classes `( ) [ ] { } / - \ |` must be
# escaped and doubled punctuators like "&&" are reserved. The output below is valid under both.

_SYNTAX_CHARACTERS = set("^$\\.*+?()[]{}|/")
_CLASS_MUST_ESCAPE = _SYNTAX_CHARACTERS | {"-"}
_KEPT_ESCAPES = set("dDwWsSbB")
_CONTROL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a"}
_HEX_ESCAPE = re.compile(r"x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})")
_BRACE_QUANTIFIER = re.compile(r"\{(\d*)(,?)(\d*)\}")
_ASSERTION_OPENERS = ("(?:", "(?=", "(?!", "(?<=", "(?<!")


class Untranslatable(ValueError):
    pass


@dataclass(frozen=True)
class JsRegex:
    """A translated regex as top-level pieces, to find its anchors."""

    pieces: tuple[str, ...]  # one atom, quantifier, anchor or group each; groups whole
    alternation: bool  # a top-level "|"

    @property
    def source(self) -> str:
        return "".join(self.pieces)

    def fullmatch_pieces(self) -> tuple[str, ...]:
        """Pieces whose whole-string match is the regex's `re.search` (URLPattern anchors)."""
        if self.alternation:
            return (".*", "(?:" + self.source + ")", ".*")
        pieces = list(self.pieces)
        if pieces and pieces[0] == "^":
            pieces.pop(0)
        else:
            pieces.insert(0, ".*")
        if pieces and pieces[-1] == "$":
            pieces.pop()
        else:
            pieces.append(".*")
        return tuple(pieces)


def translate_regex(source: str, ignore_case: bool = False) -> JsRegex | None:
    """A Python regex (the JS-portable subset rules accept) for a URLPattern regexp group.

    Same matches on ASCII input, which is all a URL path or query ever is. None for what
    has no faithful form: backreferences, non-ASCII, unknown escapes or groups.
    """
    try:
        return _Translator(source, ignore_case).run()
    except Untranslatable:
        return None


class _Translator:
    def __init__(self, source: str, ignore_case: bool) -> None:
        self.source, self.ignore_case, self.pos = source, ignore_case, 0

    def run(self) -> JsRegex:
        pieces: list[str] = []
        alternation = False
        while self.pos < len(self.source):
            if self.source[self.pos] == "|":
                alternation = True
            pieces.append(self.piece())
        return JsRegex(tuple(pieces), alternation)

    def piece(self) -> str:
        source, pos = self.source, self.pos
        char = source[pos]
        if char == "(":
            opener = next((o for o in _ASSERTION_OPENERS if source.startswith(o, pos)), None)
            if opener is None and source.startswith("(?", pos):
                raise Untranslatable("named group or inline flag")
            self.pos += len(opener or "(")
            inner: list[str] = []
            while self.pos < len(source) and source[self.pos] != ")":
                inner.append(self.piece())
            if self.pos >= len(source):
                raise Untranslatable("unbalanced group")
            self.pos += 1
            return (opener or "(?:") + "".join(inner) + ")"
        if char == "[":
            return self.character_class()
        if char == "\\":
            return self.escape()
        if char == "{" and (brace := _BRACE_QUANTIFIER.match(source, pos)) and (
                brace.group(1) or brace.group(2)):
            self.pos = brace.end()
            low, comma, high = brace.groups()
            return "{" + (low or "0") + comma + high + "}"  # Python's {,n} is {0,n}
        self.pos += 1
        if char in "^$.|*+?":
            return char
        return self.literal(char)

    def escape(self) -> str:
        escaped = self.source[self.pos + 1 : self.pos + 2]
        if escaped in _KEPT_ESCAPES and escaped:
            self.pos += 2
            return "\\" + escaped
        return self.literal(self.escaped_char())

    def escaped_char(self) -> str:
        """The character a `\\` escape stands for, consumed; Untranslatable for the rest."""
        escaped = self.source[self.pos + 1 : self.pos + 2]
        if hex_escape := _HEX_ESCAPE.match(self.source, self.pos + 1):
            self.pos = hex_escape.end()
            return chr(int(next(g for g in hex_escape.groups() if g), 16))
        if escaped in _CONTROL_ESCAPES:
            self.pos += 2
            return _CONTROL_ESCAPES[escaped]
        if not escaped or escaped.isalnum() or not escaped.isascii():  # backreferences, \A ...
            raise Untranslatable(f"escape \\{escaped}")
        self.pos += 2
        return escaped

    def literal(self, char: str) -> str:
        if not char.isascii():
            raise Untranslatable("non-ASCII")  # (?i) would also fold e.g. "ſ" to "s"
        if self.ignore_case and char.isalpha():
            return f"[{char.lower()}{char.upper()}]"
        if char in _SYNTAX_CHARACTERS:
            return "\\" + char
        return char if char.isprintable() else f"\\x{ord(char):02X}"

    def character_class(self) -> str:
        source = self.source
        self.pos += 1
        negated = source.startswith("^", self.pos)
        self.pos += negated
        items: list[str] = []  # class escapes such as \d
        ranges: list[tuple[int, int]] = []
        first = True
        while self.pos < len(source) and (source[self.pos] != "]" or first):
            first = False
            if source[self.pos] == "\\" and source[self.pos + 1 : self.pos + 2] in _KEPT_ESCAPES - {"b", "B"}:
                items.append(source[self.pos : self.pos + 2])
                self.pos += 2
                continue
            low = self.class_char()
            high = low
            if source.startswith("-", self.pos) and not source.startswith("-]", self.pos):
                self.pos += 1
                high = self.class_char()
            ranges.append((ord(low), ord(high)))
        if self.pos >= len(source):
            raise Untranslatable("unterminated class")
        self.pos += 1
        if self.ignore_case:
            ranges += [folded for r in ranges for folded in _other_case_ranges(*r)]
        body = "".join(items)
        for low, high in sorted(set(ranges)):
            text = _class_char(chr(low), body)
            if high != low:
                text += "-" + _class_char(chr(high), body + text + "-")
            body += text
        return "[" + "^" * negated + body + "]"

    def class_char(self) -> str:
        char = self.source[self.pos]
        if char == "\\":
            escaped = self.source[self.pos + 1 : self.pos + 2]
            char = "\b" if escaped == "b" else self.escaped_char()
            if escaped == "b":
                self.pos += 2
        else:
            self.pos += 1
        if not char.isascii():
            raise Untranslatable("non-ASCII")
        return char


def _class_char(char: str, before: str) -> str:
    """One class member valid under u and v: escaped when special, never doubled."""
    if char.isalnum() or char == "_":
        return char
    if char in _CLASS_MUST_ESCAPE:
        return "\\" + char
    if not char.isprintable() or before.endswith(char):  # "&&", "!!" ... are reserved in v
        return f"\\x{ord(char):02X}"
    return char


def _other_case_ranges(low: int, high: int) -> list[tuple[int, int]]:
    """The ASCII letters in low..high, in the other case."""
    out = []
    for first, last, shift in ((ord("a"), ord("z"), -32), (ord("A"), ord("Z"), 32)):
        start, end = max(low, first), min(high, last)
        if start <= end:
            out.append((start + shift, end + shift))
    return out


def regex_pathname(regex: Regex) -> str | None:
    """URLPattern pathname matching exactly the paths `regex` finds a match in (re.search)."""
    return _pathname_from_body(translate_regex(regex.js_source, regex.ignore_case))


def _pathname_from_body(translated: JsRegex | None) -> str | None:
    if translated is None:
        return None
    pieces = translated.fullmatch_pieces()
    # A relative pathname would be resolved against the document's directory, so the
    # pattern starts with "/": taken from the regex when it starts with a fixed "/"...
    if pieces and pieces[0] in ("/", "\\/") and not (len(pieces) > 1 and pieces[1][0] in "*+?{"):
        rest = "".join(pieces[1:])
        return "/(" + rest + ")" if rest else "/"
    # ...otherwise a lookbehind takes the regex back to the start of the path.
    return "/((?<=^(?=.*(?:" + translated.source + "))\\/).*)"


def querystring_search(condition: str | Regex) -> SearchPattern | None:
    """Search pattern for a `querystring` condition on the raw query (exact string or regex)."""
    if isinstance(condition, Regex):
        translated = translate_regex(condition.js_source, condition.ignore_case)
        if translated is None:
            return None
        body = "".join(translated.fullmatch_pieces())
        return SearchPattern("(" + body + ")" if body else "")  # "()" is a tokenizer error
    if not condition:
        return SearchPattern("")
    translated = translate_regex(re.escape(condition))
    return SearchPattern("(" + translated.source + ")") if translated else None


def query_param_search(name: str, value: str | None = None) -> SearchPattern | None:
    """Search pattern for "`parse_qsl` yields `name`" (and, with `value`, "its first
    occurrence has `value`": the edge reads a repeated parameter by its first value).

    Every raw spelling counts: `%2D` for "-", `+` for a space. None where that set has no
    regex here (a "%" or U+FFFD in the text, which undecodable input also produces).
    """
    encoded_name = _query_text_regex(name, in_value=False)
    if encoded_name is None:
        return None
    if value is None:
        return SearchPattern("((?:.*&)?" + encoded_name + "(?:[=&].*)?)")
    encoded_value = _query_text_regex(value, in_value=True)
    if encoded_value is None:
        return None
    # Pairs before it are other parameters; a pair without "=" has the value "" too.
    others = "(?:(?!" + encoded_name + "(?:[=&]|$))[^&]*&)*"
    separator = "=?" if not value else "="
    return SearchPattern("(" + others + encoded_name + separator + encoded_value + "(?:&.*)?)")


def _query_text_regex(text: str, in_value: bool) -> str | None:
    if not text:
        return ""
    if "%" in text or "\ufffd" in text:
        return None
    out = ""
    for char in text:
        forms = ["".join(f"%{_hex_digits(byte)}" for byte in char.encode("utf-8"))]
        if char == " ":
            forms.append("\\+")
        elif char.isascii() and char.isprintable() and char not in "&#+" and (in_value or char != "="):
            forms.insert(0, "\\" + char if char in _SYNTAX_CHARACTERS else char)
        out += "(?:" + "|".join(forms) + ")"
    return out


def _hex_digits(byte: int) -> str:
    """`%XX` is decoded whatever the case of its hex letters."""
    return "".join(f"[{d}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")


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


def is_prerender(sec_purpose: str | None) -> bool:
    """`Sec-Purpose: prefetch;prerender`: a prerender, not a plain prefetch."""
    return any(
        parts[0].strip().lower() == "prefetch" and "prerender" in (p.strip().lower() for p in parts[1:])
        for parts in (item.split(";") for item in (sec_purpose or "").split(","))
    )


def is_prerender_subresource(sec_purpose: str | None, sec_fetch_dest: str | None) -> bool:
    """What a prerendered page loads to render itself. Chromium 156 sends the page's
    `Sec-Purpose: prefetch;prerender` on its subresources too (observed: CSS, scripts, images,
    fetch()), so only the document itself is the speculation; refusing the rest would leave
    the prerendered page without them. A request without Sec-Fetch-Dest counts as the document."""
    return is_prerender(sec_purpose) and (sec_fetch_dest or "document").strip().lower() != "document"


def _names_prefetch(value: str) -> bool:
    return any(item.split(";")[0].strip().lower() == "prefetch" for item in value.split(","))
