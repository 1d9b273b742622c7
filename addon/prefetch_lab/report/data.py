"""What the report shows, from an audit (`prefetch-lab-audit/1`) and its raw runs: the verdict
sentences, the tables (every cell already formatted, with a sort key) and the plain series the
charts are drawn from (reportcharts.py turns them into Plotly figures).

Pure module: plain dicts in, plain dicts out; no mitmproxy, no Playwright, no Plotly. Numbers are
formatted here and only here, so a value reads the same in a sentence, a table and a chart label.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any
from urllib.parse import urlsplit

from prefetch_lab.audit.analysis import normalize_url, number, origin_aliases, percentile
from prefetch_lab.formatting import fmt_bytes, fmt_count, fmt_ms, fmt_percent, fmt_ratio, fmt_signed_ms  # noqa: F401

ARM_LABELS = {
    "control": "control (nothing injected)",
    "speculation": "speculation rules",
    "edgio": "Edgio's install.js",
    "both": "both mechanisms",
    "learned": "learned speculation rules",
}
# The learned arm's side-by-side: the fixed (conservative) rules it is meant to beat, and the control.
LEARNED_COMPARISON_ARMS = ("control", "speculation", "learned")
# Why a navigation was not prefetched (auditadvice codes), as the end of "… because …".
BECAUSE = {
    "edge-cold": "the edge was cold",
    "excluded-by-rule": "a rule excluded the page",
    "origin-uncacheable": "the origin forbids caching the page",
    "origin-error": "the origin failed",
    "edge-refused": "the edge refused the prefetch",
    "prefetch-failed": "the prefetch failed",
    "chromium-refused": "Chromium refused the prefetch",
    "csp-blocked": "the page's CSP blocked install.js",
    "not-injected": "install.js was not injected",
    "prefetched-not-used": "the prefetch was not used",
    "link-not-found": "the walk did not find the link",
    "not-triggered": "nothing triggered a prefetch",
}
OUTCOMES = ("used", "served, not used", "forwarded to the origin", "refused", "not sent by Chromium")


# ---- formatting: formatting.py, the one place numbers become text -------------------------

def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def arm_label(arm: str) -> str:
    return ARM_LABELS.get(arm, arm)


def short_url(url: str | None, site: str | None) -> str:
    """Path and query for the audited site's own URLs, the whole URL for others."""
    if not url:
        return "–"
    parts, home = urlsplit(url), urlsplit(site or "")
    if (parts.scheme, parts.netloc) == (home.scheme, home.netloc):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url


def cell(text: Any, sort: Any = None, title: str | None = None, tone: str | None = None) -> dict:
    """A table cell: what it shows, what it sorts by (numbers sort as numbers), an optional tooltip
    and tone (good / bad) for the stylesheet."""
    sort_key = sort if sort is not None else text
    if isinstance(sort_key, bool):
        sort_key = int(sort_key)
    return {"text": str(text), "sort": sort_key if isinstance(sort_key, (int, float)) else str(sort_key),
            "numeric": isinstance(sort_key, (int, float)), "title": title, "tone": tone}


def ms_cell(value: float | None) -> dict:
    return cell(fmt_ms(value), value if value is not None else -1)


def ratio_cell(value: float | None) -> dict:
    tone = None if value is None or value == 1 else ("good" if value < 0.95 else "bad" if value > 1.05 else None)
    return cell(fmt_ratio(value), value if value is not None else -1, tone=tone)


def table(columns: list[str], rows: list[list[dict]], numeric: set[str] = frozenset()) -> dict:
    return {"columns": [{"label": c, "numeric": c in numeric} for c in columns], "rows": rows}


# ---- the audit --------------------------------------------------------------------------------

def control_arm(audit: dict) -> str | None:
    arms = list((audit.get("summary") or {}))
    return "control" if "control" in arms else None


def after_landing(audit: dict, arm: str) -> list[dict]:
    """The navigations the summary is computed over: steps ≥ 1 of the arm, all runs pooled."""
    return [n for n in audit.get("navigations") or [] if n.get("arm") == arm and (n.get("step") or 0) >= 1]


