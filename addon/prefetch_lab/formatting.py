"""How numbers become text, the same way everywhere a person compares them: the report, the
terminal summary (ms as whole numbers with thousands separators, ratios to two decimals, shares
as whole percent). Pure module."""

from __future__ import annotations

NONE = "–"  # not measured / not applicable


def fmt_ms(value: float | None, unit: bool = True) -> str:
    return NONE if value is None else f"{round(value):,}" + (" ms" if unit else "")


def fmt_signed_ms(value: float | None) -> str:
    return NONE if value is None else f"{round(value):+,} ms"


def fmt_ratio(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}×"


def fmt_percent(value: float | None) -> str:
    return NONE if value is None else f"{value * 100:.0f} %"


def fmt_bytes(value: float | None) -> str:
    if value is None:
        return NONE
    if abs(value) < 1024:
        return f"{int(value):,} B"
    if abs(value) < 1024 * 1024:
        return f"{value / 1024:,.1f} KB"
    return f"{value / 1024 / 1024:,.1f} MB"


def fmt_count(value: int | None) -> str:
    return NONE if value is None else f"{value:,}"
