"""A reference evaluator for what rules/speculation_rules.py and rules/regex_to_js.py emit.

URLPattern pathname and search components are compiled by the small reference compiler below
(the subset of the URLPattern grammar the edge emits; regexp groups run as Python regexes, which
agree with JavaScript on that subset), selectors by attribute lookup, and a rules document's
`where` tree is evaluated for a link. Every pattern is also checked against URLPattern's
tokenizer rules for regexp groups and the v flag's stricter syntax;
tests/e2e/test_speculation_document_in_chromium.py asks Chromium. Its own checks are in
test_regex_to_js.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from prefetch_lab.rules.model import RequestInfo

# ---------------------------------------------------------------- a reference evaluator

_NAME = re.compile(r":[A-Za-z_$][A-Za-z0-9_$]*")


def _lex_urlpattern(pattern: str) -> list[tuple[str, str]]:
    tokens, i = [], 0
    while i < len(pattern):
        if pattern[i] == "\\":
            tokens.append(("escaped", pattern[i : i + 2]))
            i += 2
        elif name := _NAME.match(pattern, i):
            tokens.append(("name", name.group()))
            i = name.end()
        elif pattern[i] == "(":
            depth, j = 0, i
            while True:  # balanced parentheses, skipping escapes
                if pattern[j] == "\\":
                    j += 2
                    continue
                depth += {"(": 1, ")": -1}.get(pattern[j], 0)
                j += 1
                if depth == 0:
                    break
            tokens.append(("regex", pattern[i:j]))
            i = j
        else:
            tokens.append(("char", pattern[i]))
            i += 1
    return tokens


def urlpattern_pathname_regex(pattern: str) -> re.Pattern[str]:
    """URLPattern pathname (prefix "/", delimiter "/") → Python regex, case-sensitive."""
    return urlpattern_component_regex(pattern, "/")


def urlpattern_component_regex(pattern: str, delimiter: str) -> re.Pattern[str]:
    """A URLPattern component → Python regex; delimiter "/" for pathname, "" for search."""
    tokens = _lex_urlpattern(pattern)
    out, pending, i = "", "", 0

    def body(kind: str, text: str) -> str:
        if kind == "name":
            return f"[^{delimiter}]+?" if delimiter else ".+?"
        if kind == "regex":
            return text[1:-1]
        return ".*"  # "*"

    def part(prefix: str, inner: str, suffix: str, modifier: str) -> str:
        prefix, suffix = re.escape(prefix), re.escape(suffix)
        if modifier in ("+", "*"):
            repeated = f"(?:{prefix}((?:{inner})(?:{suffix}{prefix}(?:{inner}))*){suffix})"
            return repeated + ("?" if modifier == "*" else "")
        return f"(?:{prefix}({inner}){suffix}){modifier}"

    def take_modifier() -> str:
        nonlocal i
        if i < len(tokens) and tokens[i][1] in ("?", "+", "*") and tokens[i][0] == "char":
            i += 1
            return tokens[i - 1][1]
        return ""

    def take_text() -> str:
        nonlocal i
        text = ""
        while i < len(tokens) and (tokens[i][0] == "escaped" or (
                tokens[i][0] == "char" and tokens[i][1] not in "{}*?+")):
            text += tokens[i][1][-1]
            i += 1
        return text

    while i < len(tokens):
        kind, text = tokens[i]
        if kind == "char" and text == "{":
            out += re.escape(pending)
            pending = ""
            i += 1
            prefix = take_text()
            inner = ""
            if i < len(tokens) and (tokens[i][0] in ("name", "regex") or tokens[i][1] == "*"):
                inner_kind, inner_text = tokens[i]
                i += 1
                if inner_kind == "name" and i < len(tokens) and tokens[i][0] == "regex":
                    inner_kind, inner_text = tokens[i]
                    i += 1
                inner = body(inner_kind, inner_text)
            suffix = take_text()
            assert tokens[i][1] == "}", pattern
            i += 1
            modifier = take_modifier()
            out += part(prefix, inner, suffix, modifier) if inner else (
                f"(?:{re.escape(prefix + suffix)}){modifier}")
            continue
        if kind in ("name", "regex") or (kind == "char" and text == "*"):
            i += 1
            inner_kind, inner_text = kind, text
            if kind == "name" and i < len(tokens) and tokens[i][0] == "regex":
                inner_kind, inner_text = tokens[i]
                i += 1
            prefix = ""
            if delimiter and pending.endswith(delimiter):
                pending, prefix = pending[:-1], delimiter
            out += re.escape(pending)
            pending = ""
            out += part(prefix, body(inner_kind, inner_text), "", take_modifier())
            continue
        pending += text[-1]
        i += 1
    return re.compile("^" + out + re.escape(pending) + "$")


# ---------------------------------------------------------------- URLPattern syntax checks

_SYNTAX = set("^$\\.*+?()[]{}|/")
_DOUBLE_PUNCTUATORS = set("&!#$%*+,.:;<=>?@^`~")


def urlpattern_syntax_problem(pattern: str) -> str | None:
    """Why URLPattern's tokenizer, or a u/v-flag RegExp, would reject a regexp group in it."""
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] != "(":
            i += 1
            continue
        start = j = i + 1
        if pattern[j : j + 1] == "?":
            return "a regexp group may not start with ?"
        depth = 1
        while depth:
            if j >= len(pattern):
                return "unbalanced regexp group"
            char = pattern[j]
            if not char.isascii():
                return "non-ASCII in a regexp group"
            if char == "\\":
                j += 2
                continue
            if char == "(":
                depth += 1
                if pattern[j + 1 : j + 2] != "?":
                    return "unnamed capturing group"
            depth -= char == ")"
            j += 1
        if j - 1 == start:
            return "empty regexp group"
        if problem := regex_flag_problem(pattern[start : j - 1]):
            return problem
        i = j
    return None


