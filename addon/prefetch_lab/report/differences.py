"""The paired differences as the report shows them (audit.json's `summary.<arm>.vs_control` and
`vs_control_pages`): the verdict lines, the warnings for few pairs, the forest plot's series and
the per-page table. Audits written before the verdicts existed have none: everything here is
then empty and the report reads as before. Pure module.
"""

from __future__ import annotations

from prefetch_lab.formatting import FEW_PAIRS, METRIC_NAMES, fmt_comparison, fmt_signed
from prefetch_lab.report.arms import arm_label, experiment_arms
from prefetch_lab.report.cells import cell, short_url, table

METRICS = ("lcp_ms", "fcp_ms", "ttfb_ms", "speed_index_ms")  # Speed Index: only with filmstrips
VERDICT_TONES = {"faster": "good", "slower": "bad"}


def compared(audit: dict, arm: str) -> dict:
    return ((audit.get("summary") or {}).get(arm) or {}).get("vs_control") or {}


def verdict_clause(audit: dict, arm: str) -> str | None:
    """The arm's LCP comparison in words (TTFB when no LCP was paired), or None without verdicts."""
    by_metric = compared(audit, arm)
    metric = "lcp_ms" if (by_metric.get("lcp_ms") or {}).get("n_pairs") else "ttfb_ms"
    return fmt_comparison(metric, by_metric[metric]) if by_metric.get(metric) else None


def few_pairs_warnings(audit: dict) -> list[str]:
    warnings = []
    for arm in experiment_arms(audit):
        pairs = [c.get("n_pairs") or 0 for c in compared(audit, arm).values()]
        if pairs and min(pairs) < FEW_PAIRS:
            warnings.append(f"{arm_label(arm)}: {min(pairs):,} pairs, fewer than {FEW_PAIRS}: a no-difference may "
                            f"hide a real difference. Add runs or pages (--runs auto adds runs until the interval is narrow).")
    return warnings


def forest_series(audit: dict) -> dict:
    """One row per (arm, metric) with an interval: label, median difference, CI, verdict."""
    rows = []
    for arm in experiment_arms(audit):
        for metric in METRICS:
            c = compared(audit, arm).get(metric) or {}
            if c.get("ci95_ms") is None:
                continue
            rows.append({"arm": arm, "label": f"{arm_label(arm)} · {METRIC_NAMES[metric]}",
                         "median": c["median_diff_ms"], "low": c["ci95_ms"][0], "high": c["ci95_ms"][1],
                         "verdict": c.get("verdict"), "text": fmt_comparison(metric, c)})
    return {"rows": rows}


def page_differences_table(audit: dict) -> dict:
    """Per experiment arm and page: LCP and TTFB, median difference with the control and its CI."""
    columns = ["arm", "page", "runs paired", "LCP difference", "LCP 95 % CI", "TTFB difference", "TTFB 95 % CI"]
    rows = []
    site = audit.get("url")
    for arm in experiment_arms(audit):
        for page in ((audit.get("summary") or {}).get(arm) or {}).get("vs_control_pages") or []:
            row = [cell(arm_label(arm), arm), cell(f"{page['step']} {short_url(page.get('url'), site)}", page["step"]),
                   cell(f"{(page.get('lcp_ms') or {}).get('n_pairs') or 0:,}", (page.get('lcp_ms') or {}).get('n_pairs') or 0)]
            for metric in ("lcp_ms", "ttfb_ms"):
                row += difference_cells(page.get(metric) or {})
            rows.append(row)
    return table(columns, rows, set(columns[2:]))


def difference_cells(c: dict) -> list[dict]:
    median, ci = c.get("median_diff_ms"), c.get("ci95_ms")
    tone = None if not ci else "good" if ci[1] < 0 else "bad" if ci[0] > 0 else None
    interval = f"[{fmt_signed(ci[0], unit=False)}, {fmt_signed(ci[1], unit=False)}]" if ci else "–"
    return [cell(fmt_signed(median), median if median is not None else 0, tone=tone),
            cell(interval, ci[0] if ci else 0)]
