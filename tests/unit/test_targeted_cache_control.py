"""Directives targeted at the edge (http/targeted_cache_control.py, through
cachepolicy.storage_decision): CDN-Cache-Control (RFC 9213) over Surrogate-Control (W3C Edge
Architecture 1.0) over Cache-Control, each targeted field a Structured Field Dictionary."""

import pytest

from prefetch_lab.http.cachepolicy import SURROGATE_TOKEN, RuleCaching, storage_decision
from prefetch_lab.http.targeted_cache_control import cdn_cache_control, surrogate_control

NOW = 1_700_000_000.0


def decide(response_headers):
    return storage_decision("GET", 200, [], list(response_headers), RuleCaching(), 100, 1 << 20, NOW, False)


def test_targeted_fields_read_as_cache_control_directives():
    assert cdn_cache_control(['max-age=60, no-store, private="set-cookie", x-ext=abc']) == [
        ("max-age", "60"), ("no-store", None), ("private", "set-cookie"), ("x-ext", "abc")]
    assert cdn_cache_control([]) is None and cdn_cache_control([""]) is None
    assert surrogate_control(["max-age=5, max-age=60;edge, no-store;other"], "edge") == [("max-age", "60")]
    assert surrogate_control(["max-age=5, no-store;other"], "edge") == [("max-age", "5")]
    assert surrogate_control(["no-store;other"], "edge") is None


@pytest.mark.parametrize("headers, stored, ttl", [
    ([("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600")], True, 600),
    ([("Cache-Control", "max-age=600"), ("CDN-Cache-Control", "no-store")], False, 0),
    ([("Cache-Control", "max-age=60"), ("CDN-Cache-Control", "max-age=600"), ("Surrogate-Control", "max-age=5")], True, 600),
    ([("Cache-Control", "no-store"), ("Surrogate-Control", "max-age=300")], True, 300),
    ([("Cache-Control", "max-age=300"), ("Surrogate-Control", "no-store")], False, 0),
    ([("Cache-Control", "max-age=300"), ("Surrogate-Control", "max-age=5;other-cdn")], True, 300),
    ([("Cache-Control", "private"), ("CDN-Cache-Control", "private")], False, 0),
])
def test_cdn_cache_control_then_surrogate_control_govern_the_edge(headers, stored, ttl):
    decision = decide(headers)
    assert decision.store is stored
    if stored:
        assert decision.ttl == ttl


# RFC 9213 2.1: a targeted field is a Structured Field Dictionary; one that does not parse, or whose
# directive breaks its type, is ignored as a whole and the next field (finally Cache-Control) decides.
INVALID_TARGETED = ["max-age=abc", "max-age=60,,", '"quoted', 'max-age="600"', "max-age=60.5", "max-age = 600",
                    "max-age=-1", "max-age", "no-store=?0", "private=1", "max-age=600, ", "", "max-age=60 s"]


@pytest.mark.parametrize("invalid", INVALID_TARGETED)
@pytest.mark.parametrize("field", ["CDN-Cache-Control", "Surrogate-Control"])
def test_an_invalid_targeted_field_is_ignored_and_cache_control_decides(field, invalid):
    stored = decide([("Cache-Control", "max-age=300"), (field, invalid)])
    assert (stored.store, stored.ttl) == (True, 300), stored.reason
    refused = decide([("Cache-Control", "no-store"), (field, invalid)])
    assert (refused.store, refused.caching_status) == (False, "private")


@pytest.mark.parametrize("invalid", ["max-age=60+30", "max-age=600;prefetch-lab,", "max-age=abc;prefetch-lab, max-age=600"])
def test_a_surrogate_control_outside_structured_syntax_is_ignored(invalid):
    # Edge Architecture's stale extension (+30) is not RFC 9651 syntax; an ill-typed directive
    # targeted at us spoils the field even beside a valid untargeted one.
    decision = decide([("Cache-Control", "max-age=300"), ("Surrogate-Control", invalid)])
    assert (decision.store, decision.ttl) == (True, 300)


