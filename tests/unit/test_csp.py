import pytest

from prefetch_lab.html.csp import (
    INSTALL_PATH,
    find_meta_csp,
    parse_policies,
    prefetch_decision,
    script_decision,
    worker_decision,
)

ORIGIN = "https://shop.example.com:443"  # the addon passes scheme://host:port


def script(*headers: str, meta: tuple[str, ...] = (), origin: str = ORIGIN):
    return script_decision(parse_policies(headers, meta), origin)


def worker(*headers: str, origin: str = ORIGIN):
    return worker_decision(parse_policies(headers), origin)


# --- parsing ------------------------------------------------------------------------------------

def test_parse_splits_policies_on_commas_and_directives_on_semicolons():
    policies = parse_policies(["Default-Src 'self' ;  SCRIPT-SRC a.com b.com; script-src c.com, img-src *"])
    assert [dict(p.directives) for p in policies] == [
        {"default-src": ("'self'",), "script-src": ("a.com", "b.com")},  # first occurrence wins
        {"img-src": ("*",)},
    ]


def test_parse_meta_is_one_policy_and_empty_values_are_dropped():
    policies = parse_policies(["", " ; ;"], ["script-src 'self', img-src *"])
    assert len(policies) == 1 and policies[0].origin_kind == "meta"
    assert policies[0].directives["script-src"] == ("'self',", "img-src", "*")


def test_parse_drops_non_ascii_directives():
    policies = parse_policies(["script-src 'self' é.com; default-src 'none'"])
    assert dict(policies[0].directives) == {"default-src": ("'none'",)}


def test_find_meta_csp_any_attribute_order_case_and_entities():
    body = (
        b"<html><head><META CONTENT=\"script-src &#39;self&#39; &amp;x\" Http-Equiv='Content-Security-Policy'>"
        b"<meta http-equiv=content-security-policy content=\"default-src 'none'\">"
        b"<meta http-equiv='Content-Security-Policy-Report-Only' content=\"script-src 'none'\">"
        b"<!-- <meta http-equiv='Content-Security-Policy' content='script-src none'> -->"
        b"</head><body><meta http-equiv='Content-Security-Policy' content=\"script-src 'none'\"></body>"
    )
    assert find_meta_csp(body) == ["script-src 'self' &x", "default-src 'none'"]


def test_find_meta_csp_without_any():
    assert find_meta_csp(b"<html><head><meta charset=utf-8></head></html>") == []
    assert find_meta_csp(b"") == []


# --- script -------------------------------------------------------------------------------------

def test_no_policy_or_no_script_directive_allows():
    assert script() == script_decision([], ORIGIN)
    assert script().allowed and script().reason == "no-csp"
    decision = script("img-src 'self'; frame-ancestors 'none'")
    assert decision.allowed and decision.nonce is None and decision.reason == "csp-allows-script"


@pytest.mark.parametrize(
    "policy",
    [
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "script-src https:",
        "script-src http:",  # upgrades to https
        "script-src *",
        "script-src shop.example.com",
        "script-src https://shop.example.com:443",
        "script-src SHOP.EXAMPLE.COM:*",
        "script-src *.example.com",
        "script-src https://shop.example.com/__edgio__/",
        f"script-src https://shop.example.com{INSTALL_PATH}",
        "script-src 'none' 'self'",  # 'none' is ignored next to other sources
        "default-src 'none'; script-src 'self'",
        "script-src 'none'; script-src-elem 'self'",
    ],
)
def test_sources_that_allow_our_same_origin_script(policy):
    decision = script(policy)
    assert decision.allowed and decision.nonce is None, decision


@pytest.mark.parametrize(
    "policy",
    [
        "script-src http://shop.example.com:8443",
        "script-src shop.example.com:8443",
        "script-src *.shop.example.com",  # sub-domains only
        "script-src cdn.example.com",
        "script-src https://shop.example.com/static/",
        "script-src https://shop.example.com/__edgio__/prefetch",  # exact path, no trailing slash
        "script-src data: blob:",
        "script-src ftp:",
        "script-src 'unsafe-inline' 'unsafe-eval'",
        "default-src 'self'; script-src-elem cdn.example.com",
    ],
)
def test_sources_that_do_not_allow_it(policy):
    decision = script(policy)
    assert not decision.allowed and decision.reason.startswith("csp-blocks-script: ")
    assert "does not allow https://shop.example.com/__edgio__/prefetch/install.js" in decision.reason


def test_ports_on_an_http_origin():
    origin = "http://127.0.0.1:8080"
    assert script("script-src 127.0.0.1:8080", origin=origin).allowed
    assert script("script-src http://127.0.0.1:*", origin=origin).allowed
    assert not script("script-src 127.0.0.1", origin=origin).allowed
    assert not script("script-src *.0.0.1:8080", origin=origin).allowed  # no wildcards for IPs
    assert not script("script-src https:", origin=origin).allowed
    assert script("script-src http:", origin=origin).allowed
    assert script("script-src example.com:80", origin="http://example.com").allowed


