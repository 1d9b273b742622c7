"""The rule feature a cookie what-if needs: `headers.remove_origin_response_headers` (Edgio's name),
parsed, checked and merged; and the Set-Cookie refusal names the cookies (never their values)."""

from __future__ import annotations

import pytest

from prefetch_lab.http import cachepolicy
from prefetch_lab.rules.model import RequestInfo, RulesError
from tests.unit.test_rules import rules_from

GET = RequestInfo("GET", "https", "shop.example", "/a")


def test_remove_origin_response_headers_is_a_lower_cased_list_merged_across_rules():
    ruleset = rules_from("""
        rules:
          - headers: {remove_origin_response_headers: [Set-Cookie]}
          - headers: {remove_origin_response_headers: [x-debug, set-cookie], set_response_headers: {x-a: "1"}}
    """)
    assert ruleset.rules[0].features["remove_origin_response_headers"] == ("set-cookie",)
    features = ruleset.match(GET)
    assert features.remove_origin_response_headers == ("set-cookie", "x-debug")
    assert features.set_response_headers == (("x-a", "1"),)
    assert rules_from("rules: [{caching: {max_age: 1h}}]").match(GET).remove_origin_response_headers == ()


@pytest.mark.parametrize("value, problem", [
    ("set-cookie", "expected a list of header names"),
    ("[bad name]", "not a valid header name"),
    ("[{a: 1}]", "not a valid header name"),
])
def test_remove_origin_response_headers_rejects_what_is_not_a_list_of_names(value, problem):
    with pytest.raises(RulesError) as e:
        rules_from(f"rules:\n  - headers: {{remove_origin_response_headers: {value}}}\n")
    assert problem in str(e.value) and "headers.remove_origin_response_headers" in str(e.value)


def test_a_set_cookie_refusal_names_the_cookies_and_never_their_values():
    decision = cachepolicy.storage_decision(
        "GET", 200, [], [("set-cookie", "trac_form_token=secret1; HttpOnly; Path=/"),
                         ("Set-Cookie", "trac_session=secret2; Path=/"), ("set-cookie", "trac_session=x")],
        cachepolicy.RuleCaching(max_age=300), body_size=10, max_object_size=1000, now=1000.0, rules_active=True)
    assert (decision.store, decision.caching_status) == (False, "set-cookie")
    assert decision.reason == "response sets a cookie (trac_form_token, trac_session)"
    assert "secret" not in decision.reason
