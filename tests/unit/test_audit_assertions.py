"""--assert and --junit (audit/findings/assertions.py, audit/cli.py): the outcomes, the JUnit
XML read back with xml.etree, and the exit statuses."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from prefetch_lab.audit.cli import exit_status, parse_args
from prefetch_lab.audit.findings.assertions import evaluate, evaluate_all, junit_xml, parse

SUMMARY = {
    "control": {"lcp_ratio": 1.0},
    "speculation": {"lcp_ratio": 0.85, "origin_requests_for_prefetches": 0, "coverage": None,
                    "vs_control": {"lcp_ms": {"verdict": "faster", "p_holm": 0.002}}},
}


@pytest.mark.parametrize("expression, passed", [
    ("speculation.lcp_ratio<=0.9", True),
    ("speculation.lcp_ratio <= 0.8", False),
    ("speculation.lcp_ratio>0.8", True),
    ("speculation.vs_control.lcp_ms.verdict==faster", True),
    ("speculation.vs_control.lcp_ms.verdict!=faster", False),
    ("speculation.vs_control.lcp_ms.p_holm<0.05", True),
    ("speculation.origin_requests_for_prefetches==0", True),
    ("speculation.coverage==null", True),
    ("control.lcp_ratio==1", True),
])
def test_assertions_compare_numbers_as_numbers_and_words_as_words(expression, passed):
    outcome = evaluate(expression, SUMMARY)
    assert outcome["passed"] is passed, outcome
    assert outcome["expression"] == expression and outcome["message"]


def test_a_missing_path_or_an_ordering_of_words_fails_with_a_reason():
    missing = evaluate("edgio.lcp_ratio<=0.9", SUMMARY)
    assert not missing["passed"] and "not in this audit" in missing["message"] and missing["actual"] is None
    words = evaluate("speculation.vs_control.lcp_ms.verdict<1", SUMMARY)
    assert not words["passed"] and "not a number" in words["message"]
    assert not evaluate("speculation.coverage<1", SUMMARY)["passed"]


@pytest.mark.parametrize("bad", ["lcp_ratio<=0.9", "speculation.lcp_ratio=0.9", "speculation.lcp_ratio<=", ""])
def test_malformed_assertions_are_usage_errors(bad, capsys):
    with pytest.raises(ValueError):
        parse(bad)
    with pytest.raises(SystemExit) as exited:
        parse_args(["http://127.0.0.1:9/", "--assert", bad])
    assert exited.value.code == 2 and "--assert" in capsys.readouterr().err


def test_junit_xml_has_one_testcase_per_assertion_and_marks_failures():
    outcomes = evaluate_all(["speculation.lcp_ratio<=0.9", "speculation.lcp_ratio<=0.5", "x.y==1"], SUMMARY)
    root = ET.fromstring(junit_xml(outcomes))
    suite = root.find("testsuite")
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["speculation.lcp_ratio<=0.9", "speculation.lcp_ratio<=0.5", "x.y==1"]
    assert [c.find("failure") is not None for c in cases] == [False, True, True]
    assert "0.85" in cases[1].find("failure").get("message")


def document(assertions: list[str], complete: bool = True, problem: str | None = None) -> dict:
    return {"complete": complete, "problem": problem, "assertions": evaluate_all(assertions, SUMMARY)}


def test_exit_status_4_when_an_assertion_fails_and_incomplete_audits_keep_theirs(tmp_path: Path):
    console = Console(file=open("/dev/null", "w"))
    assert exit_status(console, document(["speculation.lcp_ratio<=0.9"]), None) == 0
    junit = tmp_path / "junit.xml"
    assert exit_status(console, document(["speculation.lcp_ratio<=0.9", "speculation.lcp_ratio<=0.5"]), junit) == 4
    assert ET.parse(junit).getroot().find("testsuite").get("failures") == "1"
    assert exit_status(console, document(["speculation.lcp_ratio<=0.5"], False, "the audit's deadline passed"), None) == 3
    assert exit_status(console, document([], False, "interrupted"), None) == 130
    assert exit_status(console, document([], False, "failed: OSError"), None) == 1
    assert exit_status(console, {"complete": True}, None) == 0  # an audit without assertions
