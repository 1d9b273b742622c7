"""The report of a manual session: the proxy trail alone (prefetch_audit_file), no A/B part. What
was prefetched, what the edge refused and why, what it served from its cache, and when.

The trail cannot see the browser: a prefetch the browser used never comes back to the edge, so
"fetched again" (a later normal request for the same cache key) is the sign a prefetch was wasted.
Pure module (data shaping) plus the Plotly figures of the two charts.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import plotly.graph_objects as go

from prefetch_lab.formatting import fmt_bytes
from prefetch_lab.prefetch_mechanism import mechanism
from prefetch_lab.report.cells import cell, plural, short_url, table
from prefetch_lab.report.charts import BASE_LAYOUT, MECHANISM_COLORS, chart
from prefetch_lab.trail import (
    CACHE_OR_ORIGIN_EVENTS, EDGE_ANSWER_EVENTS, EDGE_HIT_EVENTS, ORIGIN_EVENTS, PREFETCH_EVENTS, summarize)
from prefetch_lab.url_keys import normalize_url

NORMAL_EVENTS = CACHE_OR_ORIGIN_EVENTS  # a request's answer, from the edge's cache or the origin
LANES = {  # timeline lane per event, top to bottom, with its colour
    "prefetch-hit": ("prefetch served from the edge cache", "#3c9a5f"),
    "prefetch-refused": ("prefetch refused by the edge", "#c9473d"),
    "prefetch-forwarded": ("prefetch forwarded to the origin", "#8a63b8"),
    "cache-hit": ("request served from the edge cache", "#2f6fb3"),
    "cache-stale": ("request served stale from the edge cache", "#7fa7d6"),
    "cache-store": ("request answered by the origin", "#e07b24"),
    "cache-bypass": ("request answered by the origin", "#e07b24"),
    "origin-error": ("origin error", "#6b2f2f"),
}


def fmt_seconds(value: float) -> str:
    return f"{value:,.1f} s"


def fmt_duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def answer(record: dict) -> str:
    return {"prefetch-hit": "stale" if record.get("caching_status") == "stale" else "hit",
            "prefetch-refused": "refused", "prefetch-forwarded": "forwarded"}[record["event"]]


def origin_records(records: list[dict]) -> list[dict]:
    """One per response the origin sent (an error on a flow the edge answered is the client leaving)."""
    answered = {r.get("flow_id") for r in records if r.get("event") in EDGE_ANSWER_EVENTS}
    return [r for r in records if r.get("event") in ORIGIN_EVENTS
            and not (r["event"] == "origin-error" and r.get("flow_id") in answered)]


def fetched_again(prefetch: dict, later: list[dict]) -> dict | None:
    key = prefetch.get("cache_key") or normalize_url(prefetch.get("url"))
    for record in later:
        if record["ts"] > prefetch["ts"] and not record.get("prefetch") and \
                (record.get("cache_key") or normalize_url(record.get("url"))) == key:
            return record
    return None


def prefetch_rows(records: list[dict], site: str | None, t0: float) -> list[dict]:
    documents = {normalize_url(r.get("url")) for r in records if r.get("dest") == "document" and not r.get("prefetch")}
    normal = [r for r in records if r.get("event") in NORMAL_EVENTS]
    rows = []
    for r in records:
        if r.get("event") not in PREFETCH_EVENTS:
            continue
        again = fetched_again(r, normal) if r["event"] == "prefetch-hit" else None
        rows.append({
            "t": r["ts"] - t0, "url": normalize_url(r.get("url")), "mechanism": mechanism(r, normalize_url(r.get("url")), documents, set()),
            "answer": answer(r), "reason": r.get("reason") or r.get("caching_status") or "", "status": r.get("status"),
            "bytes": r.get("size"), "rules": ", ".join(r.get("rules") or []), "from": short_url(r.get("referer"), site),
            "again_after": again["ts"] - r["ts"] if again else None,
            "again_answer": again["event"] if again else None,
        })
    return rows


def guess_site(records: list[dict]) -> str | None:
    """The origin most documents came from, so URLs can be shown as paths."""
    origins = Counter()
    for r in records:
        url = normalize_url(r.get("url"))
        if r.get("dest") == "document" and "://" in url:
            scheme, rest = url.split("://", 1)
            origins[f"{scheme}://{rest.split('/', 1)[0]}/"] += 1
    return origins.most_common(1)[0][0] if origins else None


def headline(records: list[dict], prefetches: list[dict], span: float) -> tuple[str, list[str]]:
    answers = Counter(p["answer"] for p in prefetches)
    refused = Counter(p["reason"] for p in prefetches if p["answer"] == "refused")
    origin = origin_records(records)
    served = sum(1 for r in records if r.get("event") in EDGE_HIT_EVENTS)
    parts = [f"{answers['hit'] + answers['stale']:,} served from the edge cache"]
    if refused:
        parts.append(f"{answers['refused']:,} refused ({', '.join(f'{c:,} {r}' for r, c in refused.most_common())})")
    else:
        parts.append("none refused")
    if answers["forwarded"]:
        parts.append(f"{answers['forwarded']:,} forwarded to the origin")
    for_prefetch = sum(1 for r in origin if r.get("prefetch"))
    sentence = (f"In this session ({plural(len(records), 'trail record')} over {fmt_duration(span)}), the edge saw "
                f"{plural(len(prefetches), 'prefetch', 'prefetches')}: {', '.join(parts)}; "
                f"the origin answered {plural(len(origin), 'request')} ({for_prefetch:,} for prefetches) "
                f"and the edge cache served {plural(served, 'other request')}.")
    more = []
    hits = [p for p in prefetches if p["answer"] in ("hit", "stale")]
    if hits:
        again = sum(1 for p in hits if p["again_after"] is not None)
        more.append(f"{again:,} of the {len(hits):,} prefetches the edge served were requested from the edge again later "
                    "(a sign the browser did not use them); the others were used or never needed: "
                    "a prefetch the browser uses never comes back to the edge.")
    return sentence, more


def trail_view(records: list[dict], source: str) -> dict:
    records = sorted((r for r in records if isinstance(r, dict) and isinstance(r.get("ts"), (int, float))),
                     key=lambda r: r["ts"])
    t0 = records[0]["ts"] if records else 0.0
    span = records[-1]["ts"] - t0 if records else 0.0
    site = guess_site(records)
    prefetches = prefetch_rows(records, site, t0)
    sentence, more = headline(records, prefetches, span)
    started = datetime.fromtimestamp(t0, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if records else "–"
    return {
        "kind": "trail",
        "title": f"Prefetch Lab session report: {site or source}",
        "url": site,
        "complete": True,
        "problem": None,
        "settings_line": f"trail {source} · started {started} · {fmt_duration(span)}",
        "environment_line": rules_line(records),
        "headline": sentence,
        "more_verdicts": more,
        "prefetch_rows": prefetches,
        "prefetches_table": prefetches_table(prefetches, site),
        "documents_table": documents_table(records, t0, site),
        "counts_table": counts_table(summarize(records)),
        "notes": [f"{fmt_seconds(r['ts'] - t0)} {r['event']}: {r.get('detail') or r.get('error') or r.get('reason') or ''} "
                  f"{short_url(r.get('url') or r.get('page'), site) if (r.get('url') or r.get('page')) else ''}".strip()
                  for r in records if r.get("event") in ("client-report", "rules-error")],
        "series": {"timeline": timeline_series(records, t0, site), "answers": answer_series(prefetches)},
    }


def prefetches_table(prefetches: list[dict], site: str | None) -> dict:
    return table(
        ["at", "URL", "mechanism", "edge", "reason", "status", "bytes", "issued from", "rules", "fetched again"],
        [[cell(fmt_seconds(p["t"]), p["t"]), cell(short_url(p["url"], site), title=p["url"]), cell(p["mechanism"]),
          cell(p["answer"], tone="bad" if p["answer"] == "refused" else "good" if p["answer"] in ("hit", "stale") else None),
          cell(p["reason"] or "–"), cell("–" if p["status"] is None else str(p["status"]), p["status"] or 0),
          cell(fmt_bytes(p["bytes"]), p["bytes"] if p["bytes"] is not None else -1), cell(p["from"]), cell(p["rules"] or "–"),
          cell("no" if p["again_after"] is None else f"yes, {fmt_seconds(p['again_after'])} later ({p['again_answer']})",
               -1 if p["again_after"] is None else p["again_after"])]
         for p in prefetches],
        {"at", "status", "bytes", "fetched again"})


def documents_table(records: list[dict], t0: float, site: str | None) -> dict:
    """Every page the browser asked for (not a prefetch): how the edge answered, and install.js."""
    injected = {r.get("flow_id"): r for r in records if r.get("event") in ("injected", "inject-skipped")}
    return table(
        ["at", "page", "edge", "caching status", "status", "install.js"],
        [[cell(fmt_seconds(r["ts"] - t0), r["ts"] - t0), cell(short_url(normalize_url(r.get("url")), site), title=r.get("url")),
          cell(LANES[r["event"]][0].replace("request ", "")), cell(r.get("caching_status") or r.get("reason") or "–"),
          cell("–" if r.get("status") is None else str(r["status"]), r.get("status") or 0),
          cell(injection_text(injected.get(r.get("flow_id"))))]
         for r in records if r.get("event") in NORMAL_EVENTS and r.get("dest") == "document" and not r.get("prefetch")],
        {"at", "status"})


def counts_table(totals: dict) -> dict:
    """The trail's summary (trail.summarize) as one count per line."""
    return table(
        ["what", "count"],
        [[cell(name), cell(f"{count:,}", count)] for name, count in
         [*((f"event {e}", c) for e, c in totals["events"].items()),
          *((f"refused: {r}", c) for r, c in totals["refused_by_reason"].items()),
          *((f"not cached: {s}", c) for s, c in totals["bypassed_by_status"].items()),
          *((f"not injected: {s}", c) for s, c in totals["inject_skipped_by_reason"].items())]],
        {"count"})


