"""Micro-benchmarks of the addon's pure modules (no proxy): HTML injection and rule matching.

Timings are the best of several repeats (timeit's convention: the minimum is the run least
disturbed by other work on the machine).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prefetch_lab.html import inject
from prefetch_lab.client.edge_files import INSTALL_JS
from prefetch_lab.rules.model import RequestInfo, RuleSet
from prefetch_lab.rules.rule_file import load_rules_text

from bench_origin import PAGE_SIZES, make_page

MB = 1024 * 1024


def best_seconds(work: Callable[[], object], calls: int, repeats: int) -> float:
    """Best wall time of `calls` calls of `work`, over `repeats` repeats, per call."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            work()
        best = min(best, time.perf_counter() - started)
    return best / calls


def injection_throughput(quick: bool) -> dict[str, dict[str, float]]:
    """MB/s of inject.inject_script on realistic pages, for both tag placements."""
    tag = inject.build_script_tag(INSTALL_JS, include_cache_misses=False, force_prefetch_ratio=None, nonce=None)
    result: dict[str, dict[str, float]] = {"body": {}, "head": {}}
    for name, size in PAGE_SIZES.items():
        page = make_page(size)
        calls = max(1, int((2 if quick else 8) * MB / size))
        for placement in result:
            check = inject.inject_script(page, tag, placement)
            assert check.body is not None, f"injection skipped on the bench page: {check.reason}"
            seconds = best_seconds(lambda: inject.inject_script(page, tag, placement), calls, 3 if quick else 5)
            result[placement][name] = size / seconds / MB
    return result


# ------------------------------------------------------------------ rule matching

CATCH_ALL = """  - comment: every GET, as rules/default.yaml's first rule
    match: {method: [GET, HEAD]}
    caching: {max_age: 5m, service_worker_max_age: 2m}
"""


def _indexed_rule(i: int) -> str:
    """Rules as sites write them: literal first path segments or other hosts, which the matcher's
    index skips without evaluating."""
    shapes = (
        f"    match: {{path: /shop{i}/:id}}",
        f"    match: {{path_regex: '^/api{i}/.*\\.json$'}}",
        f"    match: {{host: site{i}.example.com, path: /p/:id}}",
        f"    match: {{path: [/blog{i}/:slug, /news{i}/:slug*]}}",
    )
    return f"{shapes[i % len(shapes)]}\n    caching: {{max_age: {i + 1}s}}\n"


def _unindexed_rule(i: int) -> str:
    """Worst case: conditions the index cannot use, so every rule is evaluated per request."""
    shapes = (
        f"    match: {{path_regex: '(?i)\\.(ext{i}a|ext{i}b)$'}}",
        f"    match: {{query: {{param{i}: true}}}}",
    )
    return f"{shapes[i % len(shapes)]}\n    caching: {{max_age: {i + 1}s}}\n"


def rule_set(count: int, shape: Callable[[int], str]) -> RuleSet:
    rules = [CATCH_ALL] + [f"  - comment: rule {i}\n{shape(i)}" for i in range(1, count)]
    ruleset = load_rules_text("rules:\n" + "".join(rules), "bench.yaml")
    assert len(ruleset.rules) == count
    return ruleset


REQUESTS = (
    RequestInfo("GET", "https", "www.example.com", "/products/123", "color=red"),
    RequestInfo("GET", "https", "www.example.com", "/shop4/99", ""),
    RequestInfo("GET", "https", "www.example.com", "/api1/items.json", "page=2"),
    RequestInfo("GET", "https", "www.example.com", "/", ""),
)


def rule_matching(quick: bool, counts: tuple[int, ...] = (1, 100, 1000)) -> dict[str, dict[str, float]]:
    """Microseconds per RuleSet.match, per rule-set shape and size."""
    shapes = {"indexed": _indexed_rule, "unindexed": _unindexed_rule}
    result: dict[str, dict[str, float]] = {}
    for shape_name, shape in shapes.items():
        result[shape_name] = {}
        for count in counts:
            ruleset = rule_set(count, shape)

            def match_all() -> None:
                for request in REQUESTS:
                    ruleset.match(request)

            calls = max(20, (2_000 if quick else 20_000) // max(1, count // 10) // len(REQUESTS))
            seconds = best_seconds(match_all, calls, 3 if quick else 5)
            result[shape_name][str(count)] = seconds / len(REQUESTS) * 1e6
    return result
