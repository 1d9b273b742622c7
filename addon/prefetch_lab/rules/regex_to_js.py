"""Python rule regexes as JavaScript regexes, and rule conditions as URLPattern components.

The Speculation Rules document (speculation_rules.py) matches links with URLPattern, whose
regexp groups are JavaScript regexes; the cache manifest (manifest.py) tests the raw query
with JavaScript regexes too. Every translation here has the same matches as the rule on what
a URL holds (ASCII), or there is none (None):
- `translate_regex`: a Python regex (the JS-portable subset rules accept) → `JsRegex`:
  capturing groups made non-capturing, `(?i)` spelled out as `[aA]` classes, escapes valid
  under the u and v flags. Backreferences, non-ASCII, unknown escapes or groups: None.
- `regex_pathname`: a `path_regex` condition → a URLPattern pathname (re.search semantics).
- `querystring_search`, `query_param_search`: a `querystring` / `query` condition → a
  `SearchPattern` over the raw query, covering every percent-encoding `parse_qsl` decodes.
- `query_text_regex`: the raw-query regex of one decoded name or value.

URLPattern's rules for a regexp group: it must be ASCII, must not start with "?", and may only
nest groups that start with "(?" (non-capturing groups and assertions). Chromium compiles it
with the v flag (u in older versions), where a lone "{", "}" or "]" is an error, identity
escapes are limited to syntax characters and "/", and inside classes `( ) [ ] { } / - \\ |`
must be escaped and doubled punctuators like "&&" are reserved. The output is valid under both.

Pure module: no mitmproxy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prefetch_lab.rules.model import Regex


@dataclass(frozen=True)
class SearchPattern:
    """URLPattern dict input: any path, and a raw query (no "?") matching `search`."""

    search: str

    def to_json(self) -> dict[str, str]:
        # "pathname" must be given: a dict without it inherits the document's path.
        return {"pathname": "/*", "search": self.search}


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
    return pathname_from_js(translate_regex(regex.js_source, regex.ignore_case))


def pathname_from_js(translated: JsRegex | None) -> str | None:
    """URLPattern pathname matching exactly the paths `translated` finds a match in."""
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
    encoded_name = query_text_regex(name, in_value=False)
    if encoded_name is None:
        return None
    if value is None:
        return SearchPattern("((?:.*&)?" + encoded_name + "(?:[=&].*)?)")
    encoded_value = query_text_regex(value, in_value=True)
    if encoded_value is None:
        return None
    # Pairs before it are other parameters; a pair without "=" has the value "" too.
    others = "(?:(?!" + encoded_name + "(?:[=&]|$))[^&]*&)*"
    separator = "=?" if not value else "="
    return SearchPattern("(" + others + encoded_name + separator + encoded_value + "(?:&.*)?)")


def query_text_regex(text: str, in_value: bool) -> str | None:
    """Regex for every raw spelling `parse_qsl` decodes to `text` (a name, or a value when
    `in_value`: there a literal "=" stands for itself); None when "%" or U+FFFD make it ambiguous."""
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