def rules_line(records: list[dict]) -> str:
    files = sorted({f for r in records if r.get("event") == "rules-loaded" for f in r.get("files") or []})
    return "rules: " + (", ".join(files) if files else "none loaded in this trail")


def injection_text(record: dict | None) -> str:
    if not record:
        return "–"
    if record["event"] == "injected":
        return f"injected ({record.get('placement', '?')})"
    return f"not injected: {record.get('reason') or '?'}"


def timeline_series(records: list[dict], t0: float, site: str | None) -> list[dict]:
    lanes: dict[str, dict] = {}
    for r in records:
        if r.get("event") not in LANES:
            continue
        name, color = LANES[r["event"]]
        lane = lanes.setdefault(name, {"name": name, "color": color, "t": [], "texts": []})
        lane["t"].append(round(r["ts"] - t0, 3))
        detail = r.get("reason") or r.get("caching_status") or ""
        lane["texts"].append(f"{short_url(normalize_url(r.get('url')), site)} · {r.get('status', '')} {detail}".strip())
    order = list(dict.fromkeys(name for name, _ in LANES.values()))
    return sorted(lanes.values(), key=lambda lane: order.index(lane["name"]))


def answer_series(prefetches: list[dict]) -> list[dict]:
    """Prefetches per (answer, reason), one series per mechanism."""
    def label(p: dict) -> str:
        return p["answer"] + (f": {p['reason']}" if p["answer"] in ("refused", "forwarded") and p["reason"] else "")

    labels = [label for label, _ in Counter(label(p) for p in prefetches).most_common()]
    mechanisms = list(dict.fromkeys(p["mechanism"] for p in prefetches))
    return [{"mechanism": m, "labels": labels,
             "counts": [sum(1 for p in prefetches if p["mechanism"] == m and label(p) == name) for name in labels]}
            for m in mechanisms]


