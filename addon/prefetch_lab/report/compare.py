"""Two audits side by side (`scripts/report OLD/audit.json NEW/audit.json -o compare.html`): each
arm's p50s in both, the ratio new/old, and, when the new audit was run with `--baseline` on the
old one, its unpaired test per arm and metric (audit.json's `baseline`: the report reads the
figures, it does not compute them). Pure module.
"""

from __future__ import annotations

from prefetch_lab.formatting import METRIC_NAMES, fmt_comparison, fmt_ms, fmt_ratio
from prefetch_lab.report.arms import arm_label
from prefetch_lab.report.cells import cell, ms_cell, ratio_cell, table
from prefetch_lab.report.differences import VERDICT_TONES
from prefetch_lab.report.verdicts import environment_line, settings_line, verdicts
from prefetch_lab.stats import ratio

METRICS = ("lcp_ms", "fcp_ms", "ttfb_ms")


def side_by_side_table(old: dict, new: dict) -> dict:
    columns = ["arm", "metric", "old p50", "new p50", "new / old", "test (new − old, unpaired)"]
    rows = []
    old_summary, new_summary = old.get("summary") or {}, new.get("summary") or {}
    tests = (new.get("baseline") or {}).get("arms") or {}
    for arm in [a for a in new_summary if a in old_summary]:
        for metric in METRICS:
            before, after = old_summary[arm].get(f"{metric}_p50"), new_summary[arm].get(f"{metric}_p50")
            c = (tests.get(arm) or {}).get(metric)
            rows.append([cell(arm_label(arm), arm), cell(METRIC_NAMES[metric]), ms_cell(before), ms_cell(after),
                         ratio_cell(ratio(after, before)),
                         cell(fmt_comparison(metric, c) if c else "– (run the new audit with --baseline OLD/audit.json)",
                              (c or {}).get("median_diff_ms") or 0, tone=VERDICT_TONES.get((c or {}).get("verdict")))])
    return table(columns, rows, {"old p50", "new p50", "new / old"})


def forest_rows(new: dict) -> dict:
    rows = []
    for arm, by_metric in ((new.get("baseline") or {}).get("arms") or {}).items():
        for metric in METRICS:
            c = by_metric.get(metric) or {}
            if c.get("ci95_ms"):
                rows.append({"arm": arm, "label": f"{arm_label(arm)} · {METRIC_NAMES[metric]}", "median": c["median_diff_ms"],
                             "low": c["ci95_ms"][0], "high": c["ci95_ms"][1], "verdict": c.get("verdict"),
                             "text": fmt_comparison(metric, c)})
    return {"rows": rows}


def compare_view(old: dict, new: dict, old_source: str, new_source: str) -> dict:
    only = sorted(set(old.get("summary") or {}) ^ set(new.get("summary") or {}))
    lcp = {name: (doc.get("summary") or {}).get("control", {}).get("lcp_ms_p50") for name, doc in (("old", old), ("new", new))}
    return {
        "kind": "compare",
        "title": f"Prefetch Lab: two audits of {new.get('url')}",
        "url": new.get("url"),
        "complete": old.get("complete", True) and new.get("complete", True),
        "problem": "; ".join(p for p in (old.get("problem"), new.get("problem")) if p) or None,
        "settings_line": f"old ({old_source}): {settings_line(old)}",
        "environment_line": f"new ({new_source}): {settings_line(new)}",
        "headline": (f"Control LCP p50: {fmt_ms(lcp['old'])} before, {fmt_ms(lcp['new'])} now "
                     f"({fmt_ratio(ratio(lcp['new'], lcp['old']))})."),
        "more_verdicts": [f"Before: {line}" for line in verdicts(old)] + [f"Now: {line}" for line in verdicts(new)],
        "pair_warnings": [f"Arms in one audit only (not compared): {', '.join(only)}."] if only else [],
        "environments": [environment_line(old), environment_line(new)],
        "compare_table": side_by_side_table(old, new),
        "series": {"forest": forest_rows(new)},
    }
