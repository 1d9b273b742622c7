"""The learned Speculation-Rules document for one page (Speed Brain's per-link eagerness).

From the traversal graph's predictions for the page (`[(page key, probability)]`) it builds:

- `prerender`, `eagerness: "immediate"`: predictions with p >= `immediate` (default 0.8). The
  page is rendered as soon as the rules are read; worth it only when the visitor almost surely
  goes there.
- `prerender`, `eagerness: "moderate"`: p >= `prerender` (default 0.5). Rendered on hover or
  pointerdown, so a wrong guess costs little.
- `prefetch`, `eagerness: "moderate"`: p >= `prefetch` (default 0.2). Only the document.
- the fixed document rule (`speculation_rules.build_rules_document`, `conservative` by default) for
  every other prefetchable link: the fallback, exactly as without learning.

Probabilities for one page sum to at most 1, so at most one URL can reach 0.5 and at most four
0.2: the bands stay small by themselves. The caps (`max_prerender_urls`, default 10, Chromium's
limit for immediate prerenders; `max_prefetch_urls`, default 50, its limit for immediate
prefetches) only matter when the thresholds are set low; a prerender candidate beyond its cap is
demoted to the prefetch list, and beyond that to the fallback. Moderate speculations start on hover and
Chromium keeps two at a time, so listing more of them costs nothing until the visitor points.

Distinct visitors (issue 22): with `visitors` ({page key: distinct visitors who took the link}),
a prediction reaches a prerender band only when at least `min_visitors_prerender` visitors took
it, else it is demoted to the prefetch band; and the prefetch band needs
`min_visitors_prefetch`, else the fallback. A minimum of 1 is no bound (a link exists only
because someone took it; a file from before issue 22 records no visitors). Without `visitors`
(None) there is no bound.

A URL is listed only when all of these hold (`Decision.reason` says which one failed):
- it is same-origin with the page: a page key ('/x'), or an absolute URL with the page's scheme,
  host and port (a path beginning with '//' is another host to a browser, so it is not);
- it is not the page itself and not one of the edge's own files (`/__edgio__/...`);
- the rules make it prefetchable (`RuleSet.match(...).prefetchable`): exclusions always win;
- `held(url)` is true: the edge holds it or will allow it (the caller decides, e.g. from the
  cache). A prerender or prefetch of anything else would only be refused.

The document's URL names the page, never the visitor: `rules_url(page)` =
`/__edgio__/speculation-rules.json?page=<page key, percent-encoded>`, where the page key is the
cache key's path + query (`traversal.page_key`); `page_from_rules_url` reads it back and refuses
anything that is not a page key.

Pure module: no mitmproxy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from prefetch_lab.client.edge_files import is_edge_path
from prefetch_lab.rules.model import RequestInfo, RuleSet
from prefetch_lab.rules.speculation_rules import RULES_PATH, build_rules_document
from prefetch_lab.learn.traversal import page_key, site_of

PAGE_PARAM = "page"


@dataclass(frozen=True)
class Thresholds:
    immediate: float = 0.8  # prerender at once
    prerender: float = 0.5  # prerender on hover
    prefetch: float = 0.2  # prefetch on hover
    max_prerender_urls: int = 10
    max_prefetch_urls: int = 50
    fallback_eagerness: str = "conservative"
    min_visitors_prerender: int = 1  # distinct visitors a link needs for a prerender band...
    min_visitors_prefetch: int = 1  # ...and for the prefetch band (1: no bound)

    def __post_init__(self) -> None:
        if not 0 <= self.prefetch <= self.prerender <= self.immediate <= 1:
            raise ValueError("thresholds must satisfy 0 <= prefetch <= prerender <= immediate <= 1, got "
                             f"{self.prefetch}, {self.prerender}, {self.immediate}")
        if self.max_prerender_urls < 0 or self.max_prefetch_urls < 0:
            raise ValueError("URL caps must not be negative")
        if min(self.min_visitors_prerender, self.min_visitors_prefetch) < 1:
            raise ValueError("a minimum number of visitors must be at least 1")


@dataclass(frozen=True)
class Decision:
    """What became of one prediction, for the audit trail and for explaining the document."""

    url: str  # page key
    probability: float
    action: str  # "prerender-immediate", "prerender-moderate", "prefetch-moderate", "fallback", "excluded"
    reason: str


@dataclass(frozen=True)
class LearnedRules:
    document: dict[str, Any]
    decisions: tuple[Decision, ...]


def build_learned_document(
    page_url: str,
    predictions: Iterable[tuple[str, float]],
    ruleset: RuleSet,
    held: Callable[[str], bool],
    thresholds: Thresholds = Thresholds(),
    visitors: Mapping[str, int] | None = None,
) -> LearnedRules:
    """The rules document for `page_url` (absolute: scheme, host and port are the page's)."""
    page = urlsplit(page_url)
    scheme, host = page.scheme.lower(), (page.hostname or "").lower()
    origin = f"{scheme}://{page.netloc.lower()}"
    here = page_key(page_url)
    bands: dict[str, list[str]] = {"prerender-immediate": [], "prerender-moderate": [], "prefetch-moderate": []}
    decisions: list[Decision] = []
    seen: set[str] = set()
    for url, probability in sorted(predictions, key=lambda p: -p[1]):
        key = page_key(url)

        def decide(action: str, reason: str) -> None:
            decisions.append(Decision(key or url, probability, action, reason))

        if key is None or not _same_origin(url, page_url):
            decide("excluded", "not same-origin")
        elif key == here:
            decide("excluded", "the page itself")
        elif key in seen:
            decide("excluded", "listed already")
        elif is_edge_path(urlsplit(key).path):
            decide("excluded", "an edge file")
        elif not _prefetchable(ruleset, scheme, host, key):
            decide("excluded", "the rules do not make it prefetchable")
        elif not held(origin + key):
            decide("excluded", "the edge does not hold it")
        else:
            seen.add(key)
            action = _band(probability, thresholds)
            if action is None:
                decide("fallback", f"p {probability:.3f} below the prefetch threshold {thresholds.prefetch:g}")
                continue
            full = ""
            if visitors is not None:
                action, full = _visitor_bound(action, visitors.get(key, 0), thresholds)
                if action is None:
                    decide("fallback", full.rstrip("; "))
                    continue
            if action.startswith("prerender") and _count(bands, "prerender") >= thresholds.max_prerender_urls:
                full = f"prerender list full ({thresholds.max_prerender_urls} URLs); "
                action = "prefetch-moderate"  # the next band down
            if action == "prefetch-moderate" and _count(bands, "prefetch") >= thresholds.max_prefetch_urls:
                decide("fallback", full + f"prefetch list full ({thresholds.max_prefetch_urls} URLs)")
                continue
            bands[action].append(key)
            decide(action, full + f"p {probability:.3f} >= {_threshold_of(action, thresholds):g}")

    document = build_rules_document(ruleset, host, thresholds.fallback_eagerness, scheme)
    prerender = [_list_rule(urls, eagerness) for urls, eagerness in (
        (bands["prerender-immediate"], "immediate"), (bands["prerender-moderate"], "moderate")) if urls]
    prefetch = [_list_rule(bands["prefetch-moderate"], "moderate")] if bands["prefetch-moderate"] else []
    if prerender:
        document["prerender"] = prerender
    # The list rule first: readers (and DevTools) see the learned part before the fallback.
    document["prefetch"] = prefetch + document.get("prefetch", [])
    return LearnedRules(document, tuple(decisions))


def _visitor_bound(action: str, seen: int, thresholds: Thresholds) -> tuple[str | None, str]:
    """The band a prediction keeps when `seen` distinct visitors took it, and why it lost any."""
    why = ""
    if action.startswith("prerender") and thresholds.min_visitors_prerender > 1 and seen < thresholds.min_visitors_prerender:
        why = f"{seen} distinct visitors < {thresholds.min_visitors_prerender} for a prerender; "
        action = "prefetch-moderate"
    if action == "prefetch-moderate" and thresholds.min_visitors_prefetch > 1 and seen < thresholds.min_visitors_prefetch:
        return None, why + f"{seen} distinct visitors < {thresholds.min_visitors_prefetch} for a prefetch; "
    return action, why


def _count(bands: dict[str, list[str]], kind: str) -> int:
    return sum(len(urls) for band, urls in bands.items() if band.startswith(kind))


def _same_origin(url: str, page_url: str) -> bool:
    """A page key ('/x') is; an absolute or scheme-relative URL must match scheme, host, port."""
    parts = urlsplit(url)
    if not parts.netloc:
        return not parts.scheme
    page = urlsplit(page_url)
    return (parts.scheme or page.scheme).lower() == page.scheme.lower() and site_of(url) == site_of(page_url)


def _list_rule(urls: list[str], eagerness: str) -> dict[str, Any]:
    # Origin-relative paths: they resolve alike against the page and the same-origin rules URL.
    return {"source": "list", "urls": list(urls), "eagerness": eagerness}


def _band(probability: float, thresholds: Thresholds) -> str | None:
    if probability >= thresholds.immediate:
        return "prerender-immediate"
    if probability >= thresholds.prerender:
        return "prerender-moderate"
    if probability >= thresholds.prefetch:
        return "prefetch-moderate"
    return None


def _threshold_of(action: str, thresholds: Thresholds) -> float:
    return {"prerender-immediate": thresholds.immediate, "prerender-moderate": thresholds.prerender,
            "prefetch-moderate": thresholds.prefetch}[action]


def _prefetchable(ruleset: RuleSet, scheme: str, host: str, key: str) -> bool:
    path, _, query = key.partition("?")  # the key has no edgio_* parameters already
    return ruleset.match(RequestInfo("GET", scheme, host, path, query)).prefetchable


# ---------------------------------------------------------------- the document's URL


def rules_url(page: str) -> str:
    """'/__edgio__/speculation-rules.json?page=%2Fdocs%2Fa%3Fx%3D1' for the page '/docs/a?x=1'
    (or its absolute URL; edgio_* parameters and the fragment are dropped as the cache key does)."""
    key = page_key(page)
    if key is None:
        raise ValueError(f"not a page URL: {page!r}")
    return f"{RULES_PATH}?{PAGE_PARAM}={quote(key, safe='')}"


def page_from_rules_url(path_and_query: str) -> str | None:
    """The page key a rules URL names, or None (no, several or malformed `page` values). Only a
    value that is already a page key is accepted, so the URL can carry nothing else."""
    parts = urlsplit(path_and_query)
    if parts.path != RULES_PATH:
        return None
    values = [value for name, value in parse_qsl(parts.query, keep_blank_values=True) if name == PAGE_PARAM]
    if len(values) != 1 or page_key(values[0]) != values[0]:
        return None
    return values[0]
