"""The audit's settings and the proxies it starts for a learned arm (no processes started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefetch_lab.audit.cli import parse_args
from prefetch_lab.audit.run import Audit
from prefetch_lab.audit.settings import WHAT_IF_ARM, AuditSettings
from prefetch_lab.audit.gather.walk import SkewedChoice, Step, uniform_choice

URL = "http://127.0.0.1:9/"


def settings(**values) -> AuditSettings:
    return AuditSettings(url=URL, out=Path("/tmp/prefetch-lab-unit-audit"), **values)


@pytest.mark.parametrize("values, problem", [
    ({"arms": ["control", "learned"]}, "needs a trained graph"),
    ({"arms": ["control", "speculation"], "train": 5}, "add 'learned' to --arms"),
    ({"arms": ["control", "sometimes"]}, "unknown arm"),
    ({"arms": ["control"], "walk": "drunken"}, "unknown walk"),
])
def test_a_learned_arm_and_training_come_together_or_not_at_all(values, problem):
    with pytest.raises(ValueError, match=problem):
        settings(**values).check()
    settings(arms=["control", "speculation", "learned"], train=3).check()
    settings(arms=["control", "speculation"]).check()


def test_the_command_line_refuses_a_learned_arm_without_training(capsys):
    with pytest.raises(SystemExit):
        parse_args([URL, "--arms", "control,learned"])
    assert "--train N" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parse_args([URL, "--train", "4"])
    args = parse_args([URL, "--arms", "control,speculation,learned", "--train", "4", "--skew", "1.5"])
    assert (args.train, args.skew, args.walk) == (4, 1.5, None)


def test_learned_audits_walk_skewed_by_default_and_others_as_before():
    assert settings(arms=["control", "learned"], train=2).walk_kind == "skewed"
    assert settings(arms=["control", "speculation"]).walk_kind == "uniform"
    assert settings(arms=["control"], walk="skewed").walk_kind == "skewed"
    audit = Audit(settings(arms=["control", "learned"], train=2, skew=3.0))
    assert isinstance(audit.chooser(), SkewedChoice) and audit.chooser().exponent == 3.0
    assert Audit(settings(arms=["control"])).chooser() is uniform_choice
    assert audit.uses_cdp and not Audit(settings(arms=["control", "edgio"])).uses_cdp


def test_the_training_proxy_learns_without_speculating_and_learned_runs_load_a_copy_without_learning():
    audit = Audit(settings(arms=["control", "learned"], train=2, learned_thresholds="immediate=0.9"))
    train = audit.proxy_options(None, "train")
    assert train["prefetch_inject"] == "off" and train["prefetch_learn"] == "true"
    assert train["prefetch_traversal_file"] == str(audit.raw / "traversal.json")
    learned = audit.proxy_options("learned", "learned-run1")
    assert learned["prefetch_inject"] == "speculation" and learned["prefetch_speculation"] == "learned"
    assert learned["prefetch_traversal_file"] == str(audit.raw / "learned-run1.traversal.json")
    assert learned["prefetch_learn"] == "false" and learned["prefetch_learned_thresholds"] == "immediate=0.9"
    control = audit.proxy_options("control", "control-run1")
    assert "prefetch_traversal_file" not in control and "prefetch_speculation" not in control


def test_the_warm_up_covers_the_training_walks_pages_too():
    audit = Audit(settings(arms=["control", "learned"], train=2))
    plan = [Step(0, URL, "start"), Step(1, URL + "a", "link")]
    assert audit.warm_urls(plan, proxy=None) == [URL, URL + "a"]
    audit.training = {"urls": [[URL, URL + "b"], [URL, URL + "a", URL + "c"]]}
    assert audit.warm_urls(plan, proxy=None) == [URL, URL + "a", URL + "b", URL + "c"]


def test_the_placebo_arm_runs_the_controls_proxy_settings_in_proxies_of_its_own():
    audit = Audit(settings(arms=["control", "placebo", "speculation"]))
    placebo, control = audit.proxy_options("placebo", "placebo-run0"), audit.proxy_options("control", "control-run0")
    assert {k: v for k, v in placebo.items() if "placebo" not in v} == {k: v for k, v in control.items() if "control" not in v}
    assert placebo["prefetch_audit_file"].endswith("placebo-run0.trail.jsonl")
    assert parse_args([URL, "--arms", "control,placebo"]).arms == ["control", "placebo"]


def test_each_arm_refuses_as_its_product_unless_one_status_is_given():
    audit = Audit(settings(arms=["control", "speculation", "edgio", "both"]))
    status = {arm: audit.proxy_options(arm, f"{arm}-run0")["prefetch_refusal_status"] for arm in audit.settings.arms}
    assert status == {"control": "412", "speculation": "503", "edgio": "412", "both": "412"}  # Speed Brain, Edgio
    assert audit.settings.to_json()["refusal_status"] == {"control": 412, "speculation": 503, "edgio": 412, "both": 412}
    learned = Audit(settings(arms=["control", "learned"], train=1))
    assert learned.proxy_options("learned", "learned-run0")["prefetch_refusal_status"] == "503"
    given = Audit(settings(arms=["speculation", "edgio"], refusal_status=412))
    assert {given.proxy_options(arm, arm)["prefetch_refusal_status"] for arm in ("speculation", "edgio")} == {"412"}
    assert parse_args([URL, "--refusal-status", "503"]).refusal_status == 503
    assert parse_args([URL]).refusal_status is None
    # The what-if arm runs its base arm's prefetching, with its refusals.
    what_if = settings(arms=["edgio", WHAT_IF_ARM], ignore_cookies=["sid"])
    assert what_if.refusal_status_of(WHAT_IF_ARM) == 412
