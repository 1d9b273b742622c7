"""The audit's analysis, the entry point of computed/ and findings/: the raw runs (browser
timings, CDP preload events, the proxy's trail) in, the results part of `prefetch-lab-audit/1`
out (navigations, prefetches, double fetches, summary, advice; docs/audit-json.md documents every
field). `analyze_run` is the pipeline of one (arm, run), in the order each step needs the last.
Pure module: plain dicts in, plain JSON-serialisable dicts out; no mitmproxy, no Playwright.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from prefetch_lab.audit.computed.contention import contention
from prefetch_lab.audit.computed.gain_split import add_gain_splits
from prefetch_lab.audit.computed.gathered_run import Run
from prefetch_lab.audit.computed.navigations import build_navigations
from prefetch_lab.audit.computed.prefetch_use import credit_use, mark_earlier_use
from prefetch_lab.audit.computed.prefetches import build_prefetches
from prefetch_lab.audit.computed.sources import add_sources
from prefetch_lab.audit.computed.summary import summarize
from prefetch_lab.audit.findings.advice import build_advice
from prefetch_lab.audit.findings.cookies import cookie_advice, cookie_effects, merge_effects, name_the_cookies
from prefetch_lab.audit.findings.double_fetches import double_fetches
from prefetch_lab.audit.findings.gain_sources import explain_gains, gain_advice
from prefetch_lab.audit.findings.not_prefetched import explain_not_prefetched
from prefetch_lab.audit.findings.site_prefetches import counts_of, site_prefetch_advice, site_prefetches
from prefetch_lab.audit.findings.soft_navigations import soft_navigation_advice
from prefetch_lab.audit.findings.verdict import add_verdicts


def analyze(runs: list[dict], *, control_arm: str = "control", out_dir: Path | str | None = None) -> dict:
    """Raw runs → {"navigations", "prefetches", "double_fetches", "summary", "advice"}. `out_dir`
    is the audit's OUT, where the filmstrips' frames are: without it, no visual metrics."""
    analyzed = []
    all_doubles = []
    for raw in runs or []:
        if isinstance(raw, dict):
            run, doubles = analyze_run(raw, control_arm, out_dir)
            analyzed.append(run)
            all_doubles += doubles
    navigations = [n for run in analyzed for n in run.navigations]  # documents: the figures' own
    prefetches = [p for run in analyzed for p in run.prefetches]
    summary = summarize(analyzed, all_doubles, control_arm)
    add_verdicts(summary, navigations, control_arm)
    add_gain_splits(summary, navigations, control_arm)
    explain_gains(summary, control_arm)
    advice = build_advice(navigations, control_arm) + gain_advice(summary, navigations, control_arm)
    site = site_prefetches(prefetches)
    cookies = {arm: merge_effects([cookie_effects(run.trail_all) for run in analyzed if run.arm == arm]) for arm in summary}
    for arm, arm_summary in summary.items():  # summary.<arm>.site_prefetches and .cookies
        arm_summary["site_prefetches"] = site.get(arm) or counts_of([])
        arm_summary["cookies"] = cookies[arm]
    advice = sorted(name_the_cookies(advice, cookie_advice(cookies)) + site_prefetch_advice(site),
                    key=lambda a: -a["count"])  # stable: ties keep their order
    # First when present: it says what the other figures and advice cannot cover.
    advice = soft_navigation_advice(summary, [n for run in analyzed for n in run.soft_navigations]) + advice
    return json_clean({
        "navigations": [n for run in analyzed for n in sorted(run.navigations + run.soft_navigations, key=lambda n: n["step"])],
        "prefetches": prefetches,
        "double_fetches": all_doubles,
        "summary": summary,
        "advice": advice,
    })


def analyze_run(raw: dict, control_arm: str = "control", out_dir: Path | str | None = None) -> tuple[Run, list[dict]]:
    """One (arm, run): its navigations and prefetches (joined), and its double fetches."""
    run = Run.from_input(raw)
    built = build_navigations(run, out_dir)
    run.navigations = [n for n in built if n["kind"] == "document"]
    run.soft_navigations = [n for n in built if n["kind"] == "soft"]
    run.prefetches = build_prefetches(run)  # reads the navigations' URLs
    credit_use(run)
    mark_earlier_use(run)
    add_sources(run)  # after the credits: a prefetched document or subresource is `prefetch`
    doubles = double_fetches(run)  # after the credits: a used prefetch is spent
    contention(run)
    explain_not_prefetched(run, control_arm)  # last: reads all of the above
    return run, doubles


def json_clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf become None, tuples and sets lists, keys starting with "_" dropped."""
    if isinstance(value, dict):
        return {str(k): json_clean(v) for k, v in value.items() if not str(k).startswith("_")}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [json_clean(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
