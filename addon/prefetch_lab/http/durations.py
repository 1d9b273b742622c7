"""Durations in rule files, parsed like Edgio's edge `toSeconds`.

Accepted: a non-negative int/float of seconds, a digit string ("30"), or
`<n>s|m|h|d|w|y` where m = minutes, w = 7 days and y = 365 days. Unit letters
are lower-case only so "1M" cannot be mistaken for a month.
"""

from __future__ import annotations

import math
import re

_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_DURATION_RE = re.compile(r"([0-9]+)([smhdwy])?")
EXPECTED = "expected a duration like 30s/5m/1h/1d/1w/1y"


def parse_duration(value: object) -> int:
    """Return `value` as whole seconds; raise ValueError with a readable message."""
    # bool is an int subclass; `max_age: yes` is a mistake, not 1 second.
    if isinstance(value, bool):
        raise ValueError(f"{EXPECTED}, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{EXPECTED}, got {value!r}")
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("-") and _DURATION_RE.fullmatch(text[1:]):
            raise ValueError(f"duration must not be negative, got {value!r}")
        match = _DURATION_RE.fullmatch(text)
        if match:
            return int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    raise ValueError(f"{EXPECTED}, got {value!r}")
