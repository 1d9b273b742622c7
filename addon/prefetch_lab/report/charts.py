"""Plotly figures for the report, from the plain series of series.py and waterfall.py. Each chart
is a dict with its element id, the one-sentence caption shown above it, and the figure (data +
layout, without a template: the page applies one shared template, so it is not repeated in every
figure).
"""

from __future__ import annotations

from functools import lru_cache

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from prefetch_lab.formatting import fmt_ms

ARM_COLORS = {"control": "#8c8c8c", "placebo": "#b8b8b8", "speculation": "#2f6fb3", "edgio": "#e07b24", "both": "#3c9a5f"}
OUTCOME_COLORS = {"used": "#3c9a5f", "served, not used": "#e3b23c", "forwarded to the origin": "#8a63b8",
                  "not sent by Chromium": "#9e9e9e"}
REFUSAL_COLORS = ("#c9473d", "#e0736a", "#8f2a22", "#f0a39c", "#b5651d")  # one red per refusal reason
KIND_COLORS = {"render-blocking": "#c9473d", "other request": "#9bb7d4", "Prefetch Lab's own files": "#c8c8c8"}
DOCUMENT_COLORS = {"document (network)": "#2f6fb3", "document (navigational-prefetch)": "#1f8a4c",
                   "document (cache-storage)": "#2a9d8f", "document (cache)": "#7fa7d6"}
MECHANISM_COLORS = {"speculation": "#2f6fb3", "edgio": "#e07b24", "deep-fetch": "#b5651d", "site": "#6b6b6b"}
EDGE_SYMBOLS = {"hit": "circle", "stale": "circle-open", "refused": "x", "forwarded": "triangle-up", "none": "square-open"}
VERDICT_COLORS = {"faster": "#1f8a4c", "slower": "#c9473d", "no-difference": "#8c8c8c"}
LINE_COLORS = {"FCP": "#3c9a5f", "LCP": "#8a63b8", "load": "#555555"}
BASE_LAYOUT = dict(margin=dict(l=10, r=10, t=30, b=40), font=dict(family="system-ui, sans-serif", size=12),
                   legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0))
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


@lru_cache(maxsize=1)
def shared_template() -> dict:
    return pio.templates["plotly_white"].to_plotly_json()


def as_dict(fig: go.Figure) -> dict:
    figure = fig.to_plotly_json()
    figure["layout"].pop("template", None)
    return {"data": figure["data"], "layout": figure["layout"]}


def chart(chart_id: str, caption: str, fig: go.Figure) -> dict:
    return {"id": chart_id, "caption": caption, "figure": as_dict(fig)}


def per_page_chart(series: dict, chart_id: str, name: str) -> dict | None:
    """Paired per page: each arm side by side; bars with one run, boxes with every run's point with several."""
    if not series["arms"]:
        return None
    fig = go.Figure(layout=BASE_LAYOUT)
    several = series["runs"] > 1
    for arm in series["arms"]:
        color = ARM_COLORS.get(arm["arm"], "#444")
        hover = f"%{{x}}<br>{arm['label']}: %{{text}}<extra></extra>"
        if several:
            fig.add_trace(go.Box(x=arm["pages"], y=arm["values"], name=arm["label"], marker_color=color,
                                 boxpoints="all", jitter=0.4, pointpos=0, text=arm["texts"], hovertemplate=hover))
        else:
            fig.add_trace(go.Bar(x=arm["pages"], y=arm["values"], name=arm["label"], marker_color=color,
                                 text=arm["texts"], textposition="outside", hovertemplate=hover, cliponaxis=False))
    fig.update_layout(barmode="group", boxmode="group", height=360,
                      yaxis=dict(title=f"{name} (ms)", rangemode="tozero"), xaxis=dict(title="page (step, path)"))
    spread = f"each box spans the {series['runs']} runs, each dot is one run" if several else "one run"
    caption = (f"{name} of every page after the landing page, control beside each experiment arm ({spread}): "
               f"lower is faster.")
    return chart(chart_id, caption, fig)


FOREST_CAPTION = ("Each experiment arm against the control, metric by metric: the median of the paired differences "
                  "(same run, same step) and its 95 % bootstrap interval. Left of the dashed line is faster; green: "
                  "faster, red: slower, grey: no difference shown (Holm-adjusted Wilcoxon p ≥ 0.05 or the interval "
                  "contains 0).")
