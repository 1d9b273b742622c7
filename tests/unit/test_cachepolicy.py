from email.utils import formatdate

import pytest

from prefetch_lab.http.cachepolicy import (
    CacheControl,
    RuleCaching,
    client_accepts_encoding,
    conditional_response,
    freshness,
    not_modified_headers,
    request_forces_origin,
    storage_decision,
)

NOW = 1_700_000_000.0
NO_RULE = RuleCaching()
MB = 1 << 20


def http_date(ts: float) -> str:
    return formatdate(ts, usegmt=True)


def decide(
    response_headers=(),
    *,
    method="GET",
    status=200,
    request_headers=(),
    rule=NO_RULE,
    rules_active=False,
    body_size=100,
    max_object_size=MB,
):
    return storage_decision(
        method, status, list(request_headers), list(response_headers), rule,
        body_size, max_object_size, NOW, rules_active,
    )


# ------------------------------------------------------------------------- Cache-Control parsing


def test_cache_control_parsing_handles_case_quotes_whitespace_and_several_lines():
    cc = CacheControl(['  Public ,MAX-AGE="60",, no-cache="Set-Cookie, X-Foo"', "s-maxage=5"])
    assert cc.has("public") and cc.has("no-cache")
    assert cc.seconds("max-age") == 60
    assert cc.seconds("s-maxage") == 5
    assert cc.seconds("stale-while-revalidate") is None
    # The comma inside the quoted no-cache argument did not make a directive of its own.
    assert not cc.has("x-foo\"")
    assert [name for name, _ in cc.directives] == ["public", "max-age", "no-cache", "s-maxage"]


@pytest.mark.parametrize(
    "values, expected",
    [
        (["max-age=60, max-age=60"], 60),  # agreeing duplicates are harmless
        (["max-age=60", "max-age=120"], 0),  # conflicting duplicates: stale
        (["max-age=soon"], 0),
        (["max-age=-5"], 0),
        (["max-age"], 0),
        (["max-age=99999999999"], 2**31),
    ],
)
def test_invalid_or_conflicting_delta_seconds_mean_stale(values, expected):
    assert CacheControl(values).seconds("max-age") == expected


# ---------------------------------------------------------------------------- caching statuses


def test_plain_max_age_is_cached():
    decision = decide([("Cache-Control", "max-age=60")])
    assert (decision.store, decision.caching_status, decision.ttl, decision.swr) == (True, "cached", 60, 0)


def test_rule_bypass_cache_wins_over_everything():
    decision = decide([("Cache-Control", "max-age=60")], rule=RuleCaching(max_age=60, bypass_cache=True), rules_active=True)
    assert (decision.store, decision.caching_status) == (False, "bypassed")


@pytest.mark.parametrize("method", ["POST", "HEAD", "PUT"])
def test_non_get_methods_are_not_stored(method):
    decision = decide([("Cache-Control", "max-age=60")], method=method)
    assert (decision.store, decision.caching_status) == (False, "method")


def test_lower_case_get_is_get():
    assert decide([("Cache-Control", "max-age=60")], method="get").store


@pytest.mark.parametrize("directive", ["private", "no-store", "no-cache", 'private="set-cookie"', 'no-cache="x-foo"'])
def test_origin_private_no_store_no_cache_are_private(directive):
    decision = decide([("Cache-Control", f"max-age=60, {directive}")])
    assert (decision.store, decision.caching_status) == (False, "private")
    ruled = decide([("Cache-Control", directive)], rule=RuleCaching(max_age=3600), rules_active=True)
    assert (ruled.store, ruled.caching_status) == (False, "private")


def test_ignore_origin_no_cache_true_caches_with_rule_ttl():
    rule = RuleCaching(max_age=3600, ignore_origin_no_cache=True)
    decision = decide([("Cache-Control", "private, no-store, no-cache")], rule=rule, rules_active=True)
    assert (decision.store, decision.caching_status, decision.ttl) == (True, "cached", 3600)


