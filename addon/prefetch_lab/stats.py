"""Plain number helpers shared by the audit, the report and the benchmark, so a p75 means the same
everywhere: one percentile definition, the stdlib's `statistics.quantiles(n=100,
method="inclusive")` (linear interpolation between closest ranks: numpy's default, R's type 7),
the median as its p50, and the small guards that turn what a browser reports (None, NaN, 0) into
a number or None. Pure module: the standard library only.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable
from typing import Any


def number(value: Any) -> float | None:
    """A finite float, or None (timings the browser did not report arrive as None, 0 or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def integer(value: Any, default: int) -> int:
    """`value` as an int when it is a finite number, else `default`."""
    number_value = number(value)
    return int(number_value) if number_value is not None else default


def ms(value: float | None) -> float | None:
    """Milliseconds as the audit writes them: to a tenth (finer is below what a browser reports)."""
    return None if value is None else round(value, 1)


def ratio(numerator: float | None, denominator: float | None, digits: int = 4) -> float | None:
    """numerator / denominator, rounded; None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


def percentile(values: Iterable[Any], p: float) -> float | None:
    """The p-th percentile (p a whole number from 0 to 100) of the values that are numbers (None
    and NaN are left out), by `statistics.quantiles(n=100, method="inclusive")`: rank p/100·(n−1),
    interpolated. p 0 and 100 are the minimum and the maximum; one value is its own percentile;
    no values give None."""
    if p != int(p) or not 0 <= p <= 100:
        raise ValueError(f"percentile wants a whole number from 0 to 100, got {p!r}")
    data = sorted(v for v in values if number(v) is not None)
    if not data:
        return None
    if len(data) == 1 or p in (0, 100):  # quantiles() wants two values and gives cut points 1..99
        return float(data[-1] if p == 100 else data[0])
    return statistics.quantiles(data, n=100, method="inclusive")[int(p) - 1]


def median(values: Iterable[Any]) -> float | None:
    """The p50 of `percentile` (the same as `statistics.median` for the values that are numbers)."""
    return percentile(values, 50)