def p75(audit: dict, arm: str, metric: str) -> float | None:
    """The p75 the summary does not carry (TTFB, FCP), computed as the summary computes its own."""
    value = percentile([n[metric] for n in after_landing(audit, arm) if number(n.get(metric)) is not None], 75)
    return None if value is None else round(value, 1)


def not_prefetched_clause(audit: dict, arm: str) -> str:
    reasons = Counter(n.get("not_prefetched_reason") or "unknown" for n in after_landing(audit, arm)
                      if not n.get("prefetched"))
    parts = [f"{count:,} because {BECAUSE.get(code, code)}" for code, count in reasons.most_common()]
    if not parts:
        return ""
    total = sum(reasons.values())
    verb = "was" if total == 1 else "were"
    if len(parts) == 1:
        return f"; {total:,} {verb} not prefetched because {BECAUSE.get(reasons.most_common()[0][0], 'of an unknown reason')}"
    return f"; {total:,} {verb} not prefetched ({', '.join(parts)})"


def verdict(audit: dict, arm: str) -> str:
    """One sentence: what the arm did to LCP p50 (TTFB when no LCP was measured), on how many navigations."""
    summary = audit["summary"]
    s, control = summary[arm], summary.get(control_arm(audit) or "")
    metric, name = ("lcp", "LCP") if s.get("lcp_ms_p50") is not None else ("ttfb", "TTFB")
    navigations, prefetched = s.get("navigations") or 0, s.get("prefetched_navigations") or 0
    reach = f"{prefetched:,} of {plural(navigations, 'navigation')} {'was' if prefetched == 1 else 'were'} prefetched"
    if control and control.get(f"{metric}_ms_p50") is not None and s.get(f"{metric}_ms_p50") is not None:
        change = (f"{name} p50 went from {fmt_ms(control[f'{metric}_ms_p50'])} to {fmt_ms(s[f'{metric}_ms_p50'])} "
                  f"({fmt_ratio(s.get(f'{metric}_ratio'))})")
    else:
        change = f"{name} p50 was {fmt_ms(s.get(f'{metric}_ms_p50'))} (no control arm to compare with)"
    return f"With {arm_label(arm)}, {change}; {reach}{not_prefetched_clause(audit, arm)}."


def verdicts(audit: dict) -> list[str]:
    """One sentence per experiment arm, the one that helped LCP most first."""
    control = control_arm(audit)
    summary = audit.get("summary") or {}
    arms = [arm for arm in summary if arm != control]
    if not arms:
        s = summary.get(control or "", {})
        return [f"Control only: LCP p50 was {fmt_ms(s.get('lcp_ms_p50'))} over {plural(s.get('navigations') or 0, 'navigation')}; "
                "add an experiment arm (--arms control,speculation,edgio) to see what prefetching buys."] if s else \
               ["The audit measured no navigation."]
    ranked = sorted(arms, key=lambda a: (summary[a].get("lcp_ratio") is None, summary[a].get("lcp_ratio") or 0))
    return [verdict(audit, arm) for arm in ranked]


def timing_table(audit: dict) -> dict:
    columns = ["arm", "navigations"]
    for name in ("TTFB", "FCP", "LCP"):
        columns += [f"{name} p50", f"{name} p75", f"{name} p50 ratio"]
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        row = [cell(arm_label(arm), arm), cell(fmt_count(s.get("navigations")), s.get("navigations") or 0)]
        for metric in ("ttfb", "fcp", "lcp"):
            high = s.get("lcp_ms_p75") if metric == "lcp" else p75(audit, arm, f"{metric}_ms")
            row += [ms_cell(s.get(f"{metric}_ms_p50")), ms_cell(high), ratio_cell(s.get(f"{metric}_ratio"))]
        rows.append(row)
    return table(columns, rows, set(columns[1:]))