def test_ignore_origin_no_cache_list_applies_only_to_listed_statuses():
    rule = RuleCaching(max_age=60, ignore_origin_no_cache=(301,), cacheable_status_codes=(200, 301))
    headers = [("Cache-Control", "no-store")]
    assert decide(headers, status=301, rule=rule, rules_active=True).store
    assert decide(headers, status=200, rule=rule, rules_active=True).caching_status == "private"


def test_vary_star_is_private():
    decision = decide([("Cache-Control", "max-age=60"), ("Vary", "Accept-Encoding, *")])
    assert (decision.store, decision.caching_status) == (False, "private")


def test_request_no_store_prevents_storing_in_rfc_mode_only():
    request = [("Cache-Control", "no-store")]
    assert decide([("Cache-Control", "max-age=60")], request_headers=request).caching_status == "private"
    ruled = decide([], request_headers=request, rule=RuleCaching(max_age=60), rules_active=True)
    assert ruled.caching_status == "cached"


@pytest.mark.parametrize(
    "response_cc, stored",
    [
        ("max-age=60", False),
        ("public, max-age=60", True),
        ("s-maxage=60", True),
        ("max-age=60, must-revalidate", True),
    ],
)
def test_authorization_needs_public_s_maxage_or_must_revalidate(response_cc, stored):
    decision = decide([("Cache-Control", response_cc)], request_headers=[("Authorization", "Bearer x")])
    assert decision.store is stored
    assert decision.caching_status == ("cached" if stored else "private")


def test_authorization_applies_in_cdn_mode_too():
    decision = decide([], request_headers=[("authorization", "Basic eA==")], rule=RuleCaching(max_age=60), rules_active=True)
    assert decision.caching_status == "private"


@pytest.mark.parametrize("status", [200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
def test_rfc_mode_stores_heuristically_cacheable_statuses_with_explicit_freshness(status):
    assert decide([("Cache-Control", "max-age=60")], status=status).caching_status == "cached"


@pytest.mark.parametrize("status", [299, 303, 400, 403, 499, 500, 502, 503, 504, 599])
def test_rfc_mode_stores_any_final_status_with_explicit_freshness(status):
    assert decide([("Cache-Control", "max-age=60")], status=status).caching_status == "cached"
    assert decide([], status=status).caching_status == "code"


@pytest.mark.parametrize("status", [206, 304])
def test_rfc_mode_never_stores_a_part_or_a_not_modified(status):
    decision = decide([("Cache-Control", "max-age=60")], status=status)
    assert (decision.store, decision.caching_status) == (False, "code")


def test_must_understand_stores_only_an_understood_status():
    assert decide([("Cache-Control", "max-age=60, must-understand")], status=503).caching_status == "cached"
    decision = decide([("Cache-Control", "max-age=60, must-understand")], status=599)
    assert (decision.store, decision.caching_status) == (False, "code")


@pytest.mark.parametrize("status", [302, 307])
def test_rfc_mode_stores_temporary_redirects_only_with_explicit_freshness(status):
    assert decide([("Cache-Control", "max-age=60")], status=status).caching_status == "cached"
    assert decide([("Expires", http_date(NOW + 60)), ("Date", http_date(NOW))], status=status).store
    assert decide([], status=status).caching_status == "code"


def test_cdn_mode_caches_only_rule_status_codes():
    rule = RuleCaching(max_age=60)
    assert decide([], status=200, rule=rule, rules_active=True).caching_status == "cached"
    assert decide([], status=301, rule=rule, rules_active=True).caching_status == "code"
    # A request that matched no rule still follows Edgio's default: 200 only.
    assert decide([("Cache-Control", "max-age=60")], status=404, rules_active=True).caching_status == "code"
    wider = RuleCaching(max_age=60, cacheable_status_codes=(200, 301, 404))
    decision = decide([], status=404, rule=wider, rules_active=True)
    assert (decision.caching_status, decision.ttl) == ("cached", 60)


def test_set_cookie_is_never_cached_even_with_rule_or_in_rfc_mode():
    headers = [("Cache-Control", "public, max-age=60"), ("Set-Cookie", "a=1"), ("set-cookie", "b=2")]
    assert decide(headers).caching_status == "set-cookie"
    rule = RuleCaching(max_age=3600, ignore_origin_no_cache=True)
    assert decide(headers, rule=rule, rules_active=True).caching_status == "set-cookie"


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Cache-Control", "public")],
        [("Cache-Control", "max-age=0")],
        [("Last-Modified", "Sun, 06 Nov 1994 08:49:37 GMT")],  # no heuristic freshness
        [("Cache-Control", "max-age=60"), ("Age", "60")],  # arrived already stale
    ],
)
def test_no_positive_freshness_is_no_max_age(headers):
    decision = decide(headers)
    assert (decision.store, decision.caching_status) == (False, "no-max-age")


