"""Revalidation's pure parts (RFC 9111 4.3, 3.2): validators of a stored response, headers
freshened by a 304, and a store that keeps expired entries that can be revalidated."""

from __future__ import annotations

from prefetch_lab.http.cachepolicy import freshened_headers, stored_validators
from prefetch_lab.http.cachestore import CacheEntry, CacheStore

NOW = 1_000_000.0
KEY = "GET https://example.com:443/doc"
LM = "Wed, 01 Jan 2020 00:00:00 GMT"


def entry(headers=(), ttl=60, swr=0):
    return CacheEntry(key=KEY, status=200, headers=tuple(headers), body=b"body", stored_at=NOW,
                      initial_age=0, ttl=ttl, swr=swr)


def test_validators_are_the_etag_and_last_modified():
    assert stored_validators([("ETag", '"a"'), ("Last-Modified", LM)]) == [
        ("if-none-match", '"a"'), ("if-modified-since", LM)]
    assert stored_validators([("etag", 'W/"a"'), ("etag", '"b"')]) == [("if-none-match", 'W/"a", "b"')]
    assert stored_validators([("last-modified", "yesterday")]) == []  # not a date: no validator
    assert stored_validators([("content-type", "text/plain")]) == []


def test_a_304_replaces_the_fields_it_carries_and_keeps_the_others():
    stored = [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2"), ("Cache-Control", "max-age=1"),
              ("Age", "30"), ("ETag", '"a"'), ("Content-Encoding", "gzip"), ("content-length", "4")]
    not_modified = [("x-a", "3"), ("Cache-Control", "max-age=60"), ("ETag", '"b"'), ("Content-Encoding", "br"),
                    ("Content-Length", "0"), ("Connection", "x-hop"), ("X-Hop", "h"), ("Content-Range", "bytes 0-1/2"),
                    ("Content-MD5", "x")]
    assert freshened_headers(stored, not_modified) == (
        ("Content-Type", "text/plain"), ("ETag", '"a"'), ("Content-Encoding", "gzip"), ("content-length", "4"),
        ("x-a", "3"), ("Cache-Control", "max-age=60"),
    )
    # The stored Age goes; the 304's own replaces it.
    assert ("age", "5") in freshened_headers(stored, [("age", "5")])


def test_an_expired_entry_with_a_validator_is_kept_for_revalidation():
    store = CacheStore(1 << 20)
    kept = entry([("etag", '"a"')])
    store.put(kept)
    assert store.get(KEY, [], NOW + 90) is None  # not servable as is...
    assert len(store) == 1  # ...but kept
    assert store.get(KEY, [], NOW + 90, allow_expired=True) is kept
    assert store.find(KEY, []) is kept
    stats = store.stats()
    assert (stats["hits"], stats["misses"], stats["expired"]) == (0, 2, 2)


def test_an_expired_entry_without_a_validator_is_dropped():
    store = CacheStore(1 << 20)
    store.put(entry([("content-type", "text/plain")]))
    assert store.get(KEY, [], NOW + 90, allow_expired=True) is None
    assert len(store) == 0


def test_remove_takes_out_only_the_entry_still_stored():
    store = CacheStore(1 << 20)
    old, new = entry(), entry()
    store.put(old)
    store.put(new)  # replaces the same variant
    assert store.remove(old) is False and len(store) == 1
    assert store.remove(new) is True and len(store) == 0