def prefetch_table(audit: dict) -> dict:
    columns = ["arm", "prefetches", "used", "accuracy", "coverage", "refused", "origin requests",
               "wasted bytes", "double fetches", "contention (mean / max)", "prerenders"]
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        refused = s.get("refused") or 0
        reasons = ", ".join(f"{r} {c:,}" for r, c in (s.get("refused_by_reason") or {}).items())
        for_prefetch = s.get("origin_requests_for_prefetches") or 0
        contention = s.get("contention") or {}
        rows.append([
            cell(arm_label(arm), arm),
            cell(fmt_count(s.get("prefetches") or 0), s.get("prefetches") or 0,
                 title=", ".join(f"{m} {c:,}" for m, c in (s.get("prefetches_by_mechanism") or {}).items()) or None),
            cell(fmt_count(s.get("used") or 0), s.get("used") or 0),
            cell(fmt_percent(s.get("accuracy")), s.get("accuracy") if s.get("accuracy") is not None else -1),
            cell(f"{fmt_percent(s.get('coverage'))} ({s.get('prefetched_navigations') or 0:,} of {s.get('navigations') or 0:,})",
                 s.get("coverage") if s.get("coverage") is not None else -1),
            cell(f"{refused:,}" + (f" ({reasons})" if reasons else ""), refused),
            cell(f"{s.get('origin_requests') or 0:,}" + (f" ({for_prefetch:,} for prefetches)" if for_prefetch else ""),
                 s.get("origin_requests") or 0),
            cell(fmt_bytes(s.get("wasted_bytes") or 0), s.get("wasted_bytes") or 0),
            cell(fmt_count(s.get("double_fetches") or 0), s.get("double_fetches") or 0),
            cell(f"{contention.get('mean') if contention.get('mean') is not None else '–'} / "
                 f"{contention.get('max') if contention.get('max') is not None else '–'}",
                 contention.get("mean") if contention.get("mean") is not None else -1),
            prerender_cell(s.get("prerenders") or {}),
        ])
    return table(columns, rows, set(columns[1:]))


def prerender_cell(prerenders: dict) -> dict:
    """activated / started / offered, Chromium's failure reasons in the tooltip."""
    counts = [prerenders.get(k) or 0 for k in ("activated", "started", "offered")]
    failed = ", ".join(f"{r} {c:,}" for r, c in (prerenders.get("failed_by_reason") or {}).items())
    if not any(counts):
        return cell("–", -1)
    return cell(" / ".join(f"{c:,}" for c in counts), counts[0], title=f"failed: {failed}" if failed else None)


def learned_comparison(audit: dict) -> dict | None:
    """The learned arm beside the fixed conservative rules and the control, metric by metric
    (rows), when the audit has the learned and the speculation arm; else None."""
    summary = audit.get("summary") or {}
    if "learned" not in summary or "speculation" not in summary:
        return None
    arms = [a for a in LEARNED_COMPARISON_ARMS if a in summary]
    rows_of = [
        ("LCP p50", lambda s: ms_cell(s.get("lcp_ms_p50"))),
        ("LCP p50 ratio", lambda s: ratio_cell(s.get("lcp_ratio"))),
        ("LCP p75", lambda s: ms_cell(s.get("lcp_ms_p75"))),
        ("TTFB p50", lambda s: ms_cell(s.get("ttfb_ms_p50"))),
        ("accuracy", lambda s: cell(fmt_percent(s.get("accuracy")))),
        ("coverage", lambda s: cell(f"{fmt_percent(s.get('coverage'))} ({s.get('prefetched_navigations') or 0:,} of "
                                    f"{s.get('navigations') or 0:,})")),
        ("served by a prerender", lambda s: cell(fmt_count((s.get("served_from") or {}).get("prerender") or 0))),
        ("prerenders activated / started / offered", lambda s: prerender_cell(s.get("prerenders") or {})),
        ("prefetches (prerenders among them)", lambda s: cell(
            f"{s.get('prefetches') or 0:,} ({(s.get('prefetches_by_kind') or {}).get('prerender') or 0:,})")),
        ("wasted bytes", lambda s: cell(fmt_bytes(s.get("wasted_bytes") or 0))),
        ("origin requests", lambda s: cell(fmt_count(s.get("origin_requests") or 0))),
    ]
    columns = ["metric", *(arm_label(a) for a in arms)]
    rows = [[cell(name), *(value(summary[a]) for a in arms)] for name, value in rows_of]
    return table(columns, rows)


