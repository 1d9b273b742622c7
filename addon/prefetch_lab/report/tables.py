"""The report's tables, from an audit: timings and prefetch figures per arm, the learned arm's
side-by-side, and one row per navigation, prefetch, double fetch and piece of advice. Every cell
is already formatted and carries its sort key (cells.py). Pure module.
"""

from __future__ import annotations

from prefetch_lab.formatting import fmt_bytes, fmt_count, fmt_percent, fmt_signed_ms
from prefetch_lab.report.arms import LEARNED_COMPARISON_ARMS, after_landing, arm_label
from prefetch_lab.report.cells import BECAUSE, cell, ms_cell, ratio_cell, short_url, table
from prefetch_lab.stats import ms, percentile


def p75(audit: dict, arm: str, metric: str) -> float | None:
    """The p75 the summary does not carry (TTFB, FCP), computed as the summary computes its own."""
    return ms(percentile([n.get(metric) for n in after_landing(audit, arm)], 75))


def timing_table(audit: dict) -> dict:
    columns = ["arm", "navigations"]
    painted = has_paint_figures(audit)
    for name in ("TTFB", "FCP", "LCP"):
        if name == "LCP" and painted:  # between FCP and LCP, so the LCP columns stay last
            columns += ["Speed Index p50", "Speed Index p50 ratio", "CLS p50"]
        columns += [f"{name} p50", f"{name} p75", f"{name} p50 ratio"]
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        row = [cell(arm_label(arm), arm), cell(fmt_count(s.get("navigations")), s.get("navigations") or 0)]
        for metric in ("ttfb", "fcp", "lcp"):
            if metric == "lcp" and painted:
                row += paint_cells(s)
            high = s.get("lcp_ms_p75") if metric == "lcp" else p75(audit, arm, f"{metric}_ms")
            row += [ms_cell(s.get(f"{metric}_ms_p50")), ms_cell(high), ratio_cell(s.get(f"{metric}_ratio"))]
        rows.append(row)
    return table(columns, rows, set(columns[1:]))


def has_paint_figures(audit: dict) -> bool:
    """Audits with filmstrips or CLS (issue 19) show Speed Index and CLS per arm."""
    return any(s.get("speed_index_ms_p50") is not None or s.get("cls_p50") is not None
               for s in (audit.get("summary") or {}).values())


def paint_cells(s: dict) -> list[dict]:
    cls = s.get("cls_p50")
    return [ms_cell(s.get("speed_index_ms_p50")), ratio_cell(s.get("speed_index_ratio")),
            cell("–" if cls is None else f"{cls:.3f}", cls if cls is not None else -1)]


BREAKDOWN_PARTS = (("ttfb_ms", "TTFB"), ("load_delay_ms", "resource load delay"),
                   ("load_time_ms", "resource load time"), ("render_delay_ms", "element render delay"))


def lcp_breakdown_series(audit: dict) -> dict:
    """Per arm, the p50 of each LCP part (summary.<arm>.lcp_breakdown_p50), for the stacked bars."""
    arms = [(arm, s["lcp_breakdown_p50"]) for arm, s in (audit.get("summary") or {}).items() if s.get("lcp_breakdown_p50")]
    return {"arms": [arm_label(arm) for arm, _ in arms],
            "parts": [{"name": name, "values": [b.get(key) for _, b in arms]} for key, name in BREAKDOWN_PARTS]}


def prefetch_table(audit: dict) -> dict:
    columns = ["arm", "prefetches", "used", "accuracy", "coverage", "refused", "origin requests",
               "wasted bytes", "double fetches", "contention (mean / max)", "prerenders"]
    rows = [prefetch_row(arm, s) for arm, s in (audit.get("summary") or {}).items()]
    return table(columns, rows, set(columns[1:]))


def prefetch_row(arm: str, s: dict) -> list[dict]:
    refused = s.get("refused") or 0
    reasons = ", ".join(f"{r} {c:,}" for r, c in (s.get("refused_by_reason") or {}).items())
    for_prefetch = s.get("origin_requests_for_prefetches") or 0
    return [
        cell(arm_label(arm), arm),
        cell(fmt_count(s.get("prefetches") or 0), s.get("prefetches") or 0,
             title=", ".join(f"{m} {c:,}" for m, c in (s.get("prefetches_by_mechanism") or {}).items()) or None),
        cell(fmt_count(s.get("used") or 0), s.get("used") or 0),
        cell(fmt_percent(s.get("accuracy")), s.get("accuracy") if s.get("accuracy") is not None else -1),
        coverage_cell(s),
        cell(f"{refused:,}" + (f" ({reasons})" if reasons else ""), refused),
        cell(f"{s.get('origin_requests') or 0:,}" + (f" ({for_prefetch:,} for prefetches)" if for_prefetch else ""),
             s.get("origin_requests") or 0),
        cell(fmt_bytes(s.get("wasted_bytes") or 0), s.get("wasted_bytes") or 0),
        cell(fmt_count(s.get("double_fetches") or 0), s.get("double_fetches") or 0),
        contention_cell(s.get("contention") or {}),
        prerender_cell(s.get("prerenders") or {}),
    ]


