"""The audit trail: one JSON object per line, one line per decision the edge makes.

Reports and plots are built on these records, so field names and event names are stable
(listed in EVENTS and in docs/DESIGN.md). Pure module: no mitmproxy.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

EVENTS = (
    "injected",
    "inject-skipped",
    "synthetic",
    "cache-store",
    "cache-hit",
    "cache-stale",
    "cache-bypass",
    "prefetch-hit",
    "prefetch-refused",
    "prefetch-forwarded",
    "revalidated",
    "warmed",
    "origin-error",
    "client-report",
    "rules-loaded",
    "rules-error",
)


def make_record(event: str, **fields: Any) -> dict[str, Any]:
    """A record with the event name and a wall-clock timestamp first; None fields are dropped."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    record: dict[str, Any] = {"ts": round(time.time(), 6), "event": event}
    record.update((k, v) for k, v in fields.items() if v is not None)
    return record


# Trails this process has written: mitmproxy's hot reload re-creates the addon, which opens its
# trail again; truncating it then would lose everything recorded before the reload.
_opened: set[Path] = set()


class AuditWriter:
    """Appends records to a JSONL file, flushing each line so a crash loses nothing written.

    Like mitmproxy's save addon, a path starting with "+" appends; otherwise the file is
    truncated when first opened (a file this process opened before is appended to).
    """

    def __init__(self, path: str) -> None:
        append = path.startswith("+")
        self.path = Path(path[1:] if append else path).expanduser()
        append = append or self.path.resolve() in _opened
        # backslashreplace: a URL or header with undecodable bytes is recorded, never a crash.
        self._file: IO[str] = open(self.path, "a" if append else "w", encoding="utf-8", errors="backslashreplace")
        _opened.add(self.path.resolve())

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a trail; a torn last line (a proxy killed mid-write) is skipped, not fatal."""
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What a person asks first: how many prefetches were served, refused (and why), forwarded."""
    events: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    bypasses: Counter[str] = Counter()
    for record in records:
        event = record.get("event", "?")
        events[event] += 1
        if event == "prefetch-refused":
            refusals[record.get("reason", "?")] += 1
        elif event == "inject-skipped":
            skips[record.get("reason", "?")] += 1
        elif event == "cache-bypass":
            bypasses[record.get("caching_status", "?")] += 1
    served = events["prefetch-hit"]
    asked = served + events["prefetch-refused"] + events["prefetch-forwarded"]
    return {
        "events": dict(sorted(events.items())),
        "prefetches": asked,
        "prefetch_hit_ratio": round(served / asked, 4) if asked else None,
        "refused_by_reason": dict(refusals.most_common()),
        "inject_skipped_by_reason": dict(skips.most_common()),
        "bypassed_by_status": dict(bypasses.most_common()),
    }