BASELINE_FOREST_CAPTION = ("Each arm of the new audit against the same arm of the old one, metric by metric: the "
                           "difference of medians (new − old, unpaired) and its 95 % bootstrap interval. Left of the "
                           "dashed line is faster now; green: faster, red: slower, grey: no difference shown.")


def forest_chart(series: dict, caption: str | None = None) -> dict | None:
    """A forest plot: per arm and metric, the median paired difference with the control and its
    95 % CI as a horizontal bar; the zero line is "no difference"."""
    rows = series["rows"]
    if not rows:
        return None
    fig = go.Figure(layout=BASE_LAYOUT)
    colors = [VERDICT_COLORS.get(r["verdict"], "#8c8c8c") for r in rows]
    fig.add_trace(go.Scatter(
        x=[r["median"] for r in rows], y=[r["label"] for r in rows], mode="markers", marker=dict(size=10, color=colors),
        error_x=dict(type="data", symmetric=False, array=[r["high"] - r["median"] for r in rows],
                     arrayminus=[r["median"] - r["low"] for r in rows], thickness=2, width=6),
        text=[r["text"] for r in rows], hovertemplate="%{text}<extra></extra>", showlegend=False))
    fig.add_vline(x=0, line=dict(color="#555", dash="dash"))
    fig.update_layout(height=110 + 34 * len(rows), xaxis=dict(title="difference (ms): left of 0 is faster"),
                      yaxis=dict(automargin=True, autorange="reversed"))
    return chart("chart-forest", caption or FOREST_CAPTION, fig)


def outcomes_chart(series: dict) -> dict | None:
    if not series["outcomes"]:
        return None
    fig = go.Figure(layout=BASE_LAYOUT)
    refusals = 0
    for item in series["outcomes"]:
        color = OUTCOME_COLORS.get(item["name"])
        if item["name"].startswith("refused"):
            color, refusals = REFUSAL_COLORS[refusals % len(REFUSAL_COLORS)], refusals + 1
        fig.add_trace(go.Bar(y=series["arms"], x=item["counts"], name=item["name"], orientation="h",
                             marker_color=color, text=item["counts"],
                             hovertemplate="%{y}: %{x:,} prefetches " + item["name"] + "<extra></extra>"))
    fig.update_layout(barmode="stack", height=120 + 45 * len(series["arms"]),
                      xaxis=dict(title="prefetches"), yaxis=dict(automargin=True))
    caption = ("What became of each arm's prefetches: used by a navigation, served but not used, forwarded to the "
               "origin, refused by the edge (by its reason: not-cached = the edge was cold), or never sent by Chromium.")
    return chart("chart-outcomes", caption, fig)


def reasons_chart(series: dict) -> dict | None:
    if not series["arms"]:
        return None
    fig = go.Figure(layout=BASE_LAYOUT)
    for arm in series["arms"]:
        fig.add_trace(go.Bar(y=series["labels"], x=arm["counts"], name=arm["label"], orientation="h",
                             marker_color=ARM_COLORS.get(arm["arm"]), text=arm["counts"],
                             hovertemplate="%{y}: %{x:,} navigations<extra>" + arm["label"] + "</extra>"))
    fig.update_layout(barmode="group", height=140 + 40 * len(series["labels"]) * max(1, len(series["arms"])) // 2,
                      xaxis=dict(title="navigations not prefetched", dtick=1), yaxis=dict(automargin=True, autorange="reversed"))
    caption = "Why navigations after the landing page were not prefetched, per experiment arm (the advice table has the remedies)."
    return chart("chart-reasons", caption, fig)


def unique_labels(labels: list[str]) -> list[str]:
    """Plotly merges equal category labels: number repeats (the same URL fetched twice)."""
    seen: dict[str, int] = {}
    result = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        result.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return result


def merged_lines(lines: dict[str, float]) -> dict[str, float]:
    """FCP and LCP are often the same paint: one line "FCP = LCP" instead of two labels on top of each other."""
    merged: dict[float, list[str]] = {}
    for name, at in lines.items():
        merged.setdefault(round(at), []).append(name)
    return {" = ".join(names): float(at) for at, names in merged.items()}


