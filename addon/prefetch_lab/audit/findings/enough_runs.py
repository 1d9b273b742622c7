"""`--runs auto`: when the audit has measured enough. After each round of runs (every arm once),
the audit stops when every experiment arm's LCP interval against the control is narrow enough
(half-width ≤ `--precision`, by default 10 % of the control's LCP p50), or at `--max-runs`.
It stops on precision, never on significance: stopping the first time p < 0.05 would make
"faster" come out far more often than 5 % of the time when nothing differs. Pure module.
"""

from __future__ import annotations

import re

MIN_ROUNDS = 2  # one run says nothing about the spread between runs
DEFAULT_PRECISION = "10%"
DEFAULT_MAX_RUNS = 15


def parse_precision(text: str) -> tuple[float, bool]:
    """"10%" → (0.10, relative: of the control's LCP p50); "25" or "25ms" → (25.0, absolute ms)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(%|ms)?\s*", text or "")
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"--precision {text!r}: want a percentage of the control's LCP p50 (10%) or milliseconds (25ms)")
    value = float(match.group(1))
    return (value / 100, True) if match.group(2) == "%" else (value, False)


def target_ms(summary: dict, precision: str, control_arm: str = "control") -> float | None:
    value, relative = parse_precision(precision)
    if not relative:
        return value
    control_lcp = (summary.get(control_arm) or {}).get("lcp_ms_p50")
    return None if control_lcp is None else value * control_lcp


def half_widths(summary: dict) -> dict[str, float | None]:
    """Each experiment arm's LCP CI half-width (ms); None when it has no interval yet."""
    widths = {}
    for arm, values in summary.items():
        if "vs_control" not in values:  # the control itself
            continue
        ci = ((values["vs_control"] or {}).get("lcp_ms") or {}).get("ci95_ms")
        widths[arm] = None if ci is None else round((ci[1] - ci[0]) / 2, 1)
    return widths


def sampling(summary: dict, precision: str, rounds: int, max_runs: int) -> dict:
    """audit.json's `sampling` for `--runs auto` after `rounds` rounds: the target, each arm's
    half-width, and `stopped_by` ("precision", "max-runs", or None: go on)."""
    target = target_ms(summary, precision)
    widths = half_widths(summary)
    precise = bool(widths) and target is not None and all(w is not None and w <= target for w in widths.values())
    stopped_by = "precision" if precise and rounds >= MIN_ROUNDS else "max-runs" if rounds >= max_runs else None
    return {"mode": "auto", "precision": precision, "target_half_width_ms": None if target is None else round(target, 1),
            "max_runs": max_runs, "runs": rounds, "lcp_ci_half_width_ms": widths, "stopped_by": stopped_by}
