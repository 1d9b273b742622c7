"""stats.percentile, the one percentile of the audit, the report and the benchmark: the stdlib's
statistics.quantiles(method="inclusive"), the same definition as the linear interpolation the
audit used before (numpy's default, R type 7)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from prefetch_lab.stats import median, number, percentile


def r7(values: list[float], p: float) -> float:
    """The audit's percentile before stats.py: rank p/100·(n−1), interpolated between its neighbours."""
    data = sorted(values)
    rank = p / 100 * (len(data) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


SAMPLES = [
    [1, 2, 3, 4],
    [10, 20, 30, 40, 50],
    [15, 20, 35, 40, 50],
    [3.5, 1.25],
    [312.3, 298.1, 1204.9, 655.0, 455.5, 310.2, 299.9],  # browser timings, 0.1 ms apart
    [0.004, 0.0031, 0.0052, 0.0047, 0.0039, 0.0044, 0.0061, 0.0035, 0.0041, 0.0050, 0.0033],  # bench latencies, s
    list(range(1, 101)),
    [5] * 9,
]


@pytest.mark.parametrize("values", SAMPLES)
@pytest.mark.parametrize("p", [1, 5, 25, 50, 75, 90, 95, 99])
def test_the_same_values_as_the_linear_interpolation_it_replaced(values, p):
    # The same definition, computed another way: equal up to the last bits of a float.
    assert percentile(values, p) == pytest.approx(r7(values, p), rel=1e-12, abs=1e-12)


def test_the_same_on_random_samples():
    rng = random.Random(7)
    for _ in range(500):
        values = [round(rng.uniform(1, 5000), rng.choice((0, 1, 3))) for _ in range(rng.randint(2, 40))]
        for p in (50, 75, 99):
            assert percentile(values, p) == pytest.approx(r7(values, p), rel=1e-12)


def test_known_values():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([1, 2, 3, 4], 75) == 3.25
    assert percentile([10, 20, 30, 40, 50], 75) == 40.0
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)


def test_ends_one_value_and_none():
    assert percentile([4, 1, 9], 0) == 1.0 and percentile([4, 1, 9], 100) == 9.0
    assert percentile([7], 75) == 7.0 and percentile([7], 0) == 7.0 and percentile([7], 100) == 7.0
    assert percentile([], 50) is None
    assert percentile([None, float("nan")], 50) is None


def test_only_numbers_count():
    assert percentile([3, None, float("nan"), 1, "x", True, float("inf")], 50) == 2.0


def test_p_is_a_whole_number_from_0_to_100():
    assert percentile([1, 2], 50.0) == 1.5
    for p in (-1, 101, 99.5):
        with pytest.raises(ValueError):
            percentile([1, 2], p)


def test_median_is_the_p50_and_the_stdlib_median():
    for values in SAMPLES:
        assert median(values) == percentile(values, 50)
        assert median(values) == pytest.approx(statistics.median(values), rel=1e-12)
    assert median([2.0, None, 4.0]) == 3.0 and median([]) is None


def test_number():
    assert number(3) == 3.0 and number(2.5) == 2.5
    assert number(None) is None and number(float("nan")) is None and number(True) is None and number("1") is None
