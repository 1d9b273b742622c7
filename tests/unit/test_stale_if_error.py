"""Stale-if-error (RFC 5861) and the rest of issue 9's cache policy, pure parts: the window a
response gets, when a stored entry is inside it, the store keeping such entries, eviction that
takes entries past every window first, and a 304 that selects no stored response (RFC 9111 4.3.4)."""

from __future__ import annotations

import pytest

from prefetch_lab.http.cachepolicy import RuleCaching, not_modified_selects, storage_decision
from prefetch_lab.http.cachestore import ENTRY_OVERHEAD, CacheEntry, CacheStore
from prefetch_lab.rules.model import RequestInfo, RulesError
from prefetch_lab.rules.rule_file import load_rules_text
from prefetch_lab.http.stale_window import is_origin_error, within_window

NOW = 1_700_000_000.0
KEY = "GET https://example.com:443/doc"
LM = "Wed, 01 Jan 2020 00:00:00 GMT"


def decide(cache_control: str, rule=RuleCaching(), rules_active=False):
    return storage_decision("GET", 200, [], [("cache-control", cache_control)], rule, 10, 1 << 20, NOW, rules_active)


def entry(key=KEY, *, ttl=60, swr=0, sie=0, headers=(), stored_at=NOW, body=b"body"):
    return CacheEntry(key=key, status=200, headers=tuple(headers), body=body, stored_at=stored_at,
                      initial_age=0, ttl=ttl, swr=swr, sie=sie)


# ------------------------------------------------------------------------------ the window


def test_the_origin_directive_gives_the_window_in_both_modes():
    assert decide("max-age=60, stale-if-error=300").sie == 300
    assert decide("max-age=60, stale-if-error=300", RuleCaching(max_age=10), rules_active=True).sie == 300
    assert decide("max-age=60").sie == 0
    assert "sie=300 (origin)" in decide("max-age=60, stale-if-error=300").reason


def test_a_rule_overrides_the_origin_and_revalidate_directives_forbid_it():
    assert decide("max-age=60, stale-if-error=300", RuleCaching(max_age=10, stale_if_error=5), True).sie == 5
    assert decide("max-age=60", RuleCaching(max_age=10, stale_if_error=86400), True).sie == 86400
    for directive in ("must-revalidate", "proxy-revalidate"):
        assert decide(f"max-age=60, {directive}, stale-if-error=300").sie == 0
        assert decide(f"max-age=60, {directive}", RuleCaching(max_age=10, stale_if_error=5), True).sie == 0


def test_the_window_follows_the_edge_directives():
    headers = [("cache-control", "max-age=60, stale-if-error=300"), ("cdn-cache-control", "max-age=10")]
    assert storage_decision("GET", 200, [], headers, RuleCaching(), 10, 1 << 20, NOW, False).sie == 0


def test_inside_the_window_means_stale_and_no_staler_than_the_window():
    assert not within_window(age=59, ttl=60, sie=30)  # fresh: no error needed
    assert within_window(age=60, ttl=60, sie=30) and within_window(age=89, ttl=60, sie=30)
    assert not within_window(age=90, ttl=60, sie=30)
    assert not within_window(age=60, ttl=60, sie=0)


@pytest.mark.parametrize("status, error", [(500, True), (502, True), (503, True), (504, True),
                                           (501, False), (404, False), (200, False), (505, False)])
def test_origin_errors_are_500_502_503_504(status, error):
    assert is_origin_error(status) is error


def test_the_store_keeps_an_expired_entry_inside_its_window_until_the_window_ends():
    store = CacheStore(1 << 20)
    store.put(entry(ttl=1, sie=10))  # no validator
    kept = store.get(KEY, [], NOW + 5, allow_expired=True)
    assert kept is not None and kept.within_stale_if_error(NOW + 5)
    assert store.get(KEY, [], NOW + 5) is None  # never served as is
    assert store.get(KEY, [], NOW + 11, allow_expired=True) is None
    assert len(store) == 0  # past the window, without a validator: dropped


