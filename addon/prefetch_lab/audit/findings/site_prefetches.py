"""What each arm's edge did to the site's own prefetches (audit.json's `summary.<arm>.site_prefetches`, and an
advice entry when a gating edge refused some): in the control arms they pass as they would
without such an edge; in the experiment arms the gate answers them as the emulated product does
(Speed Brain refuses a miss with 503, Edgio 412), so a site whose framework prefetches its
route chunks with `<link rel=prefetch>` loses them there. Pure module.
"""

from __future__ import annotations

from collections import defaultdict

MAX_URLS = 10


def site_prefetches(prefetches: list[dict]) -> dict[str, dict]:
    """Per arm: the site's own prefetches the edge saw, how it answered them, the refused URLs."""
    by_arm: dict[str, list[dict]] = defaultdict(list)
    for p in prefetches:
        if p.get("mechanism") == "site" and p.get("edge") != "none":
            by_arm[p["arm"]].append(p)
    return {arm: counts_of(rows) for arm, rows in by_arm.items()}


def counts_of(rows: list[dict]) -> dict:
    """The counts of one arm's site prefetches (`[]`: an arm that had none)."""
    refused = [p for p in rows if p["edge"] == "refused"]
    return {
        "count": len(rows),
        "runs": len({p["run"] for p in rows}),
        "served": sum(1 for p in rows if p["edge"] in ("hit", "stale")),
        "forwarded": sum(1 for p in rows if p["edge"] == "forwarded"),
        "refused": len(refused),
        "refusal_statuses": sorted({p["status"] for p in refused if isinstance(p.get("status"), int)}),
        "refusal_reasons": sorted({str(p.get("edge_reason")) for p in refused}),
        "refused_urls": list(dict.fromkeys(p["url"] for p in refused))[:MAX_URLS],
    }


def site_prefetch_advice(found: dict[str, dict]) -> list[dict]:
    """One advice entry per arm whose edge refused some of the site's own prefetches."""
    advice = []
    for arm, counts in sorted(found.items()):
        if not counts["refused"]:
            continue
        statuses = "/".join(map(str, counts["refusal_statuses"])) or "a refusal"
        reason = (f"the edge refused {counts['refused']} of the site's own {counts['count']} prefetches "
                  f"({statuses}: {', '.join(counts['refusal_reasons'])}), as a gating edge does: the site's "
                  f"<link rel=prefetch> and framework prefetches carry Sec-Purpose: prefetch too")
        remedy = ("with such an edge the site's own prefetcher fetches nothing the edge does not already hold: "
                  "give its prefetched URLs (route chunks, data) a rule with max_age so the edge keeps them, "
                  "keep the edge warm (prefetch_warm_on_refusal), or turn the site's prefetcher off where the "
                  "edge prefetches instead; the control arm ran them ungated, as the site does today")
        advice.append({"reason": reason, "code": "site-prefetches-refused", "detail": statuses,
                       "count": counts["refused"], "noun": "site prefetches", "arms": [arm], "example_urls": counts["refused_urls"][:3],
                       "remedy": remedy})
    return advice
