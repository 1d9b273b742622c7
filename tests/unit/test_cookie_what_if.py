"""The cookie findings and `--what-if ignore-cookies=NAME,...` on hand-built runs and parsed
command lines: the advice names the cookies, the rule features and the risk; the what-if arm is
added, runs its base arm's prefetching with the extra rule, and its result compares the two."""

from __future__ import annotations

import pytest

from prefetch_lab.audit.analyze import analyze
from prefetch_lab.audit.cli import parse_args, settings_from
from prefetch_lab.audit.findings.cookies import what_if_advice, what_if_result
from prefetch_lab.audit.run import Audit
from prefetch_lab.audit.settings import AuditSettings, WHAT_IF_ARM
from prefetch_lab.rules.rule_file import load_rules
from tests.unit.test_auditanalysis import doc, run, step


def trac_walk(arm):
    steps = [step(0, "/wiki", 1.0), step(1, "/timeline", 10.0)]
    trail = [
        doc("cache-bypass", "/wiki", -5.0, status=200, caching_status="set-cookie",
            reason="response sets a cookie (trac_form_token, trac_session)"),
        doc("cache-bypass", "/timeline", 10.1, status=200, caching_status="set-cookie",
            reason="response sets a cookie (trac_session)"),
        doc("cache-store", "/roadmap", 11.0, status=200, caching_status="cached-per-cookie", cookies=["trac_session"]),
    ]
    return run(arm, steps, trail)


def test_the_advice_names_the_cookies_the_rule_features_and_the_risk():
    audit = analyze([trac_walk("control"), trac_walk("speculation")])
    cookies = audit["summary"]["control"]["cookies"]
    assert (cookies["set_cookie_refusals"], cookies["set_cookie_names"], cookies["per_cookie_variants"],
            cookies["variant_cookie_names"]) == (2, ["trac_form_token", "trac_session"], 1, ["trac_session"])
    by_code = {a["code"]: a for a in audit["advice"]}
    named = by_code.get("origin-uncacheable") or by_code["cookie-set-cookie"]
    assert named["cookies"] == ["trac_form_token", "trac_session"]
    for needle in ("trac_form_token, trac_session",):
        assert needle in named["reason"]
    for needle in ("remove_origin_response_headers", "cache_key_ignore_cookies",
                   "--what-if ignore-cookies=trac_form_token,trac_session", "Risk:"):
        assert needle in named["remedy"]
    variants = by_code["cookie-variants"]
    assert variants["cookies"] == ["trac_session"] and "cache_key_ignore_cookies" in variants["remedy"]


def test_what_if_adds_the_arm_on_the_first_experiment_arms_prefetching(tmp_path):
    args = parse_args(["http://127.0.0.1:9/", "--arms", "control,speculation", "--what-if",
                       "ignore-cookies=trac_session,trac_form_token", "--out", str(tmp_path)])
    settings = settings_from(args)
    assert settings.arms == ["control", "speculation", WHAT_IF_ARM]
    assert settings.ignore_cookies == ["trac_session", "trac_form_token"] and settings.what_if_base == "speculation"
    audit = Audit(settings)
    audit.raw.mkdir(parents=True)
    options = audit.proxy_options(WHAT_IF_ARM, "ignore-cookies-run0")
    assert options["prefetch_inject"] == "speculation"
    rules_file = audit.raw / "what-if-ignore-cookies.yaml"
    assert options["prefetch_rules"] == f"{settings.rules},{rules_file}"
    (rule,) = load_rules([rules_file]).rules
    assert dict(rule.features) == {"cache_key_ignore_cookies": True, "remove_origin_response_headers": ("set-cookie",)}
    assert "trac_session,trac_form_token" in rules_file.read_text()


@pytest.mark.parametrize("argv", [["--what-if", "ignore-cookies="], ["--what-if", "cookies=a"]])
def test_what_if_needs_cookie_names(argv, capsys):
    with pytest.raises(SystemExit):
        parse_args(["http://127.0.0.1:9/", *argv])
    assert "expected ignore-cookies=NAME" in capsys.readouterr().err


def test_the_what_if_arm_is_not_an_arm_to_ask_for_alone(tmp_path):
    with pytest.raises(ValueError, match="--what-if ignore-cookies"):
        AuditSettings(url="http://127.0.0.1:9/", out=tmp_path, arms=["control", WHAT_IF_ARM]).check()


def test_what_if_result_compares_the_arm_with_its_base_and_states_the_risk():
    summary = {"speculation": {"ttfb_ms_p50": 80.0, "fcp_ms_p50": 300.0, "lcp_ms_p50": 400.0, "origin_requests": 12,
                               "coverage": 0.0, "served_from": {"network": 4}},
               WHAT_IF_ARM: {"ttfb_ms_p50": 25.0, "fcp_ms_p50": 240.0, "lcp_ms_p50": 330.0, "origin_requests": 3,
                                    "coverage": 0.5, "served_from": {"prefetch": 2, "network": 2}}}
    result = what_if_result(summary, "speculation", ["trac_session"])
    assert result["lcp_ms_p50"] == {"speculation": 400.0, WHAT_IF_ARM: 330.0, "difference_ms": -70.0, "ratio": 0.825}
    assert result["origin_requests"] == {"speculation": 12, WHAT_IF_ARM: 3}
    (entry,) = what_if_advice(result)
    assert "LCP p50 330.0 ms against 400.0 ms in speculation (-70 ms)" in entry["reason"]
    assert "Risk:" in entry["remedy"] and "form token" in entry["remedy"]
    assert what_if_result({"speculation": summary["speculation"]}, "speculation", ["x"]) is None
