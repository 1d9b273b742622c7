"""The audit trail: one JSON object per line, one line per decision the edge makes.

Reports and plots are built on these records, so field names and event names are stable
(listed in EVENTS and in docs/DESIGN.md; the groups its readers join on follow EVENTS). Pure
module: no mitmproxy.
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
    "learned-rules",  # a per-page learned Speculation-Rules document served (edge/stages/learning.py)
)
_EVENT_NAMES = frozenset(EVENTS)

# Groups of EVENTS the trail's readers (the audit, the report) join on.
PREFETCH_EVENTS = ("prefetch-hit", "prefetch-refused", "prefetch-forwarded")  # one per prefetch the edge saw
ORIGIN_EVENTS = ("cache-store", "cache-bypass", "origin-error")  # one per origin response
# How a request was answered, from the edge's cache or by the origin (a forwarded prefetch's
# origin answer too: such records carry `prefetch`).
EDGE_HIT_EVENTS = ("cache-hit", "cache-stale")  # a request the edge answered from its cache
CACHE_OR_ORIGIN_EVENTS = (*EDGE_HIT_EVENTS, *ORIGIN_EVENTS)
# What the edge answered itself: an error on such a flow is the client leaving (a prefetch
# cancelled while the edge delay ran), not an origin request.
EDGE_ANSWER_EVENTS = ("prefetch-hit", "prefetch-refused", "cache-hit", "cache-stale", "synthetic", "client-report")


def is_origin_answer(record: dict[str, Any]) -> bool:
    """A response the origin sent: stored or not (or an error), or a 304 to a revalidation (which
    freshens the stored entry and writes `revalidated` instead of a store)."""
    event = record.get("event")
    return event in ORIGIN_EVENTS or (event == "revalidated" and record.get("status") == 304)


def make_record(event: str, **fields: Any) -> dict[str, Any]:
    """A record with the event name and a wall-clock timestamp first; None fields are dropped."""
    if event not in _EVENT_NAMES:
        raise ValueError(f"unknown audit event {event!r}")
    record: dict[str, Any] = {"ts": round(time.time(), 6), "event": event}
    for name, value in fields.items():
        if value is not None:
            record[name] = value
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
        if append:
            _drop_torn_tail(self.path)
        # backslashreplace: a URL or header with undecodable bytes is recorded, never a crash.
        self._file: IO[str] = open(self.path, "a" if append else "w", encoding="utf-8", errors="backslashreplace")
        _opened.add(self.path.resolve())

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._file.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _drop_torn_tail(path: Path) -> None:
    """Before appending: cut a torn last line (a process killed mid-write), which would
    otherwise be glued to the first new record and spoil it."""
    try:
        with open(path, "r+b") as file:
            size = file.seek(0, 2)
            if size == 0:
                return
            file.seek(max(0, size - 65536))
            tail = file.read()
            if tail.endswith(b"\n"):
                return
            newline = tail.rfind(b"\n")
            if newline >= 0 or size <= 65536:
                file.truncate(size - len(tail) + newline + 1)
    except FileNotFoundError:
        pass


class TrailError(ValueError):
    """A trail line that is not a record, other than a torn last line; `str(e)` is "file:line: ..."."""


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Records of a trail. Only a torn last line (a proxy killed mid-write, or a line being
    written while the trail is read: no newline yet) is skipped; any other line that is not a
    JSON object raises TrailError naming its line, rather than losing records silently."""
    with open(path, encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                if not line.endswith("\n"):
                    return  # torn: the last line, cut short
                raise TrailError(f"{path}:{number}: not a JSON record ({e.msg})") from None
            if not isinstance(record, dict):
                raise TrailError(f"{path}:{number}: not a JSON object")
            yield record


PREFETCH_OUTCOMES = {"prefetch-hit": "hit", "prefetch-refused": "refused", "prefetch-forwarded": "forwarded"}


class TrailTally:
    """Counts a trail as it is written (the proxy's session summary) or read (summarize)."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.skips: Counter[str] = Counter()
        self.bypasses: Counter[str] = Counter()
        self.prefetches: dict[str, Counter[str]] = {}

    def add(self, record: dict[str, Any]) -> None:
        event = record.get("event", "?")
        self.events[event] += 1
        if event in PREFETCH_OUTCOMES:
            self.prefetches.setdefault(record.get("prefetch") or "?", Counter())[PREFETCH_OUTCOMES[event]] += 1
        if event == "prefetch-refused":
            self.refusals[record.get("reason", "?")] += 1
        elif event == "inject-skipped":
            self.skips[record.get("reason", "?")] += 1
        elif event == "cache-bypass":
            self.bypasses[record.get("caching_status", "?")] += 1

    def summary(self) -> dict[str, Any]:
        """What a person asks first: how many prefetches were served, refused (and why), forwarded."""
        served = self.events["prefetch-hit"]
        asked = served + self.events["prefetch-refused"] + self.events["prefetch-forwarded"]
        return {
            "events": dict(sorted(self.events.items())),
            "prefetches": asked,
            "prefetch_hit_ratio": round(served / asked, 4) if asked else None,
            "prefetches_by_mechanism": {name: dict(c) for name, c in sorted(self.prefetches.items())},
            "refused_by_reason": dict(self.refusals.most_common()),
            "inject_skipped_by_reason": dict(self.skips.most_common()),
            "bypassed_by_status": dict(self.bypasses.most_common()),
        }


def summarize(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    tally = TrailTally()
    for record in records:
        tally.add(record)
    return tally.summary()


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The session summary as a few lines for the console."""
    events = summary["events"]
    count = lambda *names: sum(events.get(name, 0) for name in names)  # noqa: E731
    by_mechanism = "; ".join(
        f"{name}: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
        for name, outcomes in summary["prefetches_by_mechanism"].items()
    ) or "none"
    listing = lambda counts: ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"  # noqa: E731
    return [
        f"pages injected: {count('injected')} (skipped: {listing(summary['inject_skipped_by_reason'])})",
        f"prefetches: {summary['prefetches']} ({by_mechanism})",
        f"refused by reason: {listing(summary['refused_by_reason'])}",
        f"edge cache (other than prefetches): hit {count('cache-hit')}, stale {count('cache-stale')}, "
        f"stored {count('cache-store')}, not stored {count('cache-bypass')} ({listing(summary['bypassed_by_status'])})",
    ]