def test_surrogate_control_is_case_insensitive_where_cdn_cache_control_is_not():
    # Surrogate-Control predates Structured Fields (its names are case-insensitive, as Cache-Control's);
    # CDN-Cache-Control is a Dictionary by RFC 9213, where an upper-case key does not parse.
    assert decide([("Cache-Control", "no-store"), ("Surrogate-Control", "MaX-aGe=600")]).ttl == 600
    assert decide([("Cache-Control", "no-store"), ("Surrogate-Control", f"max-age=5, max-age=600;{SURROGATE_TOKEN.upper()}")]).ttl == 600
    assert decide([("Cache-Control", "max-age=300"), ("Surrogate-Control", "max-age=600;Other-CDN")]).ttl == 300
    assert decide([("Cache-Control", "max-age=300"), ("CDN-Cache-Control", "MAX-AGE=600")]).ttl == 300


def test_an_invalid_cdn_cache_control_falls_back_to_surrogate_control():
    headers = [("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=abc"), ("Surrogate-Control", "max-age=600")]
    assert (decide(headers).store, decide(headers).ttl) == (True, 600)


@pytest.mark.parametrize("field", ["CDN-Cache-Control", "Surrogate-Control"])
@pytest.mark.parametrize("value, store, ttl, swr", [
    ("max-age=600", True, 600, 0),
    ("max-age=600, stale-while-revalidate=30", True, 600, 30),
    ("max-age=60, max-age=600", True, 600, 0),  # a repeated key: the last one wins (RFC 9651)
    ("  max-age=600 ,\tpublic", True, 600, 0),
    ("no-store", False, 0, 0),
    ("private", False, 0, 0),
    ('private="set-cookie"', False, 0, 0),  # qualified: still "don't store" here
    ("no-store, max-age=600", False, 0, 0),
])
def test_a_valid_targeted_field_wins_over_cache_control(field, value, store, ttl, swr):
    opposite = "no-store" if store else "max-age=300"
    decision = decide([("Cache-Control", opposite), (field, value)])
    assert decision.store is store, decision.reason
    if store:
        assert (decision.ttl, decision.swr) == (ttl, swr)


def test_cdn_cache_control_ignores_parameters_where_surrogate_control_reads_device_tokens():
    # RFC 9213 2.1: parameters on a CDN-Cache-Control directive are ignored; on Surrogate-Control
    # they name the devices the directive is for, here another one.
    assert decide([("Cache-Control", "no-store"), ("CDN-Cache-Control", "max-age=600;x=1")]).ttl == 600
    assert decide([("Cache-Control", "max-age=300"), ("Surrogate-Control", "max-age=600;x=1")]).ttl == 300


def test_several_cdn_cache_control_lines_are_one_dictionary():
    lines = [("CDN-Cache-Control", "max-age=60"), ("CDN-Cache-Control", "max-age=600")]
    assert decide([("Cache-Control", "no-store"), *lines]).ttl == 600
    broken = [("CDN-Cache-Control", "max-age=600"), ("CDN-Cache-Control", "max-age=abc")]
    assert decide([("Cache-Control", "max-age=300"), *broken]).ttl == 300


def test_a_cdn_cache_control_of_unknown_directives_still_silences_cache_control():
    # RFC 9213's "CDN-Cache-Control: none": valid and non-empty, so Cache-Control's no-store does
    # not apply; with no freshness of its own, the edge does not store it either.
    decision = decide([("Cache-Control", "no-store"), ("CDN-Cache-Control", "none")])
    assert (decision.store, decision.caching_status) == (False, "no-max-age")


def test_surrogate_control_targeted_at_this_edge_wins_over_untargeted():
    headers = [("Cache-Control", "no-store"), ("Surrogate-Control", f"max-age=5, max-age=900;{SURROGATE_TOKEN}")]
    assert decide(headers).ttl == 900
    assert decide([("Surrogate-Control", "no-store;other, max-age=30")]).ttl == 30
    # Whatever the order: a Dictionary would keep only the last max-age, so members are read one by one.
    assert decide([("Surrogate-Control", f"max-age=900;{SURROGATE_TOKEN}, max-age=5")]).ttl == 900
    assert decide([("Surrogate-Control", f"max-age=5;{SURROGATE_TOKEN}, max-age=900;{SURROGATE_TOKEN}")]).ttl == 900
    assert decide([("Surrogate-Control", f'max-age=900;other;{SURROGATE_TOKEN}, content="ESI/1.0, x"')]).ttl == 900
    assert not decide([("Cache-Control", "max-age=60"), ("Surrogate-Control", f"no-store;{SURROGATE_TOKEN}, max-age=30")]).store