def regex_flag_problem(regex: str) -> str | None:
    """Syntax valid without flags that the u or v flag rejects (the cases we could emit)."""
    i = 0
    while i < len(regex):
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1]
            if not (escaped in _SYNTAX or escaped in "dDwWsSbBnrtfv"
                    or re.match(r"x[0-9A-Fa-f]{2}", regex[i + 1 : i + 4])):
                return f"identity escape \\{escaped}"
            i += 2
        elif char == "[":
            i, problem = _class_problem(regex, i + 1)
            if problem:
                return problem
        elif char == "{":
            quantifier = re.match(r"\{\d+(,\d*)?\}", regex[i:])
            if not quantifier:
                return "lone {"
            i += quantifier.end()
        elif char in "}]":
            return f"lone {char}"
        else:
            i += 1
    return None


def _class_problem(regex: str, i: int) -> tuple[int, str | None]:
    i += regex[i] == "^"
    operands = 0  # consecutive single characters, for ranges
    while regex[i] != "]":
        char = regex[i]
        if char == "\\":
            escaped = regex[i + 1]
            if not (escaped in _SYNTAX or escaped in "-dDwWsS"
                    or re.match(r"x[0-9A-Fa-f]{2}", regex[i + 1 : i + 4])):
                return i, f"class escape \\{escaped} (invalid under u)"
            i += 4 if escaped == "x" else 2
            operands += 1
            continue
        if char == "-" and operands and regex[i + 1] != "]":
            operands, i = -1, i + 1  # a range: the next operand ends it
            continue
        if char in "()[]{}/-\\|":
            return i, f"unescaped {char} in a class (invalid under v)"
        if char in _DOUBLE_PUNCTUATORS and regex[i + 1] == char:
            return i, f"doubled {char} in a class (reserved under v)"
        operands, i = operands + 1, i + 1
    return i + 1, None


def all_patterns(predicate: dict) -> list[str]:
    """Every URLPattern string in a `where` tree (dict patterns: each component)."""
    if "href_matches" in predicate:
        patterns = predicate["href_matches"]
        found = []
        for item in [patterns] if isinstance(patterns, (str, dict)) else patterns:
            found += list(item.values()) if isinstance(item, dict) else [item]
        return found
    children = predicate.get("and") or predicate.get("or") or (
        [predicate["not"]] if "not" in predicate else [])
    return [p for child in children for p in all_patterns(child)]


def assert_valid_patterns(document: dict) -> None:
    for rule in document["prefetch"]:
        problems = {p: urlpattern_syntax_problem(p) for p in all_patterns(rule["where"])}
        assert {p: why for p, why in problems.items() if why} == {}


@dataclass
class Link:
    path: str
    query: str = ""
    same_origin: bool = True
    rel: str = ""
    attributes: set[str] = field(default_factory=set)


def selector_matches(selector: str, link: Link) -> bool:
    if selector == "[rel~=nofollow]":
        return "nofollow" in link.rel.split()
    if selector == "[download]":
        return "download" in link.attributes
    raise AssertionError(f"selector not modelled: {selector}")


def where_accepts(predicate: dict, link: Link) -> bool:
    """Evaluate a document-rule predicate for a link (patterns relative to the document)."""
    if "and" in predicate:
        return all(where_accepts(p, link) for p in predicate["and"])
    if "or" in predicate:
        return any(where_accepts(p, link) for p in predicate["or"])
    if "not" in predicate:
        return not where_accepts(predicate["not"], link)
    if "selector_matches" in predicate:
        return selector_matches(predicate["selector_matches"], link)
    assert predicate.get("relative_to") == "document", predicate
    patterns = predicate["href_matches"]
    patterns = [patterns] if isinstance(patterns, (str, dict)) else patterns
    return link.same_origin and any(pattern_accepts(p, link) for p in patterns)


def pattern_accepts(pattern: str | dict, link: Link) -> bool:
    """A relative pattern inherits the document's protocol, host and port. A string's search
    is "*"; a dict names its pathname (else it would inherit the document's) and search."""
    if isinstance(pattern, str):
        return bool(urlpattern_pathname_regex(pattern).match(link.path))
    assert set(pattern) == {"pathname", "search"}, pattern
    return bool(urlpattern_pathname_regex(pattern["pathname"]).match(link.path)
                and urlpattern_component_regex(pattern["search"], "").match(link.query))


def speculated(document: dict, link: Link) -> bool:
    assert_valid_patterns(document)
    return any(where_accepts(rule["where"], link) for rule in document["prefetch"])


def edge_prefetchable(ruleset, host: str, link: Link, scheme: str = "https") -> bool:
    request = RequestInfo(method="GET", scheme=scheme, host=host, path=link.path, query=link.query)
    return ruleset.match(request).prefetchable
