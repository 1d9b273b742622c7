"""Edgio `router.match()` path patterns: path-to-regexp v6 (6.3.0) semantics.

Options are Edgio's: delimiter "/#?", prefixes "./", case-insensitive, optional
trailing delimiter, anchored at both ends. Like 6.3.0, a default parameter that
follows text without a delimiter in it (`/:a-:b`, `/file.:ext`) may not contain
that text (its ReDoS fix), and two parameters without text between them are an
error.

One regex source serves both Python (`compile_path`) and the browser
(`to_js_regex`, used with the "i" flag); `to_urlpattern` renders a URLPattern
pathname for Speculation Rules `href_matches`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

_DELIMITER = "/#?"
_PREFIXES = "./"
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]")
_JS_ESCAPE = re.compile(r"([.+*?=^!:${}()\[\]|/\\])")  # path-to-regexp's escapeString


@dataclass(frozen=True)
class Param:
    """A parameter or `{...}` group; `pattern` is "" for a literal-only group."""

    name: str | int
    prefix: str
    suffix: str
    pattern: str
    modifier: str  # "", "?", "*" or "+"


Token = str | Param


def _lex(pattern: str) -> list[tuple[str, int, str]]:
    tokens: list[tuple[str, int, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char in "*+?":
            tokens.append(("MODIFIER", i, char))
            i += 1
        elif char == "\\":
            if i + 1 >= len(pattern):
                raise ValueError(f"trailing backslash at {i}")
            tokens.append(("ESCAPED_CHAR", i, pattern[i + 1]))
            i += 2
        elif char == "{":
            tokens.append(("OPEN", i, char))
            i += 1
        elif char == "}":
            tokens.append(("CLOSE", i, char))
            i += 1
        elif char == ":":
            j = i + 1
            while j < len(pattern) and _NAME_CHARS.match(pattern[j]):
                j += 1
            if j == i + 1:
                raise ValueError(f"missing parameter name at {i}")
            tokens.append(("NAME", i, pattern[i + 1 : j]))
            i = j
        elif char == "(":
            body, i_after = _lex_group(pattern, i)
            tokens.append(("PATTERN", i, body))
            i = i_after
        else:
            tokens.append(("CHAR", i, char))
            i += 1
    tokens.append(("END", i, ""))
    return tokens


def _lex_group(pattern: str, start: int) -> tuple[str, int]:
    """The regex inside `(...)` starting at `start`, and the index after `)`."""
    depth, j, body = 1, start + 1, ""
    if pattern[j : j + 1] == "?":
        raise ValueError(f'pattern cannot start with "?" at {j}')
    while j < len(pattern):
        if pattern[j] == "\\":
            body += pattern[j : j + 2]
            j += 2
            continue
        if pattern[j] == ")":
            depth -= 1
            if depth == 0:
                break
        elif pattern[j] == "(":
            depth += 1
            if pattern[j + 1 : j + 2] != "?":
                raise ValueError(f"capturing groups are not allowed at {j}")
        body += pattern[j]
        j += 1
    if depth:
        raise ValueError(f"unbalanced pattern at {start}")
    if not body:
        raise ValueError(f"missing pattern at {start}")
    return body, j + 1


def _safe_default(prefix: str, result: list[Token]) -> str:
    """path-to-regexp 6.3.0 `safePattern`: the default pattern for a parameter."""
    previous = result[-1] if result else None
    previous_text = prefix or (previous if isinstance(previous, str) else "")
    if previous is not None and not previous_text:
        name = previous.name if isinstance(previous, Param) else ""
        raise ValueError(f'must have text between two parameters, missing text after "{name}"')
    if not previous_text or any(d in previous_text for d in _DELIMITER):
        return "[^" + _js_escape(_DELIMITER) + "]+?"
    return "(?:(?!" + _js_escape(previous_text) + ")[^" + _js_escape(_DELIMITER) + "])+?"


def parse(pattern: str) -> list[Token]:
    """Tokens of `pattern` (strings and `Param`s); ValueError when malformed."""
    tokens = _lex(pattern)
    result: list[Token] = []
    position = 0
    key = 0
    text = ""

    def try_consume(kind: str) -> str | None:
        nonlocal position
        if tokens[position][0] == kind:
            position += 1
            return tokens[position - 1][2]
        return None

    def must_consume(kind: str) -> str:
        value = try_consume(kind)
        if value is None:
            found, index, _ = tokens[position]
            raise ValueError(f"unexpected {found} at {index}, expected {kind}")
        return value

    def consume_text() -> str:
        collected = ""
        while (value := try_consume("CHAR") or try_consume("ESCAPED_CHAR")) is not None:
            collected += value
        return collected

    while position < len(tokens):
        char = try_consume("CHAR")
        name = try_consume("NAME")
        regex = try_consume("PATTERN")
        if name or regex:
            prefix = char or ""
            if prefix not in _PREFIXES:
                text += prefix
                prefix = ""
            if text:
                result.append(text)
                text = ""
            param_name: str | int = name or key
            if not name:
                key += 1
            result.append(Param(param_name, prefix, "", regex or _safe_default(prefix, result),
                                try_consume("MODIFIER") or ""))
            continue
        value = char or try_consume("ESCAPED_CHAR")
        if value:
            text += value
            continue
        if text:
            result.append(text)
            text = ""
        if try_consume("OPEN"):
            prefix = consume_text()
            name = try_consume("NAME") or ""
            regex = try_consume("PATTERN") or ""
            suffix = consume_text()
            must_consume("CLOSE")
            if name:
                group_name: str | int = name
            elif regex:
                group_name, key = key, key + 1
            else:
                group_name = ""
            group_pattern = _safe_default(prefix, result) if name and not regex else regex
            result.append(Param(group_name, prefix, suffix, group_pattern,
                                try_consume("MODIFIER") or ""))
            continue
        must_consume("END")
    return result


def _js_escape(text: str) -> str:
    return _JS_ESCAPE.sub(r"\\\1", text)


def _route(tokens: list[Token]) -> str:
    """path-to-regexp `tokensToRegexp` with Edgio's options, minus the final `$`."""
    route = "^"
    for token in tokens:
        if isinstance(token, str):
            route += _js_escape(token)
            continue
        prefix, suffix = _js_escape(token.prefix), _js_escape(token.suffix)
        if not token.pattern:
            route += f"(?:{prefix}{suffix}){token.modifier}"
        elif prefix or suffix:
            if token.modifier in ("+", "*"):
                optional = "?" if token.modifier == "*" else ""
                route += (f"(?:{prefix}((?:{token.pattern})(?:{suffix}{prefix}"
                          f"(?:{token.pattern}))*){suffix}){optional}")
            else:
                route += f"(?:{prefix}({token.pattern}){suffix}){token.modifier}"
        else:
            if token.modifier in ("+", "*"):
                raise ValueError(f'can not repeat "{token.name}" without a prefix and suffix')
            route += f"({token.pattern}){token.modifier}"
    return route + "[" + _js_escape(_DELIMITER) + "]?"


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> tuple[re.Pattern[str], str]:
    if not isinstance(pattern, str):
        raise ValueError(f"path pattern must be a string, got {pattern!r}")
    try:
        tokens = parse(pattern)
        for token in tokens:
            if isinstance(token, Param) and token.pattern and (problem := js_regex_problem(token.pattern)):
                raise ValueError(f"({token.pattern}): {problem}")
        route = _route(tokens)
        # Python's `$` also matches before a final "\n"; `\Z` is JS's `$` without the m flag.
        compiled = re.compile(route + r"\Z", re.IGNORECASE)
    except (ValueError, re.error) as error:
        raise ValueError(f"bad path pattern {pattern!r}: {error}") from None
    return compiled, route + "$"


