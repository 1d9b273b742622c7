"""The summary table `scripts/audit` prints at the end: one row per arm, every cell a formatted
string (formatting.py, the same words and numbers as the report). Pure module.
"""

from __future__ import annotations

from prefetch_lab.formatting import FEW_PAIRS, fmt_bytes, fmt_comparison, fmt_ms, fmt_percent, fmt_ratio

# The terminal prints the table in two parts of SPLIT_AT columns and the rest (the arm repeated),
# so each fits 100 columns.
SPLIT_AT = 7
SUMMARY_COLUMNS = ("arm", "navigations", "TTFB p50 ms", "FCP p50 ms", "LCP p50 ms", "LCP p75 ms", "LCP ratio",
                   "accuracy", "coverage", "prerendered", "refused", "origin requests", "wasted")


def summary_rows(audit: dict) -> tuple[list[str], list[list[str]]]:
    """The terminal table: one row per arm, every cell a formatted string."""
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        rows.append([
            arm, f"{s.get('navigations') or 0:,}" + (f" + {s['soft_navigations']:,} soft" if s.get("soft_navigations") else ""),
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


def verdict_lines(audit: dict) -> list[str]:
    """Per experiment arm and metric, the paired comparison with the control in words (LCP first),
    then a warning for each arm compared over fewer than 20 pairs."""
    lines, warnings = [], []
    for arm, s in (audit.get("summary") or {}).items():
        compared = s.get("vs_control")
        if not compared or (not s.get("navigations") and s.get("soft_navigations")):  # soft only: the soft headline says it
            continue
        lines.append(f"{arm} against the control (median difference, paired):")
        lines += [f"  {fmt_comparison(metric, compared.get(metric))}" for metric in ("lcp_ms", "fcp_ms", "ttfb_ms", "speed_index_ms")
                  if metric != "speed_index_ms" or metric in compared]  # Speed Index: only with filmstrips
        fewest = min((c.get("n_pairs") or 0 for c in compared.values()), default=0)
        if fewest < FEW_PAIRS:
            warnings.append(few_pairs_warning(arm, fewest))
    return lines + warnings


def few_pairs_warning(arm: str, pairs: int) -> str:
    return f"{arm}: {pairs:,} pair{'' if pairs == 1 else 's'}, fewer than {FEW_PAIRS}: a no-difference may hide a real one (add runs)"


def sampling_line(audit: dict) -> str | None:
    """With --runs auto: how many runs, and what stopped them."""
    s = audit.get("sampling") or {}
    if s.get("mode") != "auto":
        return None
    widths = ", ".join(f"{arm} {'–' if w is None else f'{w:g}'}" for arm, w in (s.get("lcp_ci_half_width_ms") or {}).items())
    why = {"precision": "every LCP interval was narrow enough", "max-runs": f"--max-runs {s.get('max_runs')} reached",
           "incomplete": "the audit was cut short"}.get(s.get("stopped_by"), "?")
    return (f"--runs auto: {s.get('runs')} runs, stopped because {why} (LCP CI half-widths, ms: {widths or '–'}; "
            f"target {fmt_ms(s.get('target_half_width_ms'))})")


def baseline_lines(audit: dict) -> list[str]:
    """With --baseline: each arm's LCP against the same arm of the earlier audit (unpaired)."""
    baseline = audit.get("baseline") or {}
    lines = [f"  {arm}: {fmt_comparison('lcp_ms', by_metric.get('lcp_ms'))}" for arm, by_metric in (baseline.get("arms") or {}).items()]
    return ([f"against the baseline {baseline.get('source')} (unpaired, Mann-Whitney U):"] + lines) if lines else []
