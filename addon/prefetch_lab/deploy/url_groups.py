"""The site's URLs grouped into path patterns a person would write, in the path-to-regexp syntax
the rules use: `/:year(\\d{4})/:month(\\d{2})/:slug/`, `/product/:slug`, `/docs/:section/:page`.

A small, explainable generalisation, not a learned model:
- URLs are grouped by verdict first, so a group never mixes an unsafe URL with safe ones; a
  non-prefetch URL with a query keeps its parameter names (the group matches them present).
- Within a verdict, URLs with the same number of path segments are read left to right: a
  position whose values are all numbers (2 or more of them) becomes a typed parameter (a year,
  a month, a day, a page number, an id); a position with several words becomes a parameter
  when it is the last segment (2 or more values: slugs, names) or a middle one (3 or more:
  sections); the first segment stays literal (a site's sections) unless it is all there is
  and varies a lot (`/:slug/`, 5 or more), or is numeric. Anything else splits into literal
  branches.
An exclusion's pattern never matches a URL judged `prefetch` (it falls back to its URLs one by
one). A prefetch group's pattern can still match a URL that sits in another group (`/product/:slug`
and the unsafe `/product/delete`): `covers` lists them; the generated files put every exclusion
after the prefetch rules, so the exclusion wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from prefetch_lab.rules.path_pattern import compile_path

MIDDLE_VARIANTS = 3  # distinct words that make a middle segment a parameter
LAST_VARIANTS = 2  # ... the last segment
TOP_VARIANTS = 5  # ... a one-segment path (/:slug/)
_ESCAPE = re.compile(r"([:(){}*+?\\])")
_EXTENSION = re.compile(r"^[^.]+(\.[A-Za-z0-9]{1,5})$")
_NAMED = {"category": "name", "categories": "name", "tag": "name", "tags": "name", "author": "name",
          "authors": "name", "c": "name", "u": "name", "user": "name", "users": "name", "collections": "name",
          "collection": "name", "product-category": "name", "product-tag": "name", "topics": "name", "t": "slug"}


@dataclass
class Group:
    pattern: str  # path-to-regexp, as rules' match.path
    verdict: str
    urls: list[str] = field(default_factory=list)
    query: tuple[str, ...] = ()  # parameter names the group's URLs all carry (non-prefetch groups)
    values: dict[str, str] = field(default_factory=dict)  # of those, the ones that must have this value
    covers: list[str] = field(default_factory=list)  # other groups' URLs its pattern also matches

    @property
    def count(self) -> int:
        return len(self.urls)

    def matches(self, url: str) -> bool:
        parts = urlsplit(url)
        params = _first_values(parts.query)
        return (bool(compile_path(self.pattern).match(parts.path or "/")) and set(self.query) <= set(params)
                and all(params.get(name) == value for name, value in self.values.items()))


def escape_literal(segment: str) -> str:
    """A path segment as literal path-to-regexp text (`Special:UserLogin` -> `Special\\:UserLogin`)."""
    return _ESCAPE.sub(r"\\\1", segment)


def group_urls(pairs: Iterable[tuple[str, str]]) -> list[Group]:
    """(url, verdict) pairs -> groups, prefetch groups first, each in order of its first URL."""
    items = list(dict.fromkeys(pairs))
    order = {url: index for index, (url, _) in reversed(list(enumerate(items)))}
    by_key: dict[tuple[str, tuple[str, ...], int], list[tuple[str, list[str], bool]]] = {}
    for url, verdict in items:
        parts = urlsplit(url)
        path = parts.path or "/"
        segments = [unquote(s) for s in path.split("/") if s]
        names = tuple(sorted({n for n, _ in parse_qsl(parts.query, keep_blank_values=True)}))
        query = names if verdict != "prefetch" else ()
        by_key.setdefault((verdict, query, len(segments)), []).append((url, segments, path.endswith("/")))
    safe = [url for url, verdict in items if verdict == "prefetch"]
    groups: list[Group] = []
    for (verdict, query, _), members in by_key.items():
        for tokens, urls in _split(members, 0, []):
            group = Group(_render(tokens, urls), verdict, [u for u, _, _ in urls], query)
            groups += [group] if verdict == "prefetch" else _exclusions(group, tokens, urls, safe)
    groups.sort(key=lambda g: (g.verdict != "prefetch", order[g.urls[0]]))
    for group in groups:
        if group.verdict == "prefetch":
            group.covers = [u for other in groups if other.verdict != "prefetch" for u in other.urls
                            if group.matches(u.split("#")[0])]
    return groups


Member = tuple[str, list[str], bool]  # url, segments, trailing slash


def _first_values(query: str) -> dict[str, str]:
    """Each parameter's first value, as the rules read a repeated one."""
    found: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        found.setdefault(name, value)
    return found


def _narrowed(group: Group, safe: Sequence[str]) -> Group:
    """The group, with the parameter values all its URLs share required when the names alone
    would also match a page judged prefetch (Joomla's option=com_users beside option=com_content)."""
    if not group.query or not any(map(group.matches, safe)):
        return group
    params = [_first_values(urlsplit(u).query) for u in group.urls]
    shared = {name: value for name, value in params[0].items() if name in group.query
              and all(p.get(name) == value for p in params)}
    return Group(group.pattern, group.verdict, group.urls, group.query, shared)


