import pytest

from prefetch_lab.http.cachestore import (
    ENTRY_OVERHEAD,
    HEADER_OVERHEAD,
    REVALIDATION_TIMEOUT,
    VARY_STAR,
    CacheEntry,
    CacheStore,
    cache_key,
    strip_edgio_params,
    vary_for,
)

NOW = 1_000_000.0
KEY = "GET https://example.com:443/pages/1"


def entry(key=KEY, body=b"hello", *, headers=(), vary=(), ttl=60, swr=0, stored_at=NOW, initial_age=0):
    return CacheEntry(
        key=key, status=200, headers=tuple(headers), body=body, stored_at=stored_at,
        initial_age=initial_age, ttl=ttl, swr=swr, vary=vary, rules=("default.yaml#1",),
    )


# ----------------------------------------------------------------------------- strip_edgio_params


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", ""),
        ("a=1&b=2", "a=1&b=2"),
        ("edgio_prefetch=1", ""),
        ("a=1&edgio_prefetch=1", "a=1"),
        ("edgio_dt_pf=1&a=1&edgio_prefetch=1", "a=1"),
        ("a=1&edgio_prefetch_ttl=300&b=2", "a=1&b=2"),
        ("edgio_anything_new=x&z", "z"),
        ("edgio%5Fprefetch=1&a=1", "a=1"),  # percent-encoded name
        ("%65dgio_dt_pf=1&a=1", "a=1"),
        ("edgio_prefetch&a=1", "a=1"),  # no "="
        ("a=&b&edgio_prefetch=1&c=%20x", "a=&b&c=%20x"),  # blank values, bare names, raw encoding kept
        ("z=1&y=2&edgio_dt_pf=1&x=3", "z=1&y=2&x=3"),  # order kept
        ("myedgio_prefetch=1&x_edgio_prefetch=2&edgio=3&edgioprefetch=4", "myedgio_prefetch=1&x_edgio_prefetch=2&edgio=3&edgioprefetch=4"),
        ("q=edgio_prefetch&edgio_prefetch=1", "q=edgio_prefetch"),  # only names count
        ("EDGIO_prefetch=1", "EDGIO_prefetch=1"),  # case-sensitive like Edgio's startsWith
        ("a=1&edgio_prefetch=1&", "a=1"),  # no trailing &
        ("a=1&&b=2", "a=1&&b=2"),  # untouched query stays byte-identical
        ("a=1&&edgio=2&", "a=1&&edgio=2&"),
        ("pref_edgio_body=x&layer0_prefetch=1", "pref_edgio_body=x&layer0_prefetch=1"),
    ],
)
def test_strip_edgio_params(query, expected):
    assert strip_edgio_params(query) == expected


# ------------------------------------------------------------------------------------- cache_key


def test_cache_key_is_readable_and_normalised():
    assert cache_key("GET", "HTTPS", "Example.COM", None, "/pages/1", "a=1") == "GET https://example.com:443/pages/1?a=1"
    assert cache_key("get", "http", "example.com", None, "/", "") == "GET http://example.com:80/"
    assert cache_key("GET", "http", "example.com", 8080, "", "") == "GET http://example.com:8080/"


def test_cache_key_head_is_get_and_post_is_its_own():
    get = cache_key("GET", "https", "example.com", 443, "/a", "")
    assert cache_key("HEAD", "https", "example.com", 443, "/a", "") == get
    assert cache_key("POST", "https", "example.com", 443, "/a", "") != get


def test_cache_key_ignores_edgio_params_but_not_path_case():
    plain = cache_key("GET", "https", "example.com", 443, "/Pages/1", "a=1")
    assert cache_key("GET", "https", "example.com", 443, "/Pages/1", "edgio_dt_pf=1&a=1&edgio_prefetch=1") == plain
    assert cache_key("GET", "https", "example.com", 443, "/pages/1", "a=1") != plain
    assert cache_key("GET", "https", "example.com", 443, "/Pages/1", "edgio_prefetch=1") == cache_key(
        "GET", "https", "example.com", 443, "/Pages/1", ""
    )


def test_cache_key_brackets_ipv6():
    assert cache_key("GET", "http", "::1", 8000, "/", "") == "GET http://[::1]:8000/"