def test_the_rules_parse_stale_if_error_as_a_duration():
    rules = load_rules_text("rules:\n  - match: {path: /a}\n    caching: {max_age: 1m, stale_if_error: 1d}\n", "site.yaml")
    assert rules.match(RequestInfo("GET", "https", "x.test", "/a")).stale_if_error == 86400
    with pytest.raises(RulesError, match=r"site.yaml:3: caching.stale_if_error: expected a duration"):
        load_rules_text("rules:\n  - caching:\n      stale_if_error: soon\n", "site.yaml")
    with pytest.raises(RulesError, match=r"caching.stale_if_error: expected a duration like"):
        load_rules_text("rules:\n  - caching:\n      stale_if_error: [1h]\n", "site.yaml")


# ------------------------------------------------------------------------------ eviction


def url(path: str) -> str:
    return f"GET https://example.com:443/{path}"


def fresh(path: str, stored_at: float) -> CacheEntry:
    return entry(url(path.rjust(3, "0")), body=b"x" * 1000, headers=[("etag", '"f"')], stored_at=stored_at)


def filled_store(first: CacheEntry) -> CacheStore:
    """`first`, then 7 fresh entries stored later, in a budget that holds exactly these 8
    (an object may take 1/8 of the budget); then `first` is used again, so plain LRU would
    evict the fresh entry stored right after it."""
    store = CacheStore(8 * first.size + 10)
    assert store.put(first)
    for i in range(7):
        assert store.put(fresh(str(i), NOW + 100 + i))
    assert store.get(first.key, [], NOW + 110, allow_expired=True) is first
    return store


def test_eviction_takes_entries_past_every_window_before_fresh_ones():
    # Expired long ago, kept only to be revalidated (it has a validator).
    store = filled_store(entry(url("old"), ttl=1, body=b"x" * 1000, headers=[("etag", '"o"')]))
    store.put(fresh("new", NOW + 120))
    assert store.find(url("old"), []) is None
    assert all(store.find(url(p.rjust(3, "0")), []) for p in [*map(str, range(7)), "new"])
    assert store.stats()["evictions"] == 1


def test_an_entry_inside_its_stale_if_error_window_is_evicted_as_any_servable_one():
    store = filled_store(entry(url("sie"), ttl=1, sie=3600, body=b"x" * 1000, headers=[("etag", '"s"')]))
    store.put(fresh("new", NOW + 120))
    assert store.find(url("sie"), []) is not None  # recently used, still useful: LRU order
    assert store.find(url("000"), []) is None


def test_replaced_entries_do_not_pile_up_in_the_eviction_heap():
    store = CacheStore(1 << 20)
    for i in range(1000):
        store.put(entry(stored_at=NOW + i))
    assert len(store) == 1 and len(store._unusable) <= 2 * len(store) + 65
    assert store.stats()["bytes"] == entry().size and entry().size > ENTRY_OVERHEAD


# ------------------------------------------------------------------------------ 304 selection


@pytest.mark.parametrize("stored, not_modified, selects", [
    ([("etag", '"a"')], [("etag", '"a"')], True),
    ([("etag", '"a"')], [("etag", '"b"')], False),  # another strong ETag: not this response
    ([("etag", '"a"')], [("etag", '"b", "a"')], True),
    ([("etag", 'W/"a"')], [("etag", '"a"')], False),  # strong comparison: a weak one never matches
    ([("etag", '"a"')], [("etag", 'W/"a"')], True),  # weak: weak comparison
    ([("etag", '"a"')], [("etag", 'W/"b"')], False),
    ([("last-modified", LM)], [("last-modified", LM)], True),
    ([("last-modified", LM)], [("last-modified", "Thu, 02 Jan 2020 00:00:00 GMT")], False),
    ([("etag", '"a"'), ("last-modified", LM)], [("cache-control", "max-age=60")], True),  # no validator
])
def test_a_304_selects_the_stored_response_its_validators_match(stored, not_modified, selects):
    assert not_modified_selects(stored, not_modified) is selects