def test_rule_max_age_zero_is_no_max_age():
    assert decide([("Cache-Control", "max-age=60")], rule=RuleCaching(max_age=0), rules_active=True).caching_status == "no-max-age"


def test_zero_ttl_with_swr_is_stored_for_stale_serving():
    decision = decide([("Cache-Control", "max-age=0, stale-while-revalidate=30")])
    assert (decision.store, decision.ttl, decision.swr) == (True, 0, 30)


def test_body_too_big():
    decision = decide([("Cache-Control", "max-age=60")], body_size=MB + 1, max_object_size=MB)
    assert (decision.store, decision.caching_status, decision.ttl) == (False, "body-too-big", 60)
    assert decide([("Cache-Control", "max-age=60")], body_size=MB, max_object_size=MB).store


# ------------------------------------------------------------------------------- freshness sources


def test_rule_max_age_overrides_origin_headers_and_age():
    headers = [("Cache-Control", "s-maxage=10, max-age=5"), ("Age", "7")]
    decision = decide(headers, rule=RuleCaching(max_age=3600), rules_active=True)
    assert (decision.ttl, decision.initial_age) == (3600, 0)
    assert "rule" in decision.reason


def test_without_rule_max_age_origin_headers_decide_in_cdn_mode():
    decision = decide([("Cache-Control", "max-age=90")], rule=RuleCaching(stale_while_revalidate=10), rules_active=True)
    assert (decision.store, decision.ttl, decision.swr) == (True, 90, 10)


def test_s_maxage_beats_max_age_beats_expires():
    expires = [("Expires", http_date(NOW + 500)), ("Date", http_date(NOW))]
    assert decide([("Cache-Control", "max-age=60, s-maxage=120")] + expires).ttl == 120
    assert decide([("Cache-Control", "max-age=60")] + expires).ttl == 60
    assert decide(expires).ttl == 500


def test_expires_is_relative_to_the_response_date_not_now():
    headers = [("Expires", http_date(NOW - 1000 + 300)), ("Date", http_date(NOW - 1000))]
    assert decide(headers).ttl == 300


def test_expires_without_date_counts_from_now():
    assert decide([("Expires", http_date(NOW + 200))]).ttl == 200


@pytest.mark.parametrize("expires", ["0", "-1", "soon", http_date(NOW - 60)])
def test_invalid_or_past_expires_is_stale(expires):
    decision = decide([("Expires", expires), ("Date", http_date(NOW))])
    assert (decision.ttl, decision.caching_status) == (0, "no-max-age")


def test_conflicting_expires_lines_are_stale():
    headers = [("Expires", http_date(NOW + 60)), ("Expires", http_date(NOW + 120)), ("Date", http_date(NOW))]
    assert decide(headers).caching_status == "no-max-age"