def trail_charts(series: dict) -> list[dict]:
    charts = []
    if series["timeline"]:
        fig = go.Figure(layout=BASE_LAYOUT)
        for lane in series["timeline"]:
            fig.add_trace(go.Scatter(x=lane["t"], y=[lane["name"]] * len(lane["t"]), mode="markers", name=lane["name"],
                                     marker=dict(color=lane["color"], size=9, symbol="line-ns-open", line=dict(width=2)),
                                     text=lane["texts"], hovertemplate="%{x:,.1f} s<br>%{text}<extra></extra>"))
        fig.update_layout(height=130 + 34 * len(series["timeline"]), showlegend=False,
                          xaxis=dict(title="seconds since the trail's first record", rangemode="tozero"),
                          yaxis=dict(automargin=True, autorange="reversed"))
        charts.append(chart("chart-timeline", "Every decision the edge took over the session, one mark each, by "
                            "kind (prefetches on top); hover a mark for its URL.", fig))
    if series["answers"]:
        fig = go.Figure(layout=BASE_LAYOUT)
        for item in series["answers"]:
            fig.add_trace(go.Bar(y=item["labels"], x=item["counts"], name=item["mechanism"], orientation="h",
                                 marker_color=MECHANISM_COLORS.get(item["mechanism"], "#444"), text=item["counts"],
                                 hovertemplate="%{y}: %{x:,} prefetches<extra>" + item["mechanism"] + "</extra>"))
        fig.update_layout(barmode="stack", height=140 + 34 * len(series["answers"][0]["labels"]),
                          xaxis=dict(title="prefetches"), yaxis=dict(automargin=True, autorange="reversed"))
        charts.append(chart("chart-answers", "How the edge answered the session's prefetches (served from its cache, "
                            "refused and why, forwarded), by mechanism.", fig))
    return charts