def waterfall_figure(entry: dict) -> dict:
    arms = entry["arms"]
    sizes = [len(a["bars"]) + len({p["label"] for p in a["points"]}) for a in arms]
    fig = make_subplots(rows=len(arms), cols=1, shared_xaxes=True, vertical_spacing=0.08 if len(arms) > 1 else 0,
                        row_heights=[max(s, 2) for s in sizes], subplot_titles=[a["label"] for a in arms])
    latest = max([b["end"] for a in arms for b in a["bars"]] + [p["at"] for a in arms for p in a["points"]] + [1])
    thinnest = latest / 300  # a request served from a cache in 0.1 ms still shows as a sliver
    in_legend: set[str] = set()  # one legend entry per kind across the rows
    shapes: list[dict] = []
    notes: list[dict] = []
    for row, arm in enumerate(arms, start=1):
        add_request_bars(fig, row, arm["bars"], thinnest, in_legend)
        add_prefetch_points(fig, row, arm["points"], in_legend)
        row_shapes, row_notes = paint_line_shapes(row, arm["lines"])
        shapes += row_shapes
        notes += row_notes
        fig.update_yaxes(autorange="reversed", automargin=True, tickfont=dict(size=10), row=row, col=1)
    fig.update_xaxes(title_text="ms since navigation start", rangemode="tozero", row=len(arms), col=1)
    fig.update_layout(**{**BASE_LAYOUT, "legend": dict(orientation="h", yanchor="top", y=-0.08 if len(arms) > 1 else -0.2, x=0)},
                      barmode="overlay", height=140 + 22 * sum(max(s, 2) for s in sizes) + 30 * len(arms))
    figure = as_dict(fig)
    figure["layout"]["shapes"] = shapes
    figure["layout"]["annotations"] = figure["layout"].get("annotations", []) + notes  # after the subplot titles
    return figure


def add_request_bars(fig: go.Figure, row: int, bars: list[dict], thinnest: float, in_legend: set[str]) -> None:
    """One trace per kind of request (the document by its delivery, render-blocking, ...)."""
    labels = unique_labels([b["label"] for b in bars])
    for kind in dict.fromkeys(b["kind"] for b in bars):
        chosen = [(label, b) for label, b in zip(labels, bars) if b["kind"] == kind]
        color = DOCUMENT_COLORS.get(kind) or KIND_COLORS.get(kind, "#9bb7d4")
        fig.add_trace(go.Bar(
            y=[label for label, _ in chosen], x=[max(b["end"] - b["start"], thinnest) for _, b in chosen],
            base=[b["start"] for _, b in chosen], orientation="h", name=kind, legendgroup=kind,
            showlegend=kind not in in_legend, marker_color=color,
            customdata=[[fmt_ms(b["start"]), fmt_ms(b["end"]), b["detail"]] for _, b in chosen],
            hovertemplate="%{y}<br>%{customdata[0]} → %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
        ), row=row, col=1)
        in_legend.add(kind)


def add_prefetch_points(fig: go.Figure, row: int, points: list[dict], in_legend: set[str]) -> None:
    """One trace per (mechanism, edge answer): colour the mechanism, symbol the answer."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for point in points:
        groups.setdefault((point["mechanism"], point["edge"]), []).append(point)
    for (mechanism, edge), chosen in groups.items():
        name = f"prefetch: {mechanism}, edge {edge}"
        color = MECHANISM_COLORS.get(mechanism, "#444")
        fig.add_trace(go.Scatter(
            y=[p["label"] for p in chosen], x=[p["at"] for p in chosen], mode="markers", name=name,
            legendgroup=name, showlegend=name not in in_legend,
            marker=dict(symbol=EDGE_SYMBOLS.get(edge, "diamond"), size=11, color=color, line=dict(width=2, color=color)),
            customdata=[[fmt_ms(p["at"]), p["detail"]] for p in chosen],
            hovertemplate="%{y}<br>edge decided at %{customdata[0]}<br>%{customdata[1]}<extra></extra>",
        ), row=row, col=1)
        in_legend.add(name)


def paint_line_shapes(row: int, lines: dict[str, float]) -> tuple[list[dict], list[dict]]:
    """The FCP, LCP and load lines of a row, and their labels. Plain layout shapes, added after
    conversion: fig.add_vline and validating shapes through update_layout cost ~50 ms per line,
    most of the report's rendering time."""
    suffix = "" if row == 1 else str(row)
    shapes, notes = [], []
    for line, at in merged_lines(lines).items():
        color = LINE_COLORS[line.split(" = ")[-1]]
        shapes.append(dict(type="line", xref=f"x{suffix}", yref=f"y{suffix} domain", x0=at, x1=at, y0=0, y1=1,
                           line=dict(color=color, width=1.5, dash="dot")))
        notes.append(dict(xref=f"x{suffix}", yref=f"y{suffix} domain", x=at, y=1 if line != "load" else 0,
                          yanchor="bottom" if line != "load" else "top", xanchor="left", showarrow=False,
                          text=f"{line} {fmt_ms(at)}", font=dict(size=10, color=color)))
    return shapes, notes


