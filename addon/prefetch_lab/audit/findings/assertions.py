"""`scripts/audit --assert EXPR` (CI mode): each EXPR is a dotted path into `summary.<arm>`, an
operator and a number or a word, e.g. `speculation.lcp_ratio<=0.9`,
`speculation.vs_control.lcp_ms.verdict==faster`, `edgio.origin_requests_for_prefetches==0`.
Every outcome goes into audit.json's `assertions`, and as JUnit XML (one testcase each) for CI
servers. Pure module.
"""

from __future__ import annotations

import math
import operator
import re
import xml.etree.ElementTree as ET

OPERATORS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
             "<": operator.lt, ">": operator.gt}
EXPRESSION = re.compile(r"^\s*([A-Za-z0-9_\-]+(?:\.[A-Za-z0-9_\-]+)+)\s*(<=|>=|==|!=|<|>)\s*([^<>=!\s](?:.*\S)?)\s*$")
MISSING = object()


def parse(expression: str) -> tuple[str, str, float | str]:
    """(path, operator, expected); ValueError for anything else (the command line's usage error)."""
    match = EXPRESSION.match(expression)
    if not match:
        raise ValueError(f"--assert {expression!r}: want ARM.FIELD[.FIELD…] OP VALUE, OP one of "
                         f"{' '.join(OPERATORS)}, e.g. speculation.lcp_ratio<=0.9")
    path, op, value = match.groups()
    return path, op, _number(value) if _number(value) is not None else value


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def lookup(summary: dict, path: str):
    value = summary
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _word(value) -> str:
    """How a JSON value compares with a word: true/false/null as JSON spells them."""
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def evaluate(expression: str, summary: dict) -> dict:
    """One assertion's outcome: expression, path, operator, expected, actual, passed, message."""
    path, op, expected = parse(expression)
    actual = lookup(summary, path)
    outcome = {"expression": expression, "path": path, "operator": op, "expected": expected,
               "actual": None if actual is MISSING or isinstance(actual, (dict, list)) else actual}
    if actual is MISSING:
        return {**outcome, "passed": False, "message": f"summary.{path} is not in this audit"}
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        passed = OPERATORS[op](actual, expected)
    elif op in ("==", "!="):
        passed = OPERATORS[op](_word(actual), str(expected) if not isinstance(expected, float) else _word(expected))
    else:
        return {**outcome, "passed": False, "message": f"summary.{path} is {_word(actual)!r}, not a number to compare with {op}"}
    verb = "holds" if passed else "fails"
    return {**outcome, "passed": passed, "message": f"{verb}: summary.{path} is {_word(actual)}"}


def evaluate_all(expressions: list[str], summary: dict) -> list[dict]:
    return [evaluate(expression, summary or {}) for expression in expressions]


def junit_xml(assertions: list[dict], suite: str = "prefetch-lab-audit") -> str:
    """JUnit XML: one testsuite, one testcase per assertion, a <failure> for each that failed."""
    failures = sum(1 for a in assertions if not a["passed"])
    root = ET.Element("testsuites", tests=str(len(assertions)), failures=str(failures))
    tests = ET.SubElement(root, "testsuite", name=suite, tests=str(len(assertions)), failures=str(failures), errors="0")
    for a in assertions:
        case = ET.SubElement(tests, "testcase", classname=suite, name=a["expression"])
        if not a["passed"]:
            ET.SubElement(case, "failure", message=a["message"], type="AssertionFailed").text = a["message"]
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
