"""Why a navigation was not prefetched: for every navigation after the landing page that no
prefetch served, gather the evidence (the prefetches before it, a double fetch, the edge's record
that the page cannot be stored, the issuing page's skipped injection) and let `advice.explain`
name the reason (`not_prefetched_reason`, `not_prefetched_detail`). Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.gathered_run import Run
from prefetch_lab.audit.findings import advice


def explain_not_prefetched(run: Run, control_arm: str) -> None:
    """Fill in the reason on each of the run's navigations that was not prefetched (runs last:
    it reads the joins and the double fetches)."""
    for nav in run.navigations:
        if nav["step"] >= 1 and not nav["prefetched"]:
            nav["not_prefetched_reason"], nav["not_prefetched_detail"] = advice.explain(nav, evidence(run, nav, control_arm))


def evidence(run: Run, nav: dict, control_arm: str) -> dict:
    """What advice.explain needs to tell why this navigation was not prefetched."""
    start = nav["_start"] or float("inf")
    # A prefetch an earlier navigation used is spent: it says nothing about this one.
    before = [p for p in run.prefetches if p["url"] in nav["_keys"] and (p["ts"] or 0) < start
              and not (p.get("_used_before") or start) < start]
    issuer = run.page(nav["_index"] - 1)
    issuer_url = run.key(issuer.get("url")) if issuer else ""
    skips = [r for r in run.trail if r.get("event") == "inject-skipped" and run.key(r.get("url")) == issuer_url]
    uncached = uncached_records(run, nav)
    return {
        "arm": run.arm,
        "control_arm": control_arm,
        "trigger": nav["trigger"],
        "prefetches": before,
        "double_fetch": nav.get("_double_fetch"),
        "uncached_record": uncached[-1] if uncached else None,
        "issuer_skip": skips[-1] if skips else None,
    }


def uncached_records(run: Run, nav: dict) -> list[dict]:
    """The edge's records that it could not store this page, up to and including its own request.
    The warm-up counts here: it is where the edge learnt the page cannot be stored."""
    uncached = [
        r for r in run.trail_all
        if r.get("event") in ("cache-bypass", "origin-error") and not r.get("prefetch")
        and run.key(r.get("url")) in nav["_keys"] and r["ts"] < (nav["_start"] or float("inf"))
    ]
    own = nav.get("_record")
    if own and own.get("event") in ("cache-bypass", "origin-error"):
        uncached.append(own)
    return uncached
