"""`--verify-deploy`: what the `deployed` arm (the generated rules and speculation-rules document)
bought against the control and the default-rules arms, and whether any arm prefetched a URL the
deployment's lint judged unsafe or uncacheable, counted from the proxies' trails. Pure."""

from __future__ import annotations

from prefetch_lab.audit.computed.link_facts import normal_url
from prefetch_lab.trail import PREFETCH_EVENTS

DEPLOYED_ARM = "deployed"
SERVED = ("prefetch-hit", "prefetch-forwarded")  # a prefetch the browser got a page for
FIGURES = ("coverage", "accuracy", "lcp_ms_p50", "lcp_ratio", "wasted_bytes")


def unsafe_urls(links: list[dict]) -> set[str]:
    return {normal_url(link["url"]) for link in links if link["verdict"] in ("unsafe", "uncacheable")}


def safe_coverage(navigations: list[dict], links: list[dict]) -> dict[str, dict]:
    """Per arm, over the navigations (step >= 1) to pages the lint judged `prefetch`: how many were
    served by a prefetch. The fair coverage: a default arm that prefetched an uncacheable page
    covered a navigation no deployment should."""
    prefetchable = {normal_url(link["url"]) for link in links if link["verdict"] == "prefetch"}
    found: dict[str, dict] = {}
    for nav in navigations:
        if nav.get("step", 0) < 1 or nav.get("kind", "document") != "document" or normal_url(nav.get("walk_url") or nav.get("url") or "") not in prefetchable:
            continue
        arm = found.setdefault(nav["arm"], {"navigations": 0, "prefetched": 0})
        arm["navigations"] += 1
        arm["prefetched"] += bool(nav.get("prefetched"))
    for arm in found.values():
        arm["coverage"] = round(arm["prefetched"] / arm["navigations"], 4) if arm["navigations"] else None
    return found


def deploy_check(runs: list[dict], summary: dict, links: list[dict], navigations: list[dict],
                 control_arm: str = "control") -> dict:
    forbidden = unsafe_urls(links)
    asked: dict[str, list[dict]] = {}
    for run in runs:
        found = asked.setdefault(run["arm"], [])
        for record in run.get("trail") or []:
            if record.get("event") in PREFETCH_EVENTS and normal_url(record.get("url", "")) in forbidden:
                found.append({"run": run["run"], "url": normal_url(record["url"]), "event": record["event"],
                              "served": record["event"] in SERVED})
    deployed = summary.get(DEPLOYED_ARM) or {}
    fair = safe_coverage(navigations, links)
    against = {}
    for arm, figures in summary.items():
        if arm == DEPLOYED_ARM:
            continue
        against[arm] = {
            "coverage_diff": _diff(deployed.get("coverage"), figures.get("coverage")),
            "safe_coverage_diff": _diff((fair.get(DEPLOYED_ARM) or {}).get("coverage"), (fair.get(arm) or {}).get("coverage")),
            "lcp_ms_p50_diff": _diff(deployed.get("lcp_ms_p50"), figures.get("lcp_ms_p50")),
            "kind": "control" if arm == control_arm else "default-rules arm",
        }
    served = {arm: sum(a["served"] for a in found) for arm, found in asked.items()}
    return {
        "arms": {arm: {**{k: figures.get(k) for k in FIGURES}, "safe_coverage": (fair.get(arm) or {}).get("coverage"),
                       "safe_navigations": (fair.get(arm) or {}).get("navigations", 0)}
                 for arm, figures in summary.items()},
        "deployed_against": against,
        "unsafe_urls": sorted(forbidden),
        "unsafe_prefetches": {arm: found for arm, found in asked.items()},
        "unsafe_prefetches_served": served,
        "deployed_safe": not asked.get(DEPLOYED_ARM),
        "how": "every prefetch record (prefetch-hit, -refused, -forwarded) of every run's trail whose URL the "
               "lint judged unsafe or uncacheable; `served` when the edge gave the browser a page for it. "
               "`deployed_safe`: the deployed arm asked for none. `safe_coverage`: the share of navigations "
               "to pages judged `prefetch` that a prefetch served.",
    }


def _diff(a, b):
    return None if a is None or b is None else round(a - b, 4)


def deploy_lines(document: dict) -> list[str]:
    """What the terminal says of the deployment: the files, the links judged, --verify-deploy."""
    deploy = document.get("deploy") or {}
    if not deploy:
        return []
    if deploy.get("error"):
        return [f"no deployment files: {deploy['error']}"]
    counts: dict[str, int] = {}
    for link in document.get("links") or []:
        counts[link["verdict"]] = counts.get(link["verdict"], 0) + 1
    lines = [f"deployment: {', '.join(deploy.get('files') or [])} ({len(document.get('groups') or [])} URL groups; links: "
             + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) + f"; eagerness {deploy['eagerness']['value']})"]
    verify = deploy.get("verify")
    if verify:
        for arm, figures in verify["arms"].items():
            coverage = figures.get("safe_coverage")
            lines.append(f"  {arm}: {'–' if coverage is None else f'{round(100 * coverage)} %'} of "
                         f"{figures.get('safe_navigations', 0)} navigations to prefetchable pages prefetched, "
                         f"{verify['unsafe_prefetches_served'].get(arm, 0)} unsafe or uncacheable prefetches served")
        lines.append("  the deployed arm asked for no unsafe or uncacheable URL" if verify["deployed_safe"]
                     else "  the deployed arm asked for an unsafe or uncacheable URL: review OUT/deploy/")
    return lines