def training_line(audit: dict) -> str | None:
    training = audit.get("training")
    if not training:
        return None
    s = audit.get("settings") or {}
    return (f"The learned arm was trained on {plural(training.get('walks') or 0, 'walk')} "
            f"({plural(training.get('pages') or 0, 'page view')}) of the same {s.get('walk', 'skewed')} walker "
            f"(skew {s.get('skew', '?')}) with other seeds than the measured walk, then measured with learning off.")


def navigations_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["arm", "run", "step", "page", "trigger", "served from", "deliveryType", "edge", "TTFB", "FCP",
               "LCP", "load", "transfer", "contention", "not prefetched because"]
    rows = []
    for n in audit.get("navigations") or []:
        reason = n.get("not_prefetched_reason")
        because = "" if reason in (None, "control") else BECAUSE.get(reason, reason)
        rows.append([
            cell(n["arm"]), cell(str(n["run"] + 1), n["run"]), cell(str(n["step"]), n["step"]),
            cell(short_url(n.get("url"), site), title=n.get("url")), cell(n.get("trigger") or "–"),
            cell(n.get("served_from") or "–", tone="good" if n.get("prefetched") else None),
            cell(n.get("delivery_type") or "(network)"), cell(n.get("edge_caching_status") or "–"),
            ms_cell(n.get("ttfb_ms")), ms_cell(n.get("fcp_ms")), ms_cell(n.get("lcp_ms")), ms_cell(n.get("load_ms")),
            cell(fmt_bytes(n.get("transfer_bytes")), n.get("transfer_bytes") or 0),
            cell(fmt_count(n.get("contention")), n.get("contention") if n.get("contention") is not None else -1),
            cell(because or "–", title=n.get("not_prefetched_detail") if because else None),
        ])
    return table(columns, rows, {"run", "step", "TTFB", "FCP", "LCP", "load", "transfer", "contention"})


def prefetches_table(audit: dict) -> dict:
    site = audit.get("url")
    columns = ["arm", "run", "from step", "URL", "mechanism", "kind", "edge", "edge reason", "status", "Chromium status",
               "used", "bytes", "start after load"]
    rows = []
    for p in audit.get("prefetches") or []:
        rows.append([
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
        ])
    return table(columns, rows, {"run", "from step", "status", "bytes", "start after load"})


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


def settings_line(audit: dict) -> str:
    s = audit.get("settings") or {}
    parts = [f"arms {', '.join(s.get('arms') or audit.get('summary') or [])}", plural(s.get("runs") or 0, "run"),
             plural(s.get("pages") or 0, "page"), f"edge {s.get('edge', '?')}",
             f"origin +{s.get('origin_delay_ms', 0):,} ms", f"edge +{s.get('edge_delay_ms', 0):,} ms",
             f"throttle {s.get('throttle', 'none')}", f"eagerness {s.get('eagerness', '?')}"]
    if s.get("mobile"):
        parts.append("mobile")
    if s.get("train"):
        parts.append(f"{s.get('walk', 'skewed')} walk, trained on {plural(s['train'], 'walk')}")
    return " · ".join(parts)


def environment_line(audit: dict) -> str:
    e = audit.get("environment") or {}
    parts = [f"Prefetch Lab {e.get('prefetch_lab', '?')}", f"Chromium {e.get('chromium') or '?'}",
             f"mitmproxy {e.get('mitmproxy', '?')}", f"Python {e.get('python', '?')}"]
    if e.get("cpu_count"):
        parts.append(f"{e['cpu_count']} CPUs, load {e.get('load_average') or 0:.2f}")
    return " · ".join(parts)


# ---- chart series -------------------------------------------------------------------------------

def page_label(step: int, url: str | None, site: str | None) -> str:
    return f"{step} {short_url(url, site)}"