def compile_path(pattern: str) -> re.Pattern[str]:
    """Compiled regex; `.match(path)` tells whether Edgio's router.match would match."""
    return _compiled(pattern)[0]


def to_js_regex(pattern: str) -> str:
    """Regex source with the same meaning in JavaScript, to be used with the "i" flag."""
    return _compiled(pattern)[1]


# ---------------------------------------------------------------- portability

_PYTHON_ONLY_ESCAPES = {"A": r"\A", "Z": r"\Z"}
_INLINE_FLAG_CHARS = set("aiLmsux-")


def js_regex_problem(source: str) -> str | None:
    """Why `source` would not mean the same in JavaScript as in Python, or None.

    Catches the Python-only constructs people actually write: named groups,
    inline flags, comments, atomic groups, conditionals, possessive quantifiers,
    `\\A`/`\\Z`. Subtler differences (e.g. `{,n}`) are not detected.
    """
    i, after_quantifier = 0, False
    while i < len(source):
        char = source[i]
        if char == "\\":
            escaped = source[i + 1 : i + 2]
            if escaped in _PYTHON_ONLY_ESCAPES:
                return f"{_PYTHON_ONLY_ESCAPES[escaped]} is Python-only; use ^ or $"
            i, after_quantifier = i + 2, False
            continue
        if char == "[":
            i, after_quantifier = _skip_class(source, i), False
            continue
        if char == "(" and source[i + 1 : i + 2] == "?":
            marker = source[i + 2 : i + 3]
            if marker == "P" or (marker == "<" and source[i + 3 : i + 4] not in ("=", "!")):
                return "named groups are not portable between Python and JavaScript; use (?:...)"
            if marker == "#":
                return "(?#...) comments are Python-only"
            if marker == ">":
                return "atomic groups (?>...) are not supported in JavaScript"
            if marker == "(":
                return "conditional groups (?(...)) are not supported in JavaScript"
            if marker in _INLINE_FLAG_CHARS:
                return "inline flags are Python-only (only a leading (?i) is allowed where documented)"
        if char in "*+?" or (char == "}" and _closes_quantifier(source, i)):
            if after_quantifier and char == "+":
                return "possessive quantifiers (*+, ++, ?+) are not supported in JavaScript"
            # `?` after a quantifier makes it lazy; the lazy form is not itself quantifiable.
            after_quantifier = not (after_quantifier and char == "?")
        else:
            after_quantifier = False
        i += 1
    return None


