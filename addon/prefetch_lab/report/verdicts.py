"""The report's sentences: one verdict per experiment arm (what it did to LCP p50, on how many
navigations, and why the others were not prefetched), and the lines that say how the audit was
run (settings, training, environment). Pure module.
"""

from __future__ import annotations

from collections import Counter

from prefetch_lab.formatting import fmt_ms, fmt_ratio
from prefetch_lab.report.arms import after_landing, arm_label, control_arm, experiment_arms, soft_headline
from prefetch_lab.report.cells import BECAUSE, plural
from prefetch_lab.report.differences import verdict_clause


def verdicts(audit: dict) -> list[str]:
    """One sentence per experiment arm, the one that helped LCP most first; when most navigations
    were soft, the sentence that says so before them."""
    headline = soft_headline(audit)
    return ([headline] if headline else []) + arm_verdicts(audit)


def arm_verdicts(audit: dict) -> list[str]:
    summary = audit.get("summary") or {}
    arms = experiment_arms(audit)
    if not arms:
        s = summary.get(control_arm(audit) or "", {})
        return [f"Control only: LCP p50 was {fmt_ms(s.get('lcp_ms_p50'))} over {plural(s.get('navigations') or 0, 'navigation')}; "
                "add an experiment arm (--arms control,speculation,edgio) to see what prefetching buys."] if s else \
               ["The audit measured no navigation."]
    ranked = sorted(arms, key=lambda a: (summary[a].get("lcp_ratio") is None, summary[a].get("lcp_ratio") or 0))
    return [verdict(audit, arm) for arm in ranked]


def verdict(audit: dict, arm: str) -> str:
    """One sentence: what the arm did to LCP p50 (TTFB when no LCP was measured), on how many navigations."""
    summary = audit["summary"]
    s, control = summary[arm], summary.get(control_arm(audit) or "")
    if not s.get("navigations") and s.get("soft_navigations"):  # nothing a document prefetch could change
        paint = (s.get("soft_navigations_p50") or {}).get("largest_paint_ms")
        was = ((control or {}).get("soft_navigations_p50") or {}).get("largest_paint_ms") if control is not s else None
        return (f"With {arm_label(arm)}, no document navigation was measured after the landing page, only "
                f"{plural(s['soft_navigations'], 'soft navigation')}: no document-prefetch gain can be measured; their "
                f"largest paint p50 was {fmt_ms(paint)}" + (f" (control {fmt_ms(was)})" if was is not None else "") + ".")
    metric, name = ("lcp", "LCP") if s.get("lcp_ms_p50") is not None else ("ttfb", "TTFB")
    navigations, prefetched = s.get("navigations") or 0, s.get("prefetched_navigations") or 0
    reach = f"{prefetched:,} of {plural(navigations, 'navigation')} {'was' if prefetched == 1 else 'were'} prefetched"
    if control and control.get(f"{metric}_ms_p50") is not None and s.get(f"{metric}_ms_p50") is not None:
        change = (f"{name} p50 went from {fmt_ms(control[f'{metric}_ms_p50'])} to {fmt_ms(s[f'{metric}_ms_p50'])} "
                  f"({fmt_ratio(s.get(f'{metric}_ratio'))})")
    else:
        change = f"{name} p50 was {fmt_ms(s.get(f'{metric}_ms_p50'))} (no control arm to compare with)"
    tested = verdict_clause(audit, arm)  # None in audits written before the verdicts
    change = f"{tested}; {change}" if tested else change
    return f"With {arm_label(arm)}, {change}; {reach}{not_prefetched_clause(audit, arm)}."


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


def training_line(audit: dict) -> str | None:
    training = audit.get("training")
    if not training:
        return None
    s = audit.get("settings") or {}
    return (f"The learned arm was trained on {plural(training.get('walks') or 0, 'walk')} "
            f"({plural(training.get('pages') or 0, 'page view')}) of the same {s.get('walk', 'skewed')} walker "
            f"(skew {s.get('skew', '?')}) with other seeds than the measured walk, then measured with learning off.")


def settings_line(audit: dict) -> str:
    s = audit.get("settings") or {}
    parts = [f"arms {', '.join(s.get('arms') or audit.get('summary') or [])}", plural(s.get("runs") or 0, "run"),
             plural(s.get("pages") or 0, "page"), f"edge {s.get('edge', '?')}",
             f"origin +{s.get('origin_delay_ms', 0):,} ms", f"edge +{s.get('edge_delay_ms', 0):,} ms",
             f"throttle {s.get('throttle', 'none')}", f"eagerness {s.get('eagerness', '?')}"]
    sampled = audit.get("sampling") or {}
    if sampled.get("mode") == "auto":
        parts[1] = f"runs auto: {plural(sampled.get('runs') or 0, 'run')}, stopped by {sampled.get('stopped_by') or '?'}"
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