def per_page_series(audit: dict, metric: str) -> dict:
    """Each arm's values of one metric, page by page (steps ≥ 1), one value per run."""
    site = audit.get("url")
    walk = {w["step"]: w.get("url") for w in audit.get("walk") or []}
    arms = []
    for arm in audit.get("summary") or {}:
        navs = sorted(after_landing(audit, arm), key=lambda n: (n["step"], n["run"]))
        arms.append({"arm": arm, "label": arm_label(arm),
                     "pages": [page_label(n["step"], walk.get(n["step"], n.get("url")), site) for n in navs],
                     "runs": [n["run"] + 1 for n in navs],
                     "values": [n.get(metric) for n in navs],
                     "texts": [fmt_ms(n.get(metric)) for n in navs]})
    runs = max((len(set(a["runs"])) for a in arms), default=0)
    return {"metric": metric, "arms": [a for a in arms if a["values"]], "runs": runs}


def outcome(prefetch: dict) -> str:
    if prefetch.get("used"):
        return "used"
    edge = prefetch.get("edge")
    if edge in ("hit", "stale"):
        return "served, not used"
    if edge == "forwarded":
        return "forwarded to the origin"
    if edge == "refused":
        return f"refused: {prefetch.get('edge_reason') or '?'}"
    return "not sent by Chromium"


def outcome_series(audit: dict) -> dict:
    """Per experiment arm: prefetches by what became of them, refusals split by the edge's reason."""
    control = control_arm(audit)
    arms = [a for a in audit.get("summary") or {} if a != control]
    counts = {a: Counter() for a in arms}
    for p in audit.get("prefetches") or []:
        if p.get("arm") in counts:
            counts[p["arm"]][outcome(p)] += 1
    seen = {o for c in counts.values() for o in c}
    present = sorted(seen, key=lambda o: (OUTCOMES.index(o.split(":")[0]), o))
    return {"arms": [arm_label(a) for a in arms],
            "outcomes": [{"name": o, "counts": [counts[a][o] for a in arms]} for o in present]}


def reason_series(audit: dict) -> dict:
    """Per experiment arm: navigations after the first that were not prefetched, by reason."""
    control = control_arm(audit)
    arms = [a for a in audit.get("summary") or {} if a != control]
    counts: dict[str, Counter] = {a: Counter() for a in arms}
    for arm in arms:
        for n in after_landing(audit, arm):
            if not n.get("prefetched"):
                counts[arm][n.get("not_prefetched_reason") or "unknown"] += 1
    reasons = sorted({r for c in counts.values() for r in c}, key=lambda r: -sum(c[r] for c in counts.values()))
    return {"reasons": reasons, "labels": [BECAUSE.get(r, r) for r in reasons],
            "arms": [{"arm": a, "label": arm_label(a), "counts": [counts[a][r] for r in reasons]}
                     for a in arms if sum(counts[a].values())]}


def request_kind(entry: dict) -> str:
    if entry.get("renderBlockingStatus") == "blocking":
        return "render-blocking"
    if "/__edgio__/" in str(entry.get("name") or ""):
        return "Prefetch Lab's own files"
    return "other request"