def test_age_header_becomes_initial_age():
    decision = decide([("Cache-Control", "max-age=60"), ("Age", "20")])
    assert (decision.store, decision.ttl, decision.initial_age) == (True, 60, 20)



@pytest.mark.parametrize("ages", [["junk"], ["-1"], ["1.0"], ["0, 0"], ["0", "0"], ["5;x=1"], ["3600, 3600"], ["\u0661"]])
def test_an_age_that_is_not_one_non_negative_integer_makes_the_response_stale(ages):
    decision = decide([("Cache-Control", "max-age=60"), *(("Age", age) for age in ages)])
    assert (decision.store, decision.caching_status) == (False, "no-max-age")



# -------------------------------------------------------------------------------- stale-while-revalidate


def test_swr_from_origin_and_from_rule():
    assert decide([("Cache-Control", "max-age=60, stale-while-revalidate=30")]).swr == 30
    rule = RuleCaching(max_age=60, stale_while_revalidate=86400)
    assert decide([("Cache-Control", "stale-while-revalidate=30")], rule=rule, rules_active=True).swr == 86400


def test_s_maxage_with_explicit_swr_still_serves_stale():
    assert decide([("Cache-Control", "s-maxage=1, stale-while-revalidate=59")]).swr == 59


@pytest.mark.parametrize("directive", ["must-revalidate", "proxy-revalidate"])
def test_revalidate_directives_forbid_stale_serving(directive):
    decision = decide([("Cache-Control", f"max-age=60, stale-while-revalidate=30, {directive}")])
    assert (decision.store, decision.swr) == (True, 0)
    ruled = decide([("Cache-Control", directive)], rule=RuleCaching(max_age=60, stale_while_revalidate=30), rules_active=True)
    assert (ruled.store, ruled.swr) == (True, 0)


def test_ignored_no_cache_does_not_forbid_rule_swr():
    rule = RuleCaching(max_age=60, stale_while_revalidate=30, ignore_origin_no_cache=True)
    assert decide([("Cache-Control", "no-cache")], rule=rule, rules_active=True).swr == 30


def test_freshness_states_over_time():
    stored_at = NOW
    assert freshness(stored_at, 0, 60, 30, NOW) == (0, "fresh")
    assert freshness(stored_at, 0, 60, 30, NOW + 59.9) == (59, "fresh")
    assert freshness(stored_at, 0, 60, 30, NOW + 60) == (60, "stale-revalidate")
    assert freshness(stored_at, 0, 60, 30, NOW + 89) == (89, "stale-revalidate")
    assert freshness(stored_at, 0, 60, 30, NOW + 90) == (90, "expired")
    assert freshness(stored_at, 50, 60, 0, NOW + 10) == (60, "expired")
    assert freshness(stored_at, 0, 60, 0, NOW - 5) == (0, "fresh")  # clock went backwards


# -------------------------------------------------------------------------------- request side


@pytest.mark.parametrize(
    "headers, forced",
    [
        ([], False),
        ([("Cache-Control", "no-cache")], True),
        ([("cache-control", "MAX-AGE=0")], True),
        ([("Cache-Control", "max-age=60")], False),
        ([("Cache-Control", "no-store")], False),
        ([("Pragma", "no-cache")], True),
        ([("Pragma", "no-cache"), ("Cache-Control", "max-age=60")], False),  # Cache-Control wins
    ],
)
def test_request_forces_origin_in_rfc_mode(headers, forced):
    assert request_forces_origin(headers, rules_active=False) is forced


def test_request_cache_control_ignored_in_cdn_mode():
    for headers in ([("Cache-Control", "no-cache")], [("Cache-Control", "max-age=0")], [("Pragma", "no-cache")]):
        assert request_forces_origin(headers, rules_active=True) is False


# -------------------------------------------------------------------------------- conditionals