def _skip_class(source: str, start: int) -> int:
    i = start + 1
    if source[i : i + 1] == "^":
        i += 1
    if source[i : i + 1] == "]":  # a leading "]" is literal in Python
        i += 1
    while i < len(source) and source[i] != "]":
        i += 2 if source[i] == "\\" else 1
    return i + 1


def _closes_quantifier(source: str, end: int) -> bool:
    start = source.rfind("{", 0, end)
    return start >= 0 and re.fullmatch(r"\{[0-9]+(,[0-9]*)?\}", source[start : end + 1]) is not None


# ---------------------------------------------------------------- index key


def literal_first_segment(pattern: str) -> str | None:
    """Lower-cased first path segment every path matching `pattern` has, if fixed.

    Used to index rules; None means "could match paths with any first segment".
    Keys are ASCII only, so comparing lower-cased strings agrees with the
    regex's case-insensitive matching.
    """
    tokens = parse(pattern)
    head = tokens[0] if tokens else ""
    if not isinstance(head, str) or not head.startswith("/"):
        return None
    rest = head[1:]
    if "/" in rest:
        segment = rest[: rest.index("/")]
    elif len(tokens) == 1:
        segment = rest
    else:
        following = tokens[1]
        # The segment ends where the next token starts with "/", unless that token
        # is optional and more tokens follow (`/foo{/:a}?bar` also matches "/foobar").
        ends_segment = isinstance(following, Param) and following.prefix.startswith("/") and (
            following.modifier in ("", "+") or len(tokens) == 2
        )
        if not ends_segment:
            return None
        segment = rest
    if not segment.isascii() or "#" in segment or "?" in segment:
        return None
    return segment.lower()


# ---------------------------------------------------------------- URLPattern