def coverage_cell(s: dict, sort: bool = True) -> dict:
    """"67 % (2 of 3)": the share of navigations a prefetch served, and the counts."""
    text = f"{fmt_percent(s.get('coverage'))} ({s.get('prefetched_navigations') or 0:,} of {s.get('navigations') or 0:,})"
    return cell(text, s.get("coverage") if s.get("coverage") is not None else -1) if sort else cell(text)


def contention_cell(contention: dict) -> dict:
    mean, most = contention.get("mean"), contention.get("max")
    return cell(f"{mean if mean is not None else '–'} / {most if most is not None else '–'}",
                mean if mean is not None else -1)


def prerender_cell(prerenders: dict) -> dict:
    """activated / started / offered, Chromium's failure reasons in the tooltip."""
    counts = [prerenders.get(k) or 0 for k in ("activated", "started", "offered")]
    failed = ", ".join(f"{r} {c:,}" for r, c in (prerenders.get("failed_by_reason") or {}).items())
    if not any(counts):
        return cell("–", -1)
    return cell(" / ".join(f"{c:,}" for c in counts), counts[0], title=f"failed: {failed}" if failed else None)


# The learned arm's side-by-side: one row per figure, (label, the cell from an arm's summary).
LEARNED_ROWS = (
    ("LCP p50", lambda s: ms_cell(s.get("lcp_ms_p50"))),
    ("LCP p50 ratio", lambda s: ratio_cell(s.get("lcp_ratio"))),
    ("LCP p75", lambda s: ms_cell(s.get("lcp_ms_p75"))),
    ("TTFB p50", lambda s: ms_cell(s.get("ttfb_ms_p50"))),
    ("accuracy", lambda s: cell(fmt_percent(s.get("accuracy")))),
    ("coverage", lambda s: coverage_cell(s, sort=False)),
    ("served by a prerender", lambda s: cell(fmt_count((s.get("served_from") or {}).get("prerender") or 0))),
    ("prerenders activated / started / offered", lambda s: prerender_cell(s.get("prerenders") or {})),
    ("prefetches (prerenders among them)", lambda s: cell(
        f"{s.get('prefetches') or 0:,} ({(s.get('prefetches_by_kind') or {}).get('prerender') or 0:,})")),
    ("wasted bytes", lambda s: cell(fmt_bytes(s.get("wasted_bytes") or 0))),
    ("origin requests", lambda s: cell(fmt_count(s.get("origin_requests") or 0))),
)


def learned_comparison(audit: dict) -> dict | None:
    """The learned arm beside the fixed conservative rules and the control, metric by metric
    (rows), when the audit has the learned and the speculation arm; else None."""
    summary = audit.get("summary") or {}
    if "learned" not in summary or "speculation" not in summary:
        return None
    arms = [a for a in LEARNED_COMPARISON_ARMS if a in summary]
    columns = ["metric", *(arm_label(a) for a in arms)]
    rows = [[cell(name), *(value(summary[a]) for a in arms)] for name, value in LEARNED_ROWS]
    return table(columns, rows)


def navigations_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["arm", "run", "step", "page", "trigger", "served from", "deliveryType", "edge", "TTFB", "FCP",
               "LCP", "load", "transfer", "contention", "not prefetched because"]
    rows = [navigation_row(n, site) for n in audit.get("navigations") or []]
    return table(columns, rows, {"run", "step", "TTFB", "FCP", "LCP", "load", "transfer", "contention"})


def soft_navigations_table(audit: dict) -> dict | None:
    """Per arm, the soft navigations' own figures (never pooled with the documents'); None without any."""
    summary = audit.get("summary") or {}
    if not any(s.get("soft_navigations") for s in summary.values()):
        return None
    columns = ["arm", "soft navigations", "method", "URL change p50", "first paint p50", "largest paint p50",
               "largest paint ratio", "Speed Index p50", "route requests: browser / its cache / edge cache / origin"]
    rows = []
    for arm, s in summary.items():
        p50 = s.get("soft_navigations_p50") or {}
        routes = p50.get("route_requests") or {}
        rows.append([
            cell(arm_label(arm), arm), cell(fmt_count(s.get("soft_navigations")), s.get("soft_navigations") or 0),
            cell(", ".join(f"{m} {c}" for m, c in (p50.get("by_method") or {}).items()) or "–"),
            *(ms_cell(p50.get(m)) for m in ("url_change_ms", "first_paint_ms", "largest_paint_ms")),
            ratio_cell(s.get("soft_largest_paint_ratio")), ms_cell(p50.get("speed_index_ms")),
            cell(" / ".join(fmt_count(routes.get(part)) for part in ("browser", "from_browser_cache", "edge_cache", "origin")),
                 routes.get("browser") or 0),
        ])
    return table(columns, rows, set(columns[1:2] + columns[3:]))


