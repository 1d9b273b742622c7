"""What the edge did, said where mitmdump users look: the console.

- a line per edge decision (prefetch answers, injection, cache hits, stores and bypasses):
  mitmdump's own flow lines leave out flow comments;
- once, after the first prefetch refused because the edge did not hold the page: why a fresh
  proxy refuses them all (the gate working as Edgio's does) and the remedies;
- a session summary at exit and on the `prefetch.summary` command: pages injected, prefetches
  by mechanism and outcome, refusals by reason, edge cache hits, stores and bypasses, and how to
  turn the trail into a report.

It counts the trail records the stages make (with or without a trail file), as an observer
of the context's trail.
"""

from __future__ import annotations

import logging

from mitmproxy import command, ctx

from prefetch_lab import trail
from prefetch_lab.edge.context import EdgeContext

logger = logging.getLogger(__name__)
COLD_EDGE_HINT = (
    "prefetch-lab: prefetches are refused while the edge does not hold the page (not-cached), as "
    "Edgio's edge does: on a fresh proxy that is every prefetch. To see hits: browse the pages once "
    "to warm the edge, or set prefetch_warm_on_refusal=true, prefetch_include_cache_misses=true, or a "
    "rule's stale_while_revalidate (README: What the edge does)."
)


def describe(record: dict) -> str | None:
    """What the edge did, in a few words (None: nothing worth a line)."""
    event, reason = record["event"], record.get("reason")
    because = f" ({reason})" if reason else ""
    if event in trail.PREFETCH_OUTCOMES:
        status = f" {record['status']}" if record.get("status") else ""
        return f"{record.get('prefetch') or 'a'} prefetch {trail.PREFETCH_OUTCOMES[event]}{status}{because}"
    return {
        "injected": "install.js injected",
        "inject-skipped": f"install.js not injected{because}",
        "cache-hit": "edge hit",
        "cache-stale": (f"edge hit (stale-if-error){because}" if record.get("caching_status") == "stale-if-error"
                        else "edge hit (stale), refreshing"),
        "cache-store": f"from the origin, stored for {record.get('ttl')} s",
        "cache-bypass": f"from the origin, not stored ({record.get('caching_status')})",
        "origin-error": f"origin error{because}",
    }.get(event)


class SessionSummary:
    name = "prefetch.summary"

    def __init__(self, edge: EdgeContext) -> None:
        self.tally = trail.TrailTally()
        self.hinted = False
        self.flow_detail: int | None = None  # kept from configure (a ctx.options read deep-copies)
        edge.observers.append(self.add)

    def configure(self, updated: set[str]) -> None:
        if "flow_detail" in updated:
            self.flow_detail = ctx.options.flow_detail

    def add(self, record: dict) -> None:
        self.tally.add(record)
        event = record["event"]
        if (
            event == "prefetch-refused" and record.get("reason") == "not-cached" and not self.hinted
        ):
            self.hinted = True
            logger.warning(COLD_EDGE_HINT)
        # One line per edge decision, beside mitmdump's own flow lines (which leave out flow
        # comments); quiet with flow_detail=0, as mitmdump's own lines are.
        flow_detail = self.flow_detail
        if flow_detail is None:  # no configure yet; embedded without mitmdump's dumper: its default
            flow_detail = ctx.options.flow_detail if "flow_detail" in ctx.options else 1
        if flow_detail >= 1 and (line := describe(record)):
            logger.info("prefetch-lab: %s: %s", record.get("url"), line)

    @command.command("prefetch.summary")
    def summary(self) -> str:
        """What the edge did in this session: injections, prefetches by outcome, cache use."""
        lines = trail.summary_lines(self.tally.summary())
        path = ctx.options.prefetch_audit_file
        if path:
            lines.append(f"report: scripts/report {path.lstrip('+')} -o report.html")
        else:
            lines.append("report: --set prefetch_audit_file=trail.jsonl keeps a trail; scripts/report trail.jsonl renders it")
        return "\n".join(lines)

    def done(self) -> None:
        logger.info("prefetch-lab session summary:\n  " + self.summary().replace("\n", "\n  "))