# ---------------------------------------------------------------------------------------- entries


def test_entry_size_counts_body_headers_and_overhead():
    e = entry(body=b"x" * 1000, headers=[("Content-Type", "text/html")])
    assert e.size == 1000 + len("Content-Type") + len("text/html") + HEADER_OVERHEAD + len(KEY) + ENTRY_OVERHEAD


def test_entry_age_and_state():
    e = entry(ttl=60, swr=30, initial_age=10)
    assert (e.age(NOW), e.state(NOW)) == (10, "fresh")
    assert (e.age(NOW + 50), e.state(NOW + 50)) == (60, "stale-revalidate")
    assert e.state(NOW + 80) == "expired"


# ------------------------------------------------------------------------------------------ Vary


def test_vary_for_records_request_values_case_insensitively_and_normalised():
    response = [("Vary", "accept-encoding"), ("vary", "Accept-Language, X-Missing")]
    request = [("ACCEPT-ENCODING", "  gzip,   br "), ("Accept-Language", "en"), ("accept-language", "fr")]
    assert vary_for(response, request) == (
        ("accept-encoding", "gzip, br"),
        ("accept-language", "en, fr"),
        ("x-missing", None),
    )
    assert vary_for([("Vary", "Cookie, *")], request) == VARY_STAR
    assert vary_for([], request) == ()


def test_get_selects_the_variant_matching_the_request():
    store = CacheStore(1 << 20)
    response = [("Vary", "Accept-Encoding")]
    br_request = [("Accept-Encoding", "gzip, br")]
    plain_request = [("Accept-Encoding", "identity")]
    assert store.put(entry(body=b"br-body", vary=vary_for(response, br_request)))
    assert store.put(entry(body=b"plain-body", vary=vary_for(response, plain_request)))
    assert len(store) == 2
    assert store.get(KEY, [("accept-encoding", "gzip,br")], NOW).body == b"br-body"
    assert store.get(KEY, [("Accept-Encoding", "identity")], NOW).body == b"plain-body"
    assert store.get(KEY, [], NOW) is None  # absent header is not an empty one
    assert store.get(KEY, [("Accept-Encoding", "gzip")], NOW) is None


def test_vary_on_several_names_needs_all_to_match():
    store = CacheStore(1 << 20)
    response = [("Vary", "Accept-Encoding, Accept-Language")]
    request = [("Accept-Encoding", "br"), ("Accept-Language", "en")]
    store.put(entry(vary=vary_for(response, request)))
    assert store.get(KEY, [("accept-language", "en"), ("accept-encoding", "br")], NOW) is not None
    assert store.get(KEY, [("Accept-Encoding", "br"), ("Accept-Language", "de")], NOW) is None
    assert store.get(KEY, [("Accept-Encoding", "br")], NOW) is None


def test_entry_without_vary_serves_every_request():
    store = CacheStore(1 << 20)
    store.put(entry())
    assert store.get(KEY, [("Accept-Encoding", "br"), ("Cookie", "x")], NOW) is not None


def test_same_variant_is_replaced_and_bytes_stay_exact():
    store = CacheStore(1 << 20)
    first, second = entry(body=b"a" * 100), entry(body=b"b" * 300)
    store.put(first)
    store.put(second)
    assert len(store) == 1
    assert store.stats()["bytes"] == second.size
    assert store.get(KEY, [], NOW).body == b"b" * 300


def test_changed_vary_policy_drops_old_variants():
    store = CacheStore(1 << 20)
    store.put(entry(body=b"old", vary=vary_for([("Vary", "Accept-Encoding")], [("Accept-Encoding", "br")])))
    new = entry(body=b"new")
    store.put(new)
    assert len(store) == 1 and store.stats()["bytes"] == new.size
    assert store.get(KEY, [("Accept-Encoding", "br")], NOW).body == b"new"


def test_vary_star_is_refused():
    store = CacheStore(1 << 20)
    assert store.put(entry(vary=VARY_STAR)) is False
    assert len(store) == 0 and store.stats()["refused"] == 1


# ------------------------------------------------------------------------------ LRU and budget


