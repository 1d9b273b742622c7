"""The rules' model: `Rule`, `RuleSet` and what matching a request gives (`Features`), pure.

Matching uses an index (host scope -> first path segment -> candidate rules) so the cost per
request barely grows with the number of rules; the result always equals checking every rule in
order. Rule files become a `RuleSet` in `rule_file`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from prefetch_lab.rules.path_pattern import compile_path, js_regex_problem, literal_first_segment


@dataclass(frozen=True)
class RequestInfo:
    method: str  # "GET"
    scheme: str  # "https"
    host: str  # lower-case, no port
    path: str  # "/pages/1" (no query)
    query: str = ""  # raw query string without "?" (edgio_* already removed by the caller)


@dataclass(frozen=True)
class Features:
    """The merged result of all matching rules."""

    max_age: int | None = None
    service_worker_max_age: int | None = None
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None  # RFC 5861: serve stale this long past the TTL when the origin fails
    bypass_cache: bool = False
    bypass_client_cache: bool = False
    ignore_origin_no_cache: bool | tuple[int, ...] = False
    cacheable_status_codes: tuple[int, ...] | None = None
    # The rule vouches that responses do not depend on the visitor's cookies: share them.
    cache_key_ignore_cookies: bool = False
    set_response_headers: tuple[tuple[str, str], ...] = ()
    # Edgio's remove_origin_response_headers: dropped from the origin's response before the edge
    # decides whether to store it (and so never sent on either); lower-case names.
    remove_origin_response_headers: tuple[str, ...] = ()
    deep_fetch: tuple[dict, ...] = ()
    matched: tuple[str, ...] = ()  # rule ids "default.yaml#3" (1-based), for the audit

    @property
    def prefetchable(self) -> bool:
        """Edgio's manifest check: max_age set, service_worker_max_age > 0, not bypass_cache."""
        return (
            self.max_age is not None
            and bool(self.service_worker_max_age)
            and not self.bypass_cache
        )


