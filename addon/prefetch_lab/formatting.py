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


METRIC_NAMES = {"ttfb_ms": "TTFB", "fcp_ms": "FCP", "lcp_ms": "LCP", "speed_index_ms": "Speed Index"}
FEW_PAIRS = 20  # sitespeed.io: "You should use 20+ iterations"; fewer pairs get a warning


def fmt_p(value: float | None) -> str:
    if value is None:
        return NONE
    return "< 0.001" if value < 0.001 else f"= {value:.3f}".rstrip("0").rstrip(".") if value < 1 else "= 1"


def fmt_comparison(metric: str, c: dict | None) -> str:
    """One comparison in words: "LCP −16 ms [−22, −9] (95 % CI), p = 0.002 (Holm), large
    effect, 27 pairs: faster" (summary.<arm>.vs_control.<metric> of audit.json)."""
    name = METRIC_NAMES.get(metric, metric)
    if not c:
        return f"{name}: not compared"
    pairs = f"{c.get('n_pairs') or 0:,} pair{'' if c.get('n_pairs') == 1 else 's'}"
    if "n_pairs" not in c and "n_new" in c:  # unpaired (a baseline): the two samples' sizes
        pairs = f"{c.get('n_new') or 0:,} vs {c.get('n_old') or 0:,} navigations"
    if c.get("verdict") == "insufficient-data" or c.get("ci95_ms") is None:
        return f"{name} {fmt_signed(c.get('median_diff_ms'))}, {pairs}: insufficient data"
    low, high = c["ci95_ms"]
    return (f"{name} {fmt_signed(c.get('median_diff_ms'))} [{fmt_signed(low, unit=False)}, {fmt_signed(high, unit=False)}]"
            f" (95 % CI), p {fmt_p(c.get('p_holm'))} (Holm), {c.get('effect') or '?'} effect, {pairs}: {c.get('verdict')}")


def fmt_signed(value: float | None, unit: bool = True) -> str:
    """A difference with a real minus sign ("−16 ms", "+3 ms", "0 ms")."""
    if value is None:
        return NONE
    rounded = round(value)
    text = f"{abs(rounded):,}" if rounded == 0 else f"{rounded:+,}".replace("-", "\u2212")
    return text + (" ms" if unit else "")
