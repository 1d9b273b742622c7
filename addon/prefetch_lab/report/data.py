"""What the report shows of an audit (`prefetch-lab-audit/1`) and its raw runs, as one dict for the
template: the verdict sentences (verdicts.py), the tables with every cell formatted and given a
sort key (tables.py), and the plain series the charts are drawn from (series.py, waterfall.py;
charts.py turns them into Plotly figures). Pure, like the modules it assembles: plain dicts in,
plain dicts out, no Plotly; numbers become text in formatting.py only, so a value reads the same
in a sentence, a table and a chart label.
"""

from __future__ import annotations

from prefetch_lab.report import tables
from prefetch_lab.report.differences import few_pairs_warnings, forest_series, page_differences_table
from prefetch_lab.report.series import outcome_series, per_page_series, reason_series
from prefetch_lab.report.verdicts import environment_line, settings_line, training_line, verdicts
from prefetch_lab.report.waterfall import default_waterfall, waterfall_series


def audit_view(audit: dict, runs: list[dict] | None) -> dict:
    """The report's content for an audit; `runs` is raw/runs.json's list (None: no waterfalls)."""
    lines = verdicts(audit)
    waterfalls = waterfall_series(audit, runs)
    return {
        "kind": "audit",
        "title": f"Prefetch Lab audit of {audit.get('url')}",
        "url": audit.get("url"),
        "complete": audit.get("complete", True),
        "problem": audit.get("problem"),
        "settings_line": settings_line(audit),
        "environment_line": environment_line(audit),
        "headline": lines[0],
        "more_verdicts": lines[1:],
        # where each arm's gain came from (summary.<arm>.gain_split.explanation), under the headline
        "gain_lines": [((s.get("gain_split") or {}).get("explanation")) for s in (audit.get("summary") or {}).values()
                       if (s.get("gain_split") or {}).get("explanation")],
        "pair_warnings": few_pairs_warnings(audit),
        "page_differences_table": page_differences_table(audit),
        "timing_table": tables.timing_table(audit),
        "soft_table": tables.soft_navigations_table(audit),
        "prefetch_table": tables.prefetch_table(audit),
        "learned_table": tables.learned_comparison(audit),
        "training_line": training_line(audit),
        "navigations_table": tables.navigations_table(audit),
        "prefetches_table": tables.prefetches_table(audit),
        "double_fetches_table": tables.double_fetches_table(audit),
        "advice_table": tables.advice_table(audit),
        "console_errors": [f"{e.get('arm')} run {(e.get('run') or 0) + 1}: {e.get('text')}"
                           for e in audit.get("console_errors") or []],
        "series": {
            "forest": forest_series(audit),
            "lcp": per_page_series(audit, "lcp_ms"),
            "ttfb": per_page_series(audit, "ttfb_ms"),
            "outcomes": outcome_series(audit),
            "reasons": reason_series(audit),
            "waterfalls": waterfalls,
            "default_waterfall": default_waterfall(waterfalls),
            "lcp_breakdown": tables.lcp_breakdown_series(audit),
        },
    }