def navigation_row(n: dict, site: str | None) -> list[dict]:
    reason = n.get("not_prefetched_reason")
    because = "" if reason in (None, "control") else BECAUSE.get(reason, reason)
    return [
        cell(n["arm"]), cell(str(n["run"] + 1), n["run"]), cell(str(n["step"]), n["step"]),
        cell(short_url(n.get("url"), site), title=n.get("url")),
        cell((n.get("trigger") or "–") + (" (soft)" if n.get("kind") == "soft" else "")),
        cell(n.get("served_from") or "–", tone="good" if n.get("prefetched") else None),
        cell(n.get("delivery_type") or "(network)"), cell(n.get("edge_caching_status") or "–"),
        ms_cell(n.get("ttfb_ms")), ms_cell(n.get("fcp_ms")), ms_cell(n.get("lcp_ms")), ms_cell(n.get("load_ms")),
        cell(fmt_bytes(n.get("transfer_bytes")), n.get("transfer_bytes") or 0),
        cell(fmt_count(n.get("contention")), n.get("contention") if n.get("contention") is not None else -1),
        cell(because or "–", title=n.get("not_prefetched_detail") if because else None),
    ]


def prefetches_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["arm", "run", "from step", "URL", "mechanism", "kind", "edge", "edge reason", "status", "Chromium status",
               "used", "bytes", "start after load"]
    rows = [prefetch_detail_row(p, site) for p in audit.get("prefetches") or []]
    return table(columns, rows, {"run", "from step", "status", "bytes", "start after load"})


def prefetch_detail_row(p: dict, site: str | None) -> list[dict]:
    return [
        cell(p["arm"]), cell(str(p["run"] + 1), p["run"]),
        cell("–" if p.get("step") is None else str(p["step"]), p.get("step") if p.get("step") is not None else -1),
        cell(short_url(p.get("url"), site), title=p.get("url")), cell(p.get("mechanism") or "–"),
        cell(p.get("kind") or "prefetch"),
        cell(p.get("edge") or "–", tone="bad" if p.get("edge") in ("refused", "none") else None),
        cell(p.get("edge_reason") or "–"), cell("–" if p.get("status") is None else str(p["status"]), p.get("status") or 0),
        cell(p.get("browser_status") or "–"),
        cell("yes" if p.get("used") else "no", bool(p.get("used")), tone="good" if p.get("used") else None),
        cell(fmt_bytes(p.get("bytes")), p.get("bytes") if p.get("bytes") is not None else -1),
        cell(fmt_signed_ms(p.get("start_ms_after_load")),
             p.get("start_ms_after_load") if p.get("start_ms_after_load") is not None else -1e12),
    ]


def double_fetches_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["arm", "run", "step", "URL", "kind", "reason", "detail", "prefetched by", "prefetched at step", "prefetch bytes"]
    rows = [[
        cell(d["arm"]), cell(str(d["run"] + 1), d["run"]), cell(str(d["step"]), d["step"]),
        cell(short_url(d.get("url"), site), title=d.get("url")), cell(d.get("kind") or "–"), cell(d.get("reason") or "–"),
        cell(d.get("detail") or "–"), cell(d.get("prefetch_mechanism") or "–"),
        cell("–" if d.get("prefetch_step") is None else str(d["prefetch_step"]), d.get("prefetch_step") or -1),
        cell(fmt_bytes(d.get("prefetch_bytes")), d.get("prefetch_bytes") or -1),
    ] for d in audit.get("double_fetches") or []]
    return table(columns, rows, {"run", "step", "prefetched at step", "prefetch bytes"})


def advice_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["navigations", "what happened", "arms", "examples", "remedy"]
    rows = [[
        cell(fmt_count(a.get("count")), a.get("count") or 0), cell(a.get("reason") or a.get("code"), title=a.get("code")),
        cell(", ".join(a.get("arms") or [])), cell(", ".join(short_url(u, site) for u in a.get("example_urls") or []) or "–"),
        cell(a.get("remedy") or "–"),
    ] for a in audit.get("advice") or []]
    return table(columns, rows, {"navigations"})