def test_nonce_page():
    decision = script("script-src 'nonce-r4nd0m+/=='")
    assert decision == script("script-src 'NONCE-r4nd0m+/=='")
    assert decision.allowed and decision.nonce == "r4nd0m+/==" and decision.reason == "csp-allows-script-with-nonce"
    assert any("cache-manifest" in note for note in decision.notes)


def test_strict_dynamic_with_nonce_needs_the_nonce_even_for_self():
    decision = script("script-src 'strict-dynamic' 'nonce-abc' 'self' https: 'unsafe-inline'")
    assert decision.allowed and decision.nonce == "abc" and decision.notes == ()


def test_strict_dynamic_without_nonce_blocks():
    decision = script("script-src 'self' 'strict-dynamic' 'sha256-AAAA'")
    assert not decision.allowed and decision.nonce is None
    assert decision.reason == "csp-blocks-script: script-src has 'strict-dynamic' without a nonce"


def test_strict_dynamic_in_default_src_applies_to_scripts():
    assert not script("default-src 'self' 'strict-dynamic'").allowed


def test_hash_only_blocks():
    decision = script("script-src 'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='")
    assert decision.reason == "csp-blocks-script: script-src allows only hashes, no nonce"


@pytest.mark.parametrize("policy", ["script-src 'none'", "default-src 'none'", "script-src", "default-src ;"])
def test_none_blocks(policy):
    decision = script(policy)
    assert not decision.allowed and "'none'" in decision.reason


def test_two_policies_in_one_header_value_must_both_allow():
    assert not script("script-src 'self', script-src cdn.example.com").allowed
    assert script("script-src 'self', default-src https:").allowed


def test_two_headers_must_both_allow():
    assert not script("script-src 'self'", "script-src 'none'").allowed
    assert script("script-src 'self'", "default-src *").allowed


def test_nonce_must_satisfy_every_policy_that_needs_one():
    decision = script("script-src 'nonce-a' 'nonce-b'", "script-src 'strict-dynamic' 'nonce-b'")
    assert decision.allowed and decision.nonce == "b"
    decision = script("script-src 'nonce-a'", "script-src 'nonce-b'")
    assert not decision.allowed and decision.reason == "csp-blocks-script: policies require different nonces"
    # A policy that allows by URL adds no constraint on the nonce.
    assert script("script-src 'self'", "script-src 'nonce-z'").nonce == "z"


def test_meta_policy_applies_with_header_policies():
    assert not script("script-src 'self'", meta=("script-src 'none'",)).allowed
    assert script(meta=("script-src 'nonce-m'",)).nonce == "m"


def test_report_only_is_the_callers_business():
    # The caller passes only Content-Security-Policy values; a Report-Only value it would
    # (wrongly) pass is parsed like any other, so the rule lives in the caller.
    assert script().allowed


def test_trusted_types_are_noted():
    decision = script("script-src 'self'; require-trusted-types-for 'script'")
    assert decision.allowed and any("Trusted Types" in note for note in decision.notes)


# --- service worker -----------------------------------------------------------------------------

def test_worker_fallback_chain():
    assert worker().allowed and worker().reason == "no-csp"
    assert worker("default-src 'self'").allowed
    assert not worker("default-src 'none'").allowed
    assert worker("default-src 'none'; script-src 'self'").allowed
    assert not worker("script-src 'self'; child-src 'none'").allowed
    assert worker("script-src 'none'; child-src 'none'; worker-src 'self'").allowed
    decision = worker("worker-src cdn.example.com; script-src 'self'")
    assert not decision.allowed
    assert decision.reason == (
        "csp-blocks-worker: worker-src does not allow https://shop.example.com/__edgio__/prefetch/service-worker.js"
    )


def test_nonces_and_hashes_never_allow_a_worker():
    assert not worker("script-src 'nonce-abc'").allowed
    assert not worker("script-src 'sha256-AAAA'").allowed


def test_strict_dynamic_allows_a_script_registered_worker():
    assert worker("script-src 'strict-dynamic' 'nonce-abc'").allowed
    assert worker("default-src 'strict-dynamic'").allowed
    # An explicit worker-src without it is used as is.
    assert not worker("script-src 'strict-dynamic' 'nonce-abc'; worker-src 'none'").allowed


# --- prefetch -----------------------------------------------------------------------------------

def test_link_prefetch_uses_default_src_only():
    policies = parse_policies(["default-src 'none'; connect-src 'self'"])
    assert not prefetch_decision(policies, ORIGIN, "/p/1").allowed
    assert prefetch_decision(policies, ORIGIN, "/p/1", initiator="fetch").allowed
    policies = parse_policies(["default-src 'self'; connect-src api.example.com"])
    assert prefetch_decision(policies, ORIGIN, "/p/1").allowed
    decision = prefetch_decision(policies, ORIGIN, "/p/1", initiator="fetch")
    assert not decision.allowed and decision.reason.startswith("csp-blocks-prefetch: connect-src")


def test_prefetch_ignores_script_directives():
    policies = parse_policies(["script-src 'none'"])
    assert prefetch_decision(policies, ORIGIN).allowed