def _exclusions(group: Group, tokens: list[str], urls: Sequence[Member], safe: Sequence[str]) -> list[Group]:
    """An exclusion never widens over a page judged prefetch: first its shared parameter values,
    then literal paths, then each URL with every value exact."""
    group = _narrowed(group, safe)
    if not any(map(group.matches, safe)):
        return [group]
    found: list[Group] = []
    for literal_tokens, members in _split(urls, 0, [], literal=True):
        one = _narrowed(Group(_render(literal_tokens, members), group.verdict, [u for u, _, _ in members], group.query), safe)
        if any(map(one.matches, safe)):
            found += [Group(one.pattern, group.verdict, [u], group.query, {n: v for n, v in _first_values(urlsplit(u).query).items()
                                                                           if n in group.query}) for u in one.urls]
        else:
            found.append(one)
    return found


def _split(members: Sequence[Member], position: int, tokens: list[str],
           literal: bool = False) -> list[tuple[list[str], list[Member]]]:
    if not members or position >= len(members[0][1]):
        return [(tokens, list(members))]
    values = list(dict.fromkeys(m[1][position] for m in members))
    if literal:
        return [found for value in values for found in _split(
            [m for m in members if m[1][position] == value], position + 1, tokens + [escape_literal(value)], True)]
    depth = len(members[0][1])
    numbers = [v for v in values if v.isdigit()]
    if numbers and len(numbers) < len(values):  # /2024/... beside /docs/...: numbers apart
        numeric = [m for m in members if m[1][position].isdigit()]
        words = [m for m in members if not m[1][position].isdigit()]
        return _split(numeric, position, tokens) + _split(words, position, tokens)
    parameter = _parameter(values, position, depth, tokens)
    if parameter is None and _dated(members, position):  # one year so far is still /:year/:month/
        parameter = r":year(\d{4})"
    if parameter:
        return _split(members, position + 1, tokens + [parameter])
    found = []
    for value in values:
        branch = [m for m in members if m[1][position] == value]
        found += _split(branch, position + 1, tokens + [escape_literal(value)])
    return found


def _dated(members: Sequence[Member], position: int) -> bool:
    """A year followed by a month (2024/05) in several URLs: dated permalinks, whatever the years seen."""
    def year(v: str) -> bool:
        return len(v) == 4 and v.isdigit() and 1900 <= int(v) <= 2100

    def month(v: str) -> bool:
        return len(v) == 2 and v.isdigit() and 1 <= int(v) <= 12

    return len(members) >= 2 and all(
        len(m[1]) > position + 1 and year(m[1][position]) and month(m[1][position + 1]) for m in members)


def _parameter(values: list[str], position: int, depth: int, tokens: list[str]) -> str | None:
    """The parameter for a position with these values, or None to keep them literal."""
    if len(values) < 2:
        return None
    used = {t[1:].split("(")[0].split(".")[0] for t in tokens if t.startswith(":")}
    previous = tokens[-1] if tokens else ""
    if all(v.isdigit() for v in values):
        lengths = {len(v) for v in values}
        if lengths == {4} and all(1900 <= int(v) <= 2100 for v in values):
            name, regex = "year", r"\d{4}"
        elif lengths == {2} and previous.startswith(":year") and all(1 <= int(v) <= 12 for v in values):
            name, regex = "month", r"\d{2}"
        elif lengths == {2} and previous.startswith(":month") and all(1 <= int(v) <= 31 for v in values):
            name, regex = "day", r"\d{2}"
        else:
            name, regex = ("n" if previous.lower() == "page" else "id"), r"\d+"
        return f":{_unique(name, used)}({regex})"
    last = position == depth - 1
    if position == 0 and not (depth == 1 and len(values) >= TOP_VARIANTS):
        return None
    if len(values) < (LAST_VARIANTS if last else MIDDLE_VARIANTS):
        return None
    if any(not re.fullmatch(r"[\w.~@!$&'-]+", v) for v in values):  # odd characters: keep them literal
        return None
    if previous.lower() in _NAMED:
        name = _NAMED[previous.lower()]
    elif not last:
        name = "section"
    elif previous.startswith(":section") or previous.startswith(":name"):
        name = "page"
    else:
        name = "slug"
    extensions = {m.group(1) for v in values if (m := _EXTENSION.match(v))}
    suffix = extensions.pop() if len(extensions) == 1 and all(_EXTENSION.match(v) for v in values) else ""
    return f":{_unique(name, used)}" + escape_literal(suffix)


def _unique(name: str, used: set[str]) -> str:
    candidate, n = name, 2
    while candidate in used:
        candidate, n = f"{name}{n}", n + 1
    return candidate


def _render(tokens: list[str], urls: Sequence[Member]) -> str:
    if not tokens:
        return "/"
    # path-to-regexp matches an optional trailing "/" anyway; a written one would be required.
    slash = "/" if all(trailing for _, _, trailing in urls) else ""
    return "/" + "/".join(tokens) + slash