def waterfall_chart(waterfalls: list[dict], default_key: str | None) -> dict | None:
    if not waterfalls:
        return None
    caption = ("One page's requests in every arm, from the browser's Resource Timing: bars are requests "
               "(render-blocking in red), marks are prefetches the edge answered from that page (colour: mechanism; "
               "● hit, ✕ refused, ▲ forwarded), dotted lines FCP, LCP and load; choose the page below.")
    return {"id": "chart-waterfall", "caption": caption, "default": default_key,
            "options": [{"key": w["key"], "title": w["title"]} for w in waterfalls],
            "figures": {w["key"]: waterfall_figure(w) for w in waterfalls}}


BREAKDOWN_COLORS = ("#2f6fb3", "#e3b23c", "#e07b24", "#8a63b8")


def lcp_breakdown_chart(series: dict | None) -> dict | None:
    """Stacked horizontal bars: per arm, the p50 of each LCP part."""
    if not series or not series["arms"]:
        return None
    fig = go.Figure(layout={**BASE_LAYOUT, "barmode": "stack", "height": 120 + 40 * len(series["arms"]),
                            "xaxis": {"title": "ms (p50 of each part)"}, "yaxis": {"autorange": "reversed"},
                            "legend": {**BASE_LAYOUT["legend"], "traceorder": "normal"}})
    for part, color in zip(series["parts"], BREAKDOWN_COLORS):
        fig.add_trace(go.Bar(y=series["arms"], x=part["values"], name=part["name"], orientation="h", marker_color=color,
                             text=[fmt_ms(v) for v in part["values"]],
                             hovertemplate=f"%{{y}}<br>{part['name']}: %{{text}}<extra></extra>"))
    return chart("chart-lcp-breakdown", "LCP's four parts per arm (p50 of each): what prefetching and prerendering removed, "
                 "and what the page still pays.", fig)


def visual_progress_figure(arms: list[dict]) -> dict:
    fig = go.Figure(layout={**BASE_LAYOUT, "height": 300, "xaxis": {"title": "ms since navigation start", "rangemode": "tozero"},
                            "yaxis": {"title": "visual progress (%)", "range": [0, 105]}})
    for arm in arms:
        points = arm["progress"]
        fig.add_trace(go.Scatter(x=[t for t, _ in points], y=[p for _, p in points], name=arm["label"], mode="lines+markers",
                                 line={"shape": "hv", "color": ARM_COLORS.get(arm["arm"], "#444")},
                                 hovertemplate=f"{arm['label']}: %{{y}} % at %{{x:,.0f}} ms<extra></extra>"))
    return as_dict(fig)


def visual_progress_chart(series: dict | None) -> dict | None:
    """Visual progress per arm for the step chosen in the compare view's menu (one figure per step)."""
    if not series:
        return None
    caption = ("Visual progress of the same step (speedline's histogram method): the share of the final page's "
               "change on screen; the Speed Index is the area above each curve.")
    return {"id": "chart-visual-progress", "caption": caption, "default": series["default"], "options": series["options"],
            "figures": {key: visual_progress_figure(arms) for key, arms in series["steps"].items()}}


def audit_charts(series: dict) -> list[dict]:
    charts = [
        lcp_breakdown_chart(series.get("lcp_breakdown")),
        visual_progress_chart(series.get("visual_progress")),
        forest_chart(series["forest"]),
        per_page_chart(series["lcp"], "chart-lcp", "LCP"),
        per_page_chart(series["ttfb"], "chart-ttfb", "TTFB"),
        waterfall_chart(series["waterfalls"], series["default_waterfall"]),
        outcomes_chart(series["outcomes"]),
        reasons_chart(series["reasons"]),
    ]
    return [c for c in charts if c]
