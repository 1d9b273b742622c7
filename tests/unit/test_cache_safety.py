"""Issue 9 safety, the pure parts: cookie variants, the Host in the key, an emptied rules file on
reload."""

from __future__ import annotations

import pytest

from prefetch_lab.http.cachepolicy import RuleCaching, storage_decision
from prefetch_lab.http.cachestore import COOKIE_VARIANT, CacheEntry, CacheStore, cache_key, cookie_names, significant_cookies, vary_for
from prefetch_lab.rules.model import RulesError
from prefetch_lab.rules.rule_file import load_rules_text
from prefetch_lab.rules.rule_source import RuleSource

NOW = 1_000_000.0
RULE = RuleCaching(max_age=300)


@pytest.mark.parametrize("cookie, expected", [
    ("session=alice", "session=alice"),
    ("_ga=GA1.2; session=alice; _gid=1; _ga_ABC=3; _gcl_au=1; _fbp=f; _hjSessionUser_1=h", "session=alice"),
    ("b=2; a=1", "a=1; b=2"),
    ("_ga=1; _clck=2; _clsk=3; ajs_anonymous_id=4; mp_x_mixpanel=5; _uetsid=6; _uetvid=7; __utma=8; _pk_id.1=9", None),
    ("", None),
    ("lang", "lang"),
])
def test_significant_cookies_leave_out_analytics_ones(cookie, expected):
    assert significant_cookies([("Cookie", cookie)]) == expected


def test_cookie_lines_are_combined_and_only_names_reach_the_audit():
    headers = [("cookie", "session=alice; _ga=1"), ("cookie", "cart=3")]
    assert significant_cookies(headers) == "cart=3; session=alice"
    assert cookie_names(headers) == ["cart", "session"]


def decide(response_headers=(), rule=RULE, rules_active=True):
    return storage_decision("GET", 200, [("cookie", "session=alice")], list(response_headers), rule, 10, 10**6,
                            NOW, rules_active)


def test_rules_mode_keys_by_cookies_unless_the_origin_or_a_rule_says_shared():
    assert decide().by_cookies
    assert decide([("cache-control", "max-age=60")]).by_cookies
    assert not decide([("cache-control", "public, max-age=60")]).by_cookies
    assert not decide([("cache-control", "s-maxage=60")]).by_cookies
    assert not decide(rule=RuleCaching(max_age=300, ignore_cookies=True)).by_cookies
    assert not decide([("cache-control", "max-age=60")], rule=RuleCaching(), rules_active=False).by_cookies


def test_a_cookie_variant_serves_only_the_same_significant_cookies():
    store = CacheStore(10**7)
    key = "GET https://example.com:443/me"
    for cookie in ("session=alice", None):
        request = [("cookie", cookie)] if cookie else []
        vary = vary_for([("vary", "accept-encoding")], request, by_cookies=True)
        assert [name for name, _ in vary] == sorted(["accept-encoding", COOKIE_VARIANT])
        store.put(CacheEntry(key, 200, (), f"for {cookie}".encode(), NOW, 0, 60, 0, vary))
    def body(cookie):
        found = store.get(key, [("cookie", cookie)] if cookie else [], NOW)
        return found.body if found else None
    assert body("session=alice; _ga=GA1") == b"for session=alice"
    assert body("_ga=GA1.1") == b"for None"
    assert body(None) == b"for None"
    assert body("session=bob") is None


@pytest.mark.parametrize("host_header, shares", [
    (None, True), ("example.com", True), ("EXAMPLE.com:80", True), ("example.com:8080", False), ("b.example", False),
])
def test_the_host_header_is_in_the_key_when_it_names_another_authority(host_header, shares):
    own = cache_key("GET", "http", "example.com", 80, "/p", "")
    assert (cache_key("GET", "http", "example.com", 80, "/p", "", host_header) == own) is shares


def test_ipv6_authorities_compare_with_their_brackets():
    assert cache_key("GET", "http", "::1", 8080, "/", "", "[::1]:8080") == cache_key("GET", "http", "::1", 8080, "/", "")
    assert cache_key("GET", "http", "::1", 8080, "/", "", "[::1]:9090").endswith("(Host: [::1]:9090)")


@pytest.mark.parametrize("text", ["", "   \n", "# only comments\n"])
def test_a_reload_that_finds_an_empty_file_is_an_error(tmp_path, text):
    path = tmp_path / "site.yaml"
    path.write_text("rules:\n  - match: {path: /a}\n    caching: {max_age: 1h}\n")
    source = RuleSource.parse(str(path))
    assert len(source.load().rules) == 1
    path.write_text(text)
    with pytest.raises(RulesError, match=r"keeping the last good rules; write `rules: \[\]`"):
        source.load(reloading=True)
    assert source.load().rules == ()  # at startup an empty file is still an empty set
    path.write_text("rules: []\n")
    assert source.load(reloading=True).rules == ()


def test_cache_key_ignore_cookies_is_a_boolean_rule_feature():
    rules = load_rules_text("rules:\n  - caching: {max_age: 1m, cache_key_ignore_cookies: true}\n")
    assert rules.rules[0].features["cache_key_ignore_cookies"] is True
    with pytest.raises(RulesError, match="cache_key_ignore_cookies"):
        load_rules_text("rules:\n  - caching: {cache_key_ignore_cookies: maybe}\n", "x.yaml")