class RulesError(ValueError):
    """A rule file problem; `str(e)` is "file:line: problem"."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = file, line, problem
        location = f"{file}:{line}" if line is not None else file
        super().__init__(f"{location}: {problem}")


@dataclass(frozen=True)
class Regex:
    """A regex condition as written (`source` may start with Edgio's "(?i)")."""

    source: str
    compiled: re.Pattern[str] = field(repr=False, compare=False)

    @property
    def ignore_case(self) -> bool:
        return self.source.startswith("(?i)")

    @property
    def js_source(self) -> str:
        """The source for `new RegExp(js_source, ignore_case ? "i" : "")`."""
        return self.source[4:] if self.ignore_case else self.source

    @classmethod
    def parse(cls, source: str) -> Regex:
        """Compile `source`; ValueError if it is invalid or not portable to JavaScript."""
        body, flags = (source[4:], re.IGNORECASE) if source.startswith("(?i)") else (source, 0)
        try:
            compiled = re.compile(body, flags)
        except re.error as error:
            raise ValueError(f"bad regex {source!r}: {error}") from None
        if problem := js_regex_problem(body):
            raise ValueError(f"bad regex {source!r}: {problem}")
        return cls(source, compiled)


# A query condition: True = present, False = absent, tuple = exact value (any of), Regex.
# Values are the first occurrence's (decoded); present/absent look at every occurrence.
QueryCondition = bool | tuple[str, ...] | Regex


@dataclass(frozen=True, eq=False)
class Rule:
    id: str  # "default.yaml#3"
    source: str  # the file it came from
    line: int
    comment: str | None = None
    paths: tuple[str, ...] = ()  # path-to-regexp patterns, any of
    path_regexes: tuple[str, ...] = ()  # as written, "(?i)" prefix allowed, any of
    methods: tuple[str, ...] = ()  # upper-case
    schemes: tuple[str, ...] = ()  # lower-case
    hosts: tuple[str, ...] = ()  # lower-case, "*.example.com" = sub-domains
    query: Mapping[str, QueryCondition] = field(default_factory=lambda: MappingProxyType({}))
    querystring: tuple[str | Regex, ...] = ()  # any of
    # Only the features this rule sets, by `Features` field name; durations in seconds.
    features: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    _path_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False)
    _path_regex_res: tuple[re.Pattern[str], ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Compiled here (both compilers cache) so a Rule built directly behaves like a loaded one.
        set_ = object.__setattr__
        set_(self, "_path_res", tuple(compile_path(p) for p in self.paths))
        set_(self, "_path_regex_res", tuple(Regex.parse(r).compiled for r in self.path_regexes))
        set_(self, "methods", tuple(m.upper() for m in self.methods))
        set_(self, "schemes", tuple(s.lower() for s in self.schemes))
        set_(self, "hosts", tuple(h.lower() for h in self.hosts))

    @property
    def deep_fetch(self) -> tuple[dict, ...]:
        return self.features.get("deep_fetch", ())

    def applies_to_host(self, host: str) -> bool:
        if not self.hosts:
            return True
        host = host.lower()
        return any(_host_matches(pattern, host) for pattern in self.hosts)

    def matches(self, req: RequestInfo) -> bool:
        """Whether every condition holds for `req` (the reference semantics)."""
        return self.applies_to_host(req.host) and self._matches_besides_host(req, None)

    def _matches_besides_host(self, req: RequestInfo, params: dict[str, list[str]] | None) -> bool:
        if self.methods and req.method.upper() not in self.methods:
            return False
        if self.schemes and req.scheme.lower() not in self.schemes:
            return False
        if self._path_res and not any(p.match(req.path) for p in self._path_res):
            return False
        if self._path_regex_res and not any(p.search(req.path) for p in self._path_regex_res):
            return False
        if self.querystring and not any(
            c.compiled.search(req.query) if isinstance(c, Regex) else c == req.query
            for c in self.querystring
        ):
            return False
        if self.query:
            if params is None:
                params = parse_query(req.query)
            return all(_query_holds(cond, params.get(name)) for name, cond in self.query.items())
        return True


def parse_query(query: str) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        params.setdefault(name, []).append(value)
    return params


def _query_holds(condition: QueryCondition, values: list[str] | None) -> bool:
    if condition is True:
        return values is not None
    if condition is False:
        return values is None
    if values is None:
        return False
    # A repeated parameter is read by its first occurrence, as Edgio's client does
    # (`url.searchParams.get(name)`), so the browser and the edge decide alike.
    if isinstance(condition, Regex):
        return condition.compiled.search(values[0]) is not None
    return values[0] in condition


def _host_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


# ---------------------------------------------------------------- matching index

_NON_ASCII = object()  # request segment marker: compare with every rule in scope


class _PathIndex:
    """Rules of one host scope, by the literal first path segment they require."""

    def __init__(self, entries: list[tuple[int, frozenset[str] | None]]) -> None:
        unkeyed = [i for i, keys in entries if keys is None]
        keyed: dict[str, list[int]] = {}
        for i, keys in entries:
            for key in keys or ():
                keyed.setdefault(key, []).append(i)
        self.unkeyed: tuple[int, ...] = tuple(unkeyed)
        self.everything: tuple[int, ...] = tuple(i for i, _ in entries)
        # Pre-merged so a lookup needs no sorting.
        self.by_segment: dict[str, tuple[int, ...]] = {
            key: tuple(sorted(set(indices) | set(unkeyed))) for key, indices in keyed.items()
        }

    def candidates(self, segment: object) -> tuple[int, ...]:
        if segment is _NON_ASCII:
            return self.everything
        if segment is None:
            return self.unkeyed
        return self.by_segment.get(segment, self.unkeyed)  # type: ignore[call-overload]


def _request_segment(path: str) -> object:
    """Lower-cased first segment, None without a leading "/", _NON_ASCII if not ASCII."""
    if not path.startswith("/"):
        return None
    segment = path[1:].split("/", 1)[0]
    if "#" in segment or "?" in segment:
        segment = re.split(r"[#?]", segment, maxsplit=1)[0]
    if not segment.isascii():
        return _NON_ASCII
    return segment.lower()


_REGEX_SEGMENT = re.compile(r"\^(?:/|\\/)([A-Za-z0-9_~-]*)(?:/|\\/)(?![?*+{])")


def _rule_segment_keys(rule: Rule) -> frozenset[str] | None:
    """First path segments a request must have to match `rule`, or None if any."""
    if rule.paths:
        keys = [literal_first_segment(p) for p in rule.paths]
        if all(k is not None for k in keys):
            return frozenset(k for k in keys if k is not None)
    if rule.path_regexes:
        found: list[str] = []
        for source in rule.path_regexes:
            body = source[4:] if source.startswith("(?i)") else source
            match = _REGEX_SEGMENT.match(body)
            if "|" in body or not match:
                return None
            found.append(match.group(1).lower())
        return frozenset(found)
    return None


class RuleSet:
    def __init__(self, rules: Sequence[Rule] = (), sources: Sequence[str] = ()) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.sources: tuple[str, ...] = tuple(sources)
        unscoped: list[tuple[int, frozenset[str] | None]] = []
        exact: dict[str, list[tuple[int, frozenset[str] | None]]] = {}
        wildcard: dict[str, list[tuple[int, frozenset[str] | None]]] = {}
        for index, rule in enumerate(self.rules):
            entry = (index, _rule_segment_keys(rule))
            if not rule.hosts:
                unscoped.append(entry)
            for host in dict.fromkeys(rule.hosts):
                if host.startswith("*."):
                    wildcard.setdefault(host[1:], []).append(entry)  # key ".example.com"
                else:
                    exact.setdefault(host, []).append(entry)
        self._unscoped = _PathIndex(unscoped)
        self._exact = {host: _PathIndex(entries) for host, entries in exact.items()}
        self._wildcard = {suffix: _PathIndex(entries) for suffix, entries in wildcard.items()}

    @classmethod
    def empty(cls) -> RuleSet:
        """No rules: the cache follows origin headers only (RFC mode)."""
        return cls()

    def _candidates(self, req: RequestInfo) -> tuple[int, ...] | list[int]:
        segment = _request_segment(req.path)
        found = self._unscoped.candidates(segment)
        if not (self._exact or self._wildcard):
            return found
        host = req.host.lower()
        scoped: list[tuple[int, ...]] = []
        if (index := self._exact.get(host)) is not None:
            scoped.append(index.candidates(segment))
        if self._wildcard:
            dot = host.find(".", 1)
            while dot != -1:
                if (index := self._wildcard.get(host[dot:])) is not None:
                    scoped.append(index.candidates(segment))
                dot = host.find(".", dot + 1)
        if not scoped:
            return found
        # A rule listing several hosts can come from several scopes: dedupe, keep file order.
        return sorted(set(found).union(*scoped))

    def match(self, req: RequestInfo) -> Features:
        rules = self.rules
        params: dict[str, list[str]] | None = None  # parsed once, only if a candidate needs it
        matched = []
        for index in self._candidates(req):
            rule = rules[index]
            if rule.query and params is None:
                params = parse_query(req.query)
            if rule._matches_besides_host(req, params):
                matched.append(rule)
        return merge_features(matched)


def merge_features(rules: Sequence[Rule]) -> Features:
    """Apply rules in order; a later rule's keys replace earlier ones (headers by name)."""
    if not rules:
        return _NO_FEATURES
    merged: dict[str, Any] = {}
    headers: dict[str, tuple[str, str]] = {}
    for rule in rules:
        for key, value in rule.features.items():
            if key == "set_response_headers":
                headers.update((name.lower(), (name, text)) for name, text in value)
            elif key == "remove_origin_response_headers":  # every rule's names (a union, in order)
                merged[key] = tuple(dict.fromkeys(merged.get(key, ()) + tuple(value)))
            else:
                merged[key] = value
    if headers:
        merged["set_response_headers"] = tuple(headers.values())
    return Features(**merged, matched=tuple(rule.id for rule in rules))


_NO_FEATURES = Features()
