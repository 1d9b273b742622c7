"""--runs auto (audit/findings/enough_runs.py, the command line): stop on precision or at
--max-runs, never on significance."""

from __future__ import annotations

import pytest

from prefetch_lab.audit.cli import parse_args
from prefetch_lab.audit.findings.enough_runs import half_widths, parse_precision, sampling
from prefetch_lab.audit.findings.summary_table import sampling_line

URL = "http://127.0.0.1:9/"


def summary(control_lcp: float, *intervals: list[float] | None) -> dict:
    arms = {"control": {"lcp_ms_p50": control_lcp}}
    for i, ci in enumerate(intervals):
        arms[f"arm{i}"] = {"vs_control": {"lcp_ms": {"ci95_ms": ci}}}
    return arms


def test_precision_is_a_share_of_the_controls_lcp_or_milliseconds():
    assert parse_precision("10%") == (0.1, True) and parse_precision("25ms") == (25.0, False)
    assert parse_precision("7.5") == (7.5, False)
    for bad in ("", "ten", "-5", "0%"):
        with pytest.raises(ValueError):
            parse_precision(bad)


def test_stops_on_precision_only_when_every_arm_is_narrow_enough():
    narrow = summary(200, [-30, -10], [-5, 5])  # half-widths 10 and 5; target 10 % of 200 = 20
    assert half_widths(narrow) == {"arm0": 10.0, "arm1": 5.0}
    assert sampling(narrow, "10%", 2, 15)["stopped_by"] == "precision"
    assert sampling(narrow, "10%", 1, 15)["stopped_by"] is None  # one round says nothing of the spread
    wide = summary(200, [-30, -10], [-40, 40])
    assert sampling(wide, "10%", 3, 15)["stopped_by"] is None
    assert sampling(wide, "10%", 15, 15)["stopped_by"] == "max-runs"
    assert sampling(summary(200, None), "10%", 5, 15)["stopped_by"] is None  # no interval yet
    # Significance plays no part: a wide interval far from 0 does not stop it.
    assert sampling(summary(200, [-300, -100]), "10%", 4, 15)["stopped_by"] is None
    found = sampling(narrow, "15ms", 2, 15)
    assert found["target_half_width_ms"] == 15.0 and found["stopped_by"] == "precision"


def test_the_command_line_takes_auto_and_the_terminal_says_what_stopped_it():
    args = parse_args([URL, "--runs", "auto", "--max-runs", "6", "--precision", "20ms"])
    assert (args.runs_auto, args.runs, args.precision) == (True, 6, "20ms")
    assert parse_args([URL, "--runs", "4"]).runs_auto is False
    for bad in (["--runs", "many"], ["--runs", "auto", "--precision", "x"], ["--runs", "auto", "--max-runs", "0"]):
        with pytest.raises(SystemExit):
            parse_args([URL, *bad])
    line = sampling_line({"sampling": sampling(summary(200, [-30, -10]), "10%", 2, 15)})
    assert line.startswith("--runs auto: 2 runs, stopped because every LCP interval was narrow enough")
    assert "arm0 10" in line and "target 20 ms" in line
    assert sampling_line({"sampling": {"mode": "fixed", "runs": 3}}) is None
