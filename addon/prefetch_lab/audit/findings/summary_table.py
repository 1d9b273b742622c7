"""The summary table `scripts/audit` prints at the end: one row per arm, every cell a formatted
string (formatting.py, the same words and numbers as the report). Pure module.
"""

from __future__ import annotations

from prefetch_lab.formatting import fmt_bytes, fmt_ms, fmt_percent, fmt_ratio

SUMMARY_COLUMNS = ("arm", "navigations", "TTFB p50 ms", "FCP p50 ms", "LCP p50 ms", "LCP p75 ms", "LCP ratio",
                   "accuracy", "coverage", "prerendered", "refused", "origin requests", "wasted")


def summary_rows(audit: dict) -> tuple[list[str], list[list[str]]]:
    """The terminal table: one row per arm, every cell a formatted string."""
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        rows.append([
            arm, f"{s.get('navigations') or 0:,}",
            *(fmt_ms(s.get(name), unit=False) for name in ("ttfb_ms_p50", "fcp_ms_p50", "lcp_ms_p50", "lcp_ms_p75")),
            fmt_ratio(s.get("lcp_ratio")), fmt_percent(s.get("accuracy")), fmt_percent(s.get("coverage")),
            prerendered_cell(s.get("prerenders") or {}), f"{s.get('refused') or 0:,}", f"{s.get('origin_requests') or 0:,}", fmt_bytes(s.get("wasted_bytes") or 0),
        ])
    return list(SUMMARY_COLUMNS), rows


def prerendered_cell(prerenders: dict) -> str:
    """"activated of started" ("2 of 3"); "–" when nothing was prerendered."""
    if not prerenders.get("started") and not prerenders.get("activated"):
        return "–"
    return f"{prerenders.get('activated') or 0:,} of {prerenders.get('started') or 0:,}"