def waterfall(audit: dict, run_data: dict, step: dict, prefetches: list[dict]) -> dict | None:
    """One page of one (arm, run): the document and every Resource Timing entry as bars, the
    prefetches the edge saw from that page as points (the edge records when it decided), the paint
    and load lines. Times are ms since the page's navigation start."""
    page = step.get("page") if isinstance(step.get("page"), dict) else None
    origin = number(page.get("time_origin")) if page else None
    if page is None or origin is None:
        return None
    site = audit.get("url")
    # In reverse mode the browser's URLs carry the proxy's address: show the site's own.
    aliases = origin_aliases(run_data.get("proxy_address"), run_data.get("steps") or [])

    def name(url: str | None) -> str:
        return short_url(normalize_url(url, aliases), site)

    nav = page.get("nav") or {}
    activation = number(nav.get("activationStart")) or 0.0
    document_kind = "document (" + (nav.get("deliveryType") or "network") + ")"
    bars = [{"label": "document " + name(page.get("url")), "kind": document_kind,
             "start": number(nav.get("startTime")) or 0.0,
             "end": number(nav.get("responseEnd")) or number(nav.get("responseStart")) or 0.0,
             "detail": f"TTFB {fmt_ms(number(nav.get('responseStart')))} · {nav.get('deliveryType') or 'network'}"}]
    for entry in sorted((e for e in page.get("resources") or [] if isinstance(e, dict)),
                        key=lambda e: number(e.get("startTime")) or 0):
        start, end = number(entry.get("startTime")) or 0.0, number(entry.get("responseEnd")) or 0.0
        delivery = entry.get("deliveryType") or "network"
        bars.append({"label": name(entry.get("name")), "kind": request_kind(entry), "start": start,
                     "end": max(end, start),
                     "detail": f"{entry.get('initiatorType') or '?'} · {delivery} · {fmt_bytes(number(entry.get('transferSize')))} "
                               f"· {fmt_ms(max(end, start) - start)}"})
    points = [{"label": "prefetch " + short_url(p.get("url"), site), "mechanism": p.get("mechanism") or "?",
               "edge": p.get("edge") or "?", "at": p["ts"] * 1000 - origin,
               "detail": f"{p.get('mechanism')} · edge {p.get('edge')}"
                         + (f" ({p['edge_reason']})" if p.get("edge_reason") and p.get("edge_reason") != p.get("edge") else "")
                         + (" · used" if p.get("used") else "")}
              for p in prefetches if number(p.get("ts")) is not None]
    lines = {name: value for name, value in (
        ("FCP", number(page.get("fcp"))), ("LCP", number(page.get("lcp"))),
        ("load", number(nav.get("loadEventEnd")) or None)) if value is not None}
    return {"arm": run_data.get("arm"), "label": arm_label(str(run_data.get("arm"))), "bars": bars,
            "points": points, "lines": lines, "activation": activation}


def waterfall_series(audit: dict, runs: list[dict] | None) -> list[dict]:
    """One entry per (run, step) of the walk: that page's waterfall in every arm, the control first."""
    if not runs:
        return []
    order = list(audit.get("summary") or {})
    by_key: dict[tuple[int, int], list[dict]] = defaultdict(list)
    prefetches = defaultdict(list)
    for p in audit.get("prefetches") or []:
        prefetches[(p.get("arm"), p.get("run"), p.get("step"))].append(p)
    for run_data in sorted(runs, key=lambda r: (order.index(r["arm"]) if r.get("arm") in order else len(order))):
        for step in run_data.get("steps") or []:
            number_ = step.get("step")
            drawn = waterfall(audit, run_data, step, prefetches[(run_data.get("arm"), run_data.get("run"), number_)])
            if drawn:
                by_key[(run_data.get("run") or 0, number_)].append(drawn)
    walk = {w["step"]: w.get("url") for w in audit.get("walk") or []}
    return [{"key": f"run{run}-step{step}", "run": run, "step": step,
             "title": f"run {run + 1} · step {step} · {short_url(walk.get(step), audit.get('url'))}", "arms": arms}
            for (run, step), arms in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1]))]


def default_waterfall(waterfalls: list[dict]) -> str | None:
    """The first page after the landing page: the first one a prefetch can have served."""
    later = [w for w in waterfalls if w["step"] >= 1]
    return (later or waterfalls or [{"key": None}])[0]["key"]


# ---- everything the template needs ---------------------------------------------------------------

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
        "timing_table": timing_table(audit),
        "prefetch_table": prefetch_table(audit),
        "learned_table": learned_comparison(audit),
        "training_line": training_line(audit),
        "navigations_table": navigations_table(audit),
        "prefetches_table": prefetches_table(audit),
        "double_fetches_table": double_fetches_table(audit),
        "advice_table": advice_table(audit),
        "console_errors": [f"{e.get('arm')} run {(e.get('run') or 0) + 1}: {e.get('text')}"
                           for e in audit.get("console_errors") or []],
        "series": {
            "lcp": per_page_series(audit, "lcp_ms"),
            "ttfb": per_page_series(audit, "ttfb_ms"),
            "outcomes": outcome_series(audit),
            "reasons": reason_series(audit),
            "waterfalls": waterfalls,
            "default_waterfall": default_waterfall(waterfalls),
        },
    }
