import pytest

from prefetch_lab.http.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0),
        (90, 90),
        (2.9, 2),
        ("45", 45),
        (" 45 ", 45),
        ("30s", 30),
        ("5m", 300),
        ("1h", 3600),
        ("2d", 172800),
        ("1w", 604800),
        ("1y", 31536000),
        ("0s", 0),
    ],
)
def test_valid_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["soon", "", "1.5h", "1M", "1H", "h", "1 h", "1hour", "5ms", None, [1], {}, float("nan"), float("inf")])
def test_garbage_is_rejected_with_the_expected_forms(value):
    with pytest.raises(ValueError, match=r"expected a duration like 30s/5m/1h/1d/1w/1y"):
        parse_duration(value)


@pytest.mark.parametrize("value", [True, False])
def test_booleans_are_not_seconds(value):
    with pytest.raises(ValueError, match="got " + repr(value)):
        parse_duration(value)


@pytest.mark.parametrize("value", [-1, -0.5, "-5", "-5m"])
def test_negative_durations_are_rejected(value):
    with pytest.raises(ValueError, match="must not be negative"):
        parse_duration(value)


def test_message_quotes_the_value():
    with pytest.raises(ValueError) as error:
        parse_duration("soon")
    assert str(error.value) == "expected a duration like 30s/5m/1h/1d/1w/1y, got 'soon'"
