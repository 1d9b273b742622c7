"""What the edge did, said where mitmdump users look: the console.

- a line per prefetch decision and per injected page (mitmdump's own flow lines do not show
  flow comments);
- once, after the first prefetch refused because the edge did not hold the page: why a fresh
  proxy refuses them all (the gate working as Edgio's does) and the remedies;
- a session summary at exit and on the `prefetch.summary` command: pages injected, prefetches
  by mechanism and outcome, refusals by reason, edge cache hits, stores and bypasses, and how to
  turn the trail into a report.

It counts the audit records PrefetchLab makes (with or without a trail file).
"""

from __future__ import annotations

import logging

from mitmproxy import command, ctx

from . import audit

logger = logging.getLogger(__name__)
COLD_EDGE_HINT = (
    "prefetch-lab: prefetches are refused while the edge does not hold the page (not-cached), as "
    "Edgio's edge does: on a fresh proxy that is every prefetch. To see hits: browse the pages once "
    "to warm the edge, or set prefetch_warm_on_refusal=true, prefetch_include_cache_misses=true, or a "
    "rule's stale_while_revalidate (README: What the edge does)."
)


class SessionSummary:
    def __init__(self, lab) -> None:
        self.tally = audit.TrailTally()
        self.hinted = False
        lab.observers.append(self.add)

    def add(self, record: dict) -> None:
        self.tally.add(record)
        event = record["event"]
        if event in audit.PREFETCH_OUTCOMES:
            outcome = audit.PREFETCH_OUTCOMES[event]
            detail = f" {record['status']}" if record.get("status") else ""
            reason = f" ({record['reason']})" if record.get("reason") else ""
            logger.info(f"prefetch-lab: {record.get('prefetch') or 'prefetch'} prefetch of {record.get('url')}: "
                        f"{outcome}{detail}{reason}")
            if outcome == "refused" and record.get("reason") == "not-cached" and not self.hinted:
                self.hinted = True
                logger.warning(COLD_EDGE_HINT)
        elif event == "injected":
            logger.info(f"prefetch-lab: install.js injected into {record.get('url')}")

    @command.command("prefetch.summary")
    def summary(self) -> str:
        """What the edge did in this session: injections, prefetches by outcome, cache use."""
        lines = audit.summary_lines(self.tally.summary())
        trail = ctx.options.prefetch_audit_file
        if trail:
            lines.append(f"report: scripts/report {trail.lstrip('+')} -o report.html")
        else:
            lines.append("report: --set prefetch_audit_file=trail.jsonl keeps a trail; scripts/report trail.jsonl renders it")
        return "\n".join(lines)

    def done(self) -> None:
        logger.info("prefetch-lab session summary:\n  " + self.summary().replace("\n", "\n  "))