LAST_MODIFIED = NOW - 3600
STORED = [
    ("Content-Type", "text/html"),
    ("ETag", '"v1"'),
    ("Last-Modified", http_date(LAST_MODIFIED)),
    ("Date", http_date(NOW - 10)),
    ("Cache-Control", "max-age=60"),
    ("Vary", "Accept-Encoding"),
    ("Content-Length", "1234"),
]


@pytest.mark.parametrize(
    "if_none_match, expected",
    [
        ('"v1"', True),
        ('W/"v1"', True),  # weak comparison
        ('"v0", "v1"', True),
        ('"v0",W/"v2"', False),
        ("*", True),
        ('"V1"', False),  # entity tags are case-sensitive
        ("v1", False),  # unquoted is malformed
    ],
)
def test_if_none_match(if_none_match, expected):
    assert conditional_response([("If-None-Match", if_none_match)], 200, STORED) is expected


def test_if_none_match_against_weak_stored_etag():
    stored = [("ETag", 'W/"v1"')]
    assert conditional_response([("If-None-Match", '"v1"')], 200, stored)
    assert not conditional_response([("If-None-Match", '"v1"')], 200, [])


def test_if_none_match_several_lines():
    assert conditional_response([("If-None-Match", '"a"'), ("If-None-Match", '"v1"')], 200, STORED)


@pytest.mark.parametrize(
    "ims, expected",
    [
        (LAST_MODIFIED, True),
        (LAST_MODIFIED + 60, True),
        (LAST_MODIFIED - 60, False),
    ],
)
def test_if_modified_since_against_last_modified(ims, expected):
    assert conditional_response([("If-Modified-Since", http_date(ims))], 200, STORED) is expected


def test_if_modified_since_falls_back_to_date_and_ignores_garbage():
    stored = [("Date", http_date(NOW - 10))]
    assert conditional_response([("If-Modified-Since", http_date(NOW))], 200, stored)
    assert not conditional_response([("If-Modified-Since", http_date(NOW - 20))], 200, stored)
    assert not conditional_response([("If-Modified-Since", "yesterday")], 200, stored)
    assert not conditional_response([("If-Modified-Since", http_date(NOW))], 200, [])


def test_if_modified_since_ignored_when_if_none_match_present():
    request = [("If-None-Match", '"other"'), ("If-Modified-Since", http_date(NOW))]
    assert not conditional_response(request, 200, STORED)


def test_conditionals_only_for_stored_200():
    assert not conditional_response([("If-None-Match", '"v1"')], 301, STORED)
    assert not conditional_response([("If-None-Match", "*")], 404, STORED)


def test_not_modified_headers_keep_only_304_fields_in_order():
    assert not_modified_headers(STORED) == [
        ("ETag", '"v1"'),
        ("Last-Modified", http_date(LAST_MODIFIED)),
        ("Date", http_date(NOW - 10)),
        ("Cache-Control", "max-age=60"),
        ("Vary", "Accept-Encoding"),
    ]


# ------------------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    "accept, content, expected",
    [
        ("gzip, deflate, br", "br", True),
        ("gzip, deflate", "br", False),
        (None, "gzip", False),  # no Accept-Encoding: identity only
        ("", "gzip", False),
        (None, None, True),
        ("", "identity", True),
        ("gzip;q=0", None, True),  # identity always acceptable
        ("br;q=0, *", "br", False),  # explicit refusal beats the wildcard
        ("*", "zstd", True),
        ("*;q=0", "gzip", False),
        ("GZIP;Q=0.5", "gzip", True),
        ("x-gzip", "gzip", True),
        ("gzip", "x-gzip", True),
        ("br;q=0.0", "br", False),
        ("br;q=oops", "br", False),
        ("gzip", "gzip, br", False),  # every applied coding must be acceptable
        ("gzip, br", "gzip, br", True),
        ("br, gzip, br;q=0", "br", False),  # duplicates: the refusal counts
    ],
)
def test_client_accepts_encoding(accept, content, expected):
    assert client_accepts_encoding(accept, content) is expected