def test_object_larger_than_an_eighth_of_the_budget_is_refused():
    store = CacheStore(80_000)
    assert store.max_object_size == 10_000
    fits = entry(body=b"x" * (10_000 - entry(body=b"").size))
    assert fits.size == store.max_object_size and store.put(fits)
    too_big = entry(key="GET https://example.com:443/big", body=b"x" * 10_000)
    assert store.put(too_big) is False
    assert len(store) == 1 and store.stats()["refused"] == 1


def test_lru_evicts_least_recently_used_first_and_counts_bytes():
    one_size = entry(key="k0").size
    store = CacheStore(one_size * 8 + 10)  # room for eight entries
    for i in range(8):
        assert store.put(entry(key=f"k{i}"))
    assert store.stats()["bytes"] == 8 * one_size
    assert store.get("k0", [], NOW) is not None  # k0 becomes most recently used
    store.put(entry(key="k8"))
    assert store.get("k1", [], NOW) is None  # k1 was the oldest untouched
    assert store.get("k0", [], NOW) is not None
    store.put(entry(key="k9"))
    assert store.get("k2", [], NOW) is None
    stats = store.stats()
    assert (stats["entries"], stats["evictions"], stats["bytes"]) == (8, 2, 8 * one_size)
    assert stats["bytes"] <= stats["budget"]


def test_memory_stays_within_budget_under_many_distinct_urls():
    store = CacheStore(200_000)
    for i in range(2_000):
        store.put(entry(key=f"GET https://example.com:443/p/{i}", body=b"x" * 500))
        assert store.stats()["bytes"] <= 200_000
    stats = store.stats()
    assert stats["stores"] == 2_000
    assert stats["entries"] + stats["evictions"] == 2_000
    assert store.get("GET https://example.com:443/p/1999", [], NOW) is not None


def test_resize_evicts_down_to_the_new_budget():
    store = CacheStore(1 << 20)
    for i in range(10):
        store.put(entry(key=f"k{i}"))
    store.resize(entry().size * 3)
    assert len(store) == 3
    assert store.get("k9", [], NOW) is not None and store.get("k6", [], NOW) is None


def test_delete_and_clear():
    store = CacheStore(1 << 20)
    request = [("Accept-Encoding", "br")]
    store.put(entry(vary=vary_for([("Vary", "Accept-Encoding")], request)))
    store.put(entry(vary=vary_for([("Vary", "Accept-Encoding")], [])))
    store.put(entry(key="other"))
    assert store.delete(KEY) == 2
    assert store.delete(KEY) == 0
    assert len(store) == 1
    store.get("other", [], NOW)
    store.clear()
    stats = store.stats()
    assert (len(store), stats["bytes"], stats["hits"]) == (0, 0, 1)  # counters are history


def test_stats_count_hits_misses_stale_and_expired():
    store = CacheStore(1 << 20)
    store.put(entry(ttl=60, swr=30))
    assert store.get(KEY, [], NOW + 10) is not None
    assert store.get(KEY, [], NOW + 70).state(NOW + 70) == "stale-revalidate"
    assert store.get("missing", [], NOW) is None
    assert store.get(KEY, [], NOW + 90) is None  # expired: dropped
    assert len(store) == 0
    assert store.stats() == {
        "entries": 0, "bytes": 0, "budget": 1 << 20, "hits": 1, "misses": 2,
        "stale_served": 1, "expired": 1, "stores": 1, "refused": 0, "evictions": 0,
    }


def test_budget_must_be_positive():
    with pytest.raises(ValueError):
        CacheStore(0)


# ------------------------------------------------------------------------------- revalidation guard


def test_revalidation_guard():
    store = CacheStore(1 << 20)
    assert store.begin_revalidation(KEY, NOW)
    assert not store.begin_revalidation(KEY, NOW + 1)
    assert store.begin_revalidation("other", NOW + 1)
    store.end_revalidation(KEY)
    assert store.begin_revalidation(KEY, NOW + 2)
    # A revalidation that never ended stops blocking after the timeout.
    assert not store.begin_revalidation(KEY, NOW + 2 + REVALIDATION_TIMEOUT - 1)
    assert store.begin_revalidation(KEY, NOW + 2 + REVALIDATION_TIMEOUT)
    store.end_revalidation("never-started")  # harmless