_URLPATTERN_SPECIAL = re.compile(r"([\\:*?+(){}])")
_U_FLAG_ESCAPE = re.compile(r"([\^$\\.*+?()\[\]{}|/])")  # syntax characters valid to escape under u/v
_SAFE_PATH_TEXT = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*")
_PORTABLE_ESCAPES = set("dDwWsSbB") | set("^$\\.*+?()[]{}|/")
_IDENTIFIER = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_SEGMENT_REGEX = r"[^\/]+?"


def to_urlpattern(pattern: str) -> str | None:
    """URLPattern pathname equivalent to `pattern`, or None if not faithfully expressible.

    Differences that remain, by necessity:
    - URLPattern is case-sensitive, so the result only matches the case written in
      the rule. For speculation rules that only means fewer candidates; the proxy
      still applies the rules case-insensitively.
    - Edgio's optional trailing delimiter becomes a trailing `{/}?`.
    None is returned for literal text a URL path would percent-encode, and for
    custom regexes that might mean something else under URLPattern's u/v flags
    (character classes, escapes other than \\d\\w\\s\\b and syntax characters).
    """
    compile_path(pattern)  # raises ValueError for malformed patterns
    tokens = parse(pattern)
    output = ""
    used_names: set[str] = set()
    previous_text = ""
    for token in tokens:
        if isinstance(token, str):
            if not _SAFE_PATH_TEXT.fullmatch(token):
                return None
            output += _URLPATTERN_SPECIAL.sub(r"\\\1", token)
            previous_text = token
            continue
        if not (_SAFE_PATH_TEXT.fullmatch(token.prefix) and _SAFE_PATH_TEXT.fullmatch(token.suffix)):
            return None
        body = ""
        if token.pattern:
            regex = _urlpattern_regex(token, previous_text)
            if regex is None:
                return None
            if isinstance(token.name, str):
                # An empty regex keeps URLPattern's segment wildcard [^/]+?, which is
                # Edgio's [^/#?]+? on a pathname (it never contains # or ?).
                body = ":" + _unique_name(token.name, used_names) + (f"({regex})" if regex else "")
            else:
                body = "(" + (regex or _SEGMENT_REGEX) + ")"
        prefix = _URLPATTERN_SPECIAL.sub(r"\\\1", token.prefix)
        suffix = _URLPATTERN_SPECIAL.sub(r"\\\1", token.suffix)
        if token.pattern and token.prefix == "/" and not token.suffix:
            output += "/" + body + token.modifier  # URLPattern's own "/" prefix rule, same meaning
        else:
            # Braces stop URLPattern from taking a preceding "/" as this part's prefix.
            output += "{" + prefix + body + suffix + "}" + token.modifier
        previous_text = ""
    return output + "{/}?"


def _urlpattern_regex(token: Param, previous_text: str) -> str | None:
    """The regex for the URLPattern part ("" = the default segment wildcard), or None."""
    if token.pattern == "[^" + _js_escape(_DELIMITER) + "]+?":
        return ""
    guard = token.prefix or previous_text
    if guard and token.pattern == "(?:(?!" + _js_escape(guard) + ")[^" + _js_escape(_DELIMITER) + "])+?":
        return "(?:(?!" + _U_FLAG_ESCAPE.sub(r"\\\1", guard) + r")[^\/])+?"
    return token.pattern if _portable_under_v_flag(token.pattern) else None


def _portable_under_v_flag(regex: str) -> bool:
    if not regex.isascii() or "[" in regex:
        return False
    i = 0
    while i < len(regex):
        if regex[i] == "\\":
            if regex[i + 1 : i + 2] not in _PORTABLE_ESCAPES:
                return False
            i += 2
        else:
            i += 1
    return True


def _unique_name(name: str, used: set[str]) -> str:
    candidate = name if _IDENTIFIER.fullmatch(name) else f"p{name}"
    base, counter = candidate, 2
    while candidate in used:
        candidate, counter = f"{base}_{counter}", counter + 1
    used.add(candidate)
    return candidate
