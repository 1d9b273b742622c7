"""Rule files (`rules/*.yaml`) -> `RuleSet`, with errors that name the file and line.

The format is documented in rules/README.md and docs/DESIGN.md. Validation works on the YAML
node tree so every error names the line of the offending value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from prefetch_lab.http.durations import parse_duration
from prefetch_lab.rules.model import QueryCondition, Regex, Rule, RuleSet, RulesError
from prefetch_lab.rules.path_pattern import compile_path


def rule_files(paths: Sequence[str | Path]) -> list[Path]:
    """The files behind `paths`: a directory means its *.yaml/*.yml, sorted, not recursive."""
    files: list[Path] = []
    for entry in paths:
        path = Path(entry)
        if path.is_dir():
            files.extend(sorted(
                (p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()),
                key=lambda p: p.name,
            ))
        elif path.is_file():
            files.append(path)
        else:
            raise RulesError(str(path), None, "no such file or directory")
    return files


def load_rules(paths: Sequence[str | Path]) -> RuleSet:
    """Load files in the order given; a directory loads its *.yaml/*.yml, sorted, not recursive."""
    files = rule_files(paths)
    rules: list[Rule] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise RulesError(str(file), None, f"cannot read: {error}") from None
        rules.extend(_parse_text(text, str(file)))
    return RuleSet(rules, [str(f) for f in files])


def load_rules_text(text: str, name: str = "rules.yaml") -> RuleSet:
    """Load one rule file's text; `name` is used in errors and rule ids."""
    return RuleSet(_parse_text(text, name), [name])


# libyaml's loader is ~5x faster and keeps the line marks we report.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_text(text: str, file: str) -> list[Rule]:
    try:
        root = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        problem = " ".join(p for p in (error.context, error.problem) if p)
        raise RulesError(file, line, f"YAML syntax error: {problem}") from None
    except yaml.YAMLError as error:
        raise RulesError(file, None, f"YAML error: {error}") from None
    return _Reader(file).rules(root)


_RULE_KEYS = ("comment", "match", "caching", "headers", "deep_fetch")
_MATCH_KEYS = ("path", "path_regex", "method", "scheme", "host", "query", "querystring")
_CACHING_KEYS = (
    "max_age", "service_worker_max_age", "stale_while_revalidate", "stale_if_error", "bypass_cache",
    "bypass_client_cache", "ignore_origin_no_cache", "cacheable_status_codes", "cache_key_ignore_cookies",
)
_DURATION_KEYS = ("max_age", "service_worker_max_age", "stale_while_revalidate", "stale_if_error")
_HEADERS_KEYS = ("set_response_headers", "remove_origin_response_headers")
_DEEP_FETCH_KEYS = ("selector", "json_query", "attribute", "max_matches", "as")
_METHOD_RE = re.compile(r"[A-Za-z]+")
_HOST_RE = re.compile(r"(\*\.)?[a-z0-9._\-\[\]:]+")
HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 9110 token


class _Reader:
    """Turns the composed node tree into rules, failing with file:line: key: problem."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.name = Path(file).name
        self._constructor = SafeConstructor()

    def fail(self, node: Node, key: str, problem: str) -> NoReturn:
        prefix = f"{key}: " if key else ""
        raise RulesError(self.file, node.start_mark.line + 1, prefix + problem)

    # -- generic node helpers

    def value(self, node: Node) -> Any:
        try:
            return self._constructor.construct_object(node, deep=True)
        except yaml.YAMLError as error:
            self.fail(node, "", f"cannot read value: {getattr(error, 'problem', error)}")

    def describe(self, node: Node) -> str:
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        value = self.value(node)
        return "nothing (null)" if value is None else f"{type(value).__name__} {value!r}"

    def mapping(self, node: Node, key: str, allowed: Sequence[str]) -> dict[str, tuple[Node, Node]]:
        """Mapping items by key (key node, value node); rejects unknown and duplicate keys."""
        if not isinstance(node, MappingNode):
            self.fail(node, key, f"expected a mapping, got {self.describe(node)}")
        items: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            name = self.value(key_node) if isinstance(key_node, ScalarNode) else None
            where = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                self.fail(key_node, key, f"keys must be strings, got {self.describe(key_node)}")
            if allowed and name not in allowed:
                hint = difflib.get_close_matches(name, allowed, n=1)
                suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.fail(key_node, where, f"unknown key{suggestion}; expected one of: {', '.join(allowed)}")
            if name in items:
                self.fail(key_node, where, "duplicate key")
            items[name] = (key_node, value_node)
        return items

    def string(self, node: Node, key: str) -> str:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, str):
            self.fail(node, key, f"expected a string, got {self.describe(node)}")
        return value

    def boolean(self, node: Node, key: str) -> bool:
        value = self.value(node) if isinstance(node, ScalarNode) else None
        if not isinstance(value, bool):
            self.fail(node, key, f"expected true or false, got {self.describe(node)}")
        return value

    def one_or_many(self, node: Node, key: str) -> list[Node]:
        """A scalar or a mapping is a one-item list; an empty list is an error."""
        if isinstance(node, SequenceNode):
            if not node.value:
                self.fail(node, key, "empty list would never match")
            return list(node.value)
        return [node]

    def status_codes(self, node: Node, key: str) -> tuple[int, ...]:
        if not isinstance(node, SequenceNode) or not node.value:
            self.fail(node, key, f"expected a non-empty list of status codes, got {self.describe(node)}")
        codes = []
        for item in node.value:
            value = self.value(item) if isinstance(item, ScalarNode) else None
            if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
                self.fail(item, key, f"expected an HTTP status code (100-599), got {self.describe(item)}")
            codes.append(value)
        return tuple(codes)

    def regex(self, node: Node, key: str) -> Regex:
        """`{regex: '...'}`."""
        items = self.mapping(node, key, ("regex",))
        if "regex" not in items:
            self.fail(node, key, "expected {regex: ...}")
        value_node = items["regex"][1]
        source = self.string(value_node, f"{key}.regex")
        try:
            return Regex.parse(source)
        except ValueError as error:
            self.fail(value_node, f"{key}.regex", str(error))

    # -- the format

    def rules(self, root: Node | None) -> list[Rule]:
        if root is None:
            return []
        items = self.mapping(root, "", ("rules",))
        if "rules" not in items:
            return []
        rules_node = items["rules"][1]
        if isinstance(rules_node, ScalarNode) and self.value(rules_node) is None:
            return []
        if not isinstance(rules_node, SequenceNode):
            self.fail(rules_node, "rules", f"expected a list of rules, got {self.describe(rules_node)}")
        return [self.rule(node, number) for number, node in enumerate(rules_node.value, start=1)]

    def rule(self, node: Node, number: int) -> Rule:
        if not isinstance(node, MappingNode):
            self.fail(node, f"rule {number}", f"expected a mapping, got {self.describe(node)}")
        items = self.mapping(node, "", _RULE_KEYS)
        fields: dict[str, Any] = {}
        features: dict[str, Any] = {}
        if "comment" in items:
            fields["comment"] = self.string(items["comment"][1], "comment")
        if "match" in items:
            fields.update(self.conditions(items["match"][1]))
        if "caching" in items:
            features.update(self.caching(items["caching"][1]))
        if "headers" in items:
            headers_items = self.mapping(items["headers"][1], "headers", _HEADERS_KEYS)
            if "set_response_headers" in headers_items:
                features["set_response_headers"] = self.response_headers(
                    headers_items["set_response_headers"][1])
            if "remove_origin_response_headers" in headers_items:
                features["remove_origin_response_headers"] = self.header_names(
                    headers_items["remove_origin_response_headers"][1])
        if "deep_fetch" in items:
            features["deep_fetch"] = self.deep_fetch(items["deep_fetch"][1])
        return Rule(
            id=f"{self.name}#{number}", source=self.file, line=node.start_mark.line + 1,
            features=MappingProxyType(features), **fields,
        )

    def conditions(self, node: Node) -> dict[str, Any]:
        items = self.mapping(node, "match", _MATCH_KEYS)
        fields: dict[str, Any] = {}
        if "path" in items:
            paths = []
            for item in self.one_or_many(items["path"][1], "match.path"):
                pattern = self.string(item, "match.path")
                try:
                    compile_path(pattern)
                except ValueError as error:
                    self.fail(item, "match.path", str(error))
                paths.append(pattern)
            fields["paths"] = tuple(paths)
        if "path_regex" in items:
            sources = []
            for item in self.one_or_many(items["path_regex"][1], "match.path_regex"):
                source = self.string(item, "match.path_regex")
                try:
                    Regex.parse(source)
                except ValueError as error:
                    self.fail(item, "match.path_regex", str(error))
                sources.append(source)
            fields["path_regexes"] = tuple(sources)
        if "method" in items:
            methods = []
            for item in self.one_or_many(items["method"][1], "match.method"):
                method = self.string(item, "match.method")
                if not _METHOD_RE.fullmatch(method):
                    self.fail(item, "match.method", f"not an HTTP method: {method!r}")
                methods.append(method.upper())
            fields["methods"] = tuple(methods)
        if "scheme" in items:
            schemes = []
            for item in self.one_or_many(items["scheme"][1], "match.scheme"):
                scheme = self.string(item, "match.scheme").lower()
                if scheme not in ("http", "https"):
                    self.fail(item, "match.scheme", f"expected http or https, got {scheme!r}")
                schemes.append(scheme)
            fields["schemes"] = tuple(schemes)
        if "host" in items:
            hosts = []
            for item in self.one_or_many(items["host"][1], "match.host"):
                host = self.string(item, "match.host").lower()
                if not _HOST_RE.fullmatch(host) or host.startswith("*.") and len(host) < 3:
                    self.fail(item, "match.host",
                              f"expected a host name like shop.example.com or *.example.com, got {host!r}")
                hosts.append(host)
            fields["hosts"] = tuple(hosts)
        if "query" in items:
            fields["query"] = MappingProxyType(self.query(items["query"][1]))
        if "querystring" in items:
            fields["querystring"] = tuple(
                self.regex(item, "match.querystring") if isinstance(item, MappingNode)
                else self.string(item, "match.querystring")
                for item in self.one_or_many(items["querystring"][1], "match.querystring")
            )
        return fields

    def query(self, node: Node) -> dict[str, QueryCondition]:
        conditions: dict[str, QueryCondition] = {}
        for name, (_, value_node) in self.mapping(node, "match.query", ()).items():
            key = f"match.query.{name}"
            if isinstance(value_node, MappingNode):
                conditions[name] = self.regex(value_node, key)
                continue
            values = []
            for item in self.one_or_many(value_node, key):
                value = self.value(item) if isinstance(item, ScalarNode) else None
                if isinstance(value, bool) and not isinstance(value_node, SequenceNode):
                    conditions[name] = value
                    break
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    # Unquoted `page: 01` means the text "01", not the number 1.
                    values.append(value if isinstance(value, str) else item.value)
                    continue
                self.fail(item, key, "expected a value (string), true (present), false (absent)"
                          f" or {{regex: ...}}, got {self.describe(item)}")
            else:
                conditions[name] = tuple(values)
        return conditions

    def caching(self, node: Node) -> dict[str, Any]:
        features: dict[str, Any] = {}
        for name, (_, value_node) in self.mapping(node, "caching", _CACHING_KEYS).items():
            key = f"caching.{name}"
            if name in _DURATION_KEYS:
                if not isinstance(value_node, ScalarNode):
                    self.fail(value_node, key, f"expected a duration like 30s/5m/1h/1d/1w/1y,"
                                               f" got {self.describe(value_node)}")
                try:
                    features[name] = parse_duration(self.value(value_node))
                except ValueError as error:
                    self.fail(value_node, key, str(error))
            elif name == "cacheable_status_codes":
                features[name] = self.status_codes(value_node, key)
            elif name == "ignore_origin_no_cache":
                features[name] = (self.status_codes(value_node, key)
                                  if isinstance(value_node, SequenceNode)
                                  else self.boolean(value_node, key))
            else:
                features[name] = self.boolean(value_node, key)
        return features

    def response_headers(self, node: Node) -> tuple[tuple[str, str], ...]:
        key = "headers.set_response_headers"
        headers = []
        for name, (key_node, value_node) in self.mapping(node, key, ()).items():
            if not HEADER_NAME_RE.fullmatch(name):
                self.fail(key_node, key, f"not a valid header name: {name!r}")
            value = self.value(value_node) if isinstance(value_node, ScalarNode) else None
            if value is None or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                self.fail(value_node, f"{key}.{name}", f"expected a header value, got {self.describe(value_node)}")
            text = value if isinstance(value, str) else value_node.value
            if "\n" in text or "\r" in text:
                self.fail(value_node, f"{key}.{name}", "header values cannot contain line breaks")
            headers.append((name, text))
        return tuple(headers)

    def header_names(self, node: Node) -> tuple[str, ...]:
        key = "headers.remove_origin_response_headers"
        if not isinstance(node, SequenceNode):
            self.fail(node, key, f"expected a list of header names, got {self.describe(node)}")
        names = []
        for item in node.value:
            name = self.value(item) if isinstance(item, ScalarNode) else None
            if not isinstance(name, str) or not HEADER_NAME_RE.fullmatch(name):
                self.fail(item, key, f"not a valid header name: {self.describe(item)}")
            names.append(name.lower())
        return tuple(dict.fromkeys(names))

    def deep_fetch(self, node: Node) -> tuple[dict, ...]:
        if not isinstance(node, SequenceNode):
            self.fail(node, "deep_fetch", f"expected a list, got {self.describe(node)}")
        entries = []
        for item in node.value:
            items = self.mapping(item, "deep_fetch", _DEEP_FETCH_KEYS)
            if ("selector" in items) == ("json_query" in items):
                self.fail(item, "deep_fetch", "each entry needs exactly one of selector or json_query")
            entry: dict[str, Any] = {}
            for name, (_, value_node) in items.items():
                key = f"deep_fetch.{name}"
                if name == "max_matches":
                    value = self.value(value_node) if isinstance(value_node, ScalarNode) else None
                    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                        self.fail(value_node, key, f"expected an integer >= 1, got {self.describe(value_node)}")
                    entry[name] = value
                else:
                    entry[name] = self.string(value_node, key)
                    if not entry[name]:
                        self.fail(value_node, key, "must not be empty")
            if "selector" in entry:
                entry.setdefault("attribute", "src")  # DeepFetchPlugin's default
            elif "attribute" in entry:
                self.fail(items["attribute"][0], "deep_fetch.attribute", "only applies to selector entries")
            entries.append(entry)
        return tuple(entries)
