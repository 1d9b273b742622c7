"""The prefetches of a run, one row per prefetch (audit.json's `prefetches`): every prefetch the
edge recorded (served, refused, forwarded), joined with Chromium's own status for speculation
prefetches, plus the ones Chromium reported and never sent to the edge, and the site's script
prefetches the browser saw (no Sec-Purpose: to the edge, ordinary requests). Each row is placed on the
page that issued it, attributed to its source (ours or the site's own: prefetch_mechanism);
prerenders are told apart from prefetches. `used` is filled in later
(prefetch_use). Fields starting with "_" are for the joins and are not written. Pure module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass

from prefetch_lab.audit.computed.gathered_run import Run, load_end_epoch_ms
from prefetch_lab.prefetch_mechanism import mechanism
from prefetch_lab.stats import integer, ms, number
from prefetch_lab.trail import CACHE_OR_ORIGIN_EVENTS, PREFETCH_EVENTS

# The arms that inject nothing of ours (audit/settings.py: prefetch_inject off): every prefetch
# there is the site's own.
SITE_ONLY_ARMS = ("control", "placebo")
# Attempts that stayed Pending were never sent: they are not prefetches.
UNSENT_STATUSES = ("Pending",)


def build_prefetches(run: Run) -> list[dict]:
    """Needs run.navigations (to tell a page's URL from a subresource's)."""
    documents = {n["_key"] for n in run.navigations} | {run.key(s.get("url")) for s in run.steps}
    resources = {
        run.key(r.get("name"))
        for s in run.steps if isinstance(s.get("page"), dict)
        for r in s["page"].get("resources") or [] if isinstance(r, dict)
    }
    answers = origin_answers(run)
    rows = [edge_prefetch(run, r, answers, documents, resources, forwarded)
            for r, forwarded in one_record_per_flow(run.trail)]
    attempts = speculation_attempts(run)
    match_attempts(rows, attempts)
    rows += unsent_to_edge(run, attempts)
    rows += script_prefetch_rows(run)
    mark_prerenders(run, rows)
    for row in rows:
        place_in_walk(run, row)
    return sorted(rows, key=lambda r: (r["ts"] is None, r["ts"] or 0))


def one_record_per_flow(trail: list[dict]) -> list[tuple[dict, str | None]]:
    """(record, reason it was forwarded) per prefetch: an ungated prefetch (the site's own rules,
    prefetch_gate=off) is recorded forwarded when classified, then prefetch-hit if the edge
    served it after all; that flow is one prefetch, its hit, forwarded for that reason."""
    records = [r for r in trail if r.get("event") in PREFETCH_EVENTS]
    answered = {r.get("flow_id") for r in records if r["event"] != "prefetch-forwarded" and r.get("flow_id")}
    reasons = {r.get("flow_id"): r.get("reason") for r in records if r["event"] == "prefetch-forwarded"}
    return [(r, reasons.get(r.get("flow_id")) if r["event"] != "prefetch-forwarded" else None) for r in records
            if not (r["event"] == "prefetch-forwarded" and r.get("flow_id") in answered)]


def is_success(prefetch: dict) -> bool:
    """The browser got a response body from this prefetch (the edge served or forwarded it)."""
    status = prefetch.get("status")
    return prefetch["edge"] in ("hit", "stale", "forwarded") and isinstance(status, int) and 200 <= status < 300


def origin_answers(run: Run) -> dict[str, dict]:
    """flow_id → the origin's answer record (status, size) for forwarded prefetches."""
    return {r["flow_id"]: r for r in run.origin_records() if r.get("flow_id")}


def prefetch_row(run: Run, url: str, ts: float | None, mechanism_name: str, edge: str | None, **fields) -> dict:
    """One row of `prefetches`, every field present (the step and `used` are filled in later)."""
    return {
        "arm": run.arm, "run": run.index, "step": None, "url": url, "mechanism": mechanism_name, "kind": "prefetch",
        "edge": edge, "edge_reason": None, "status": None, "browser_status": None, "used": False, "bytes": None,
        "start_ms_after_load": None, "ts": ts, "content_type": None, "rules": [], "hint": None, **fields,
    }


def edge_prefetch(run: Run, record: dict, answers: dict, documents: set[str], resources: set[str],
                  forwarded_reason: str | None = None) -> dict:
    event = record["event"]
    url = run.key(record.get("url"))
    source = mechanism(record, url, documents, resources, injected=run.arm not in SITE_ONLY_ARMS,
                       forwarded_reason=forwarded_reason)
    row = prefetch_row(run, url, record["ts"], source, None, status=record.get("status"),
                       content_type=record.get("content_type"), rules=list(record.get("rules") or []), _record=record)
    if event == "prefetch-hit":
        row.update(edge="stale" if record.get("caching_status") == "stale" else "hit", bytes=record.get("size"),
                   edge_reason=record.get("caching_status"))
    elif event == "prefetch-refused":
        row.update(edge="refused", edge_reason=record.get("reason"), bytes=0)
    else:
        answer = answers.get(record.get("flow_id")) or {}
        row.update(edge="forwarded", edge_reason=record.get("reason"), status=answer.get("status"),
                   bytes=answer.get("size"))
    return row


@dataclass
class Attempt:
    """One speculation prefetch as Chromium reported it (CDP events grouped by their key)."""

    url: str
    first_ts: float | None
    statuses: list[str]
    last_prefetch_status: str | None
    loader_id: str | None = None
    matched: bool = False


def speculation_attempts(run: Run) -> list[Attempt]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for event in run.preload_events:
        url = run.key(event.get("prefetchUrl") or (event.get("key") or {}).get("url"))
        key = event.get("key")
        ident = json.dumps(key, sort_keys=True, default=str) if key else f"{url}@{event.get('initiatingFrameId')}"
        groups[ident].append({**event, "_url": url})
    attempts = []
    for events in groups.values():
        times = [e["ts"] for e in events if number(e.get("ts")) is not None]
        statuses = [str(e.get("status")) for e in events if e.get("status")]
        reported = [e["prefetchStatus"] for e in events if e.get("prefetchStatus")]
        attempts.append(Attempt(events[0]["_url"], min(times) if times else None, statuses, reported[-1] if reported else None,
                                (events[0].get("key") or {}).get("loaderId")))
    return sorted(attempts, key=lambda a: (a.first_ts is None, a.first_ts or 0))


def match_attempts(rows: list[dict], attempts: list[Attempt]) -> None:
    """Give each speculation prefetch the edge saw Chromium's final status for it."""
    slack = 2.0  # CDP events and the proxy's clock: same machine, but events arrive late
    for row in rows:
        if row["mechanism"] not in ("speculation", "site"):
            continue
        same_url = [a for a in attempts if a.url == row["url"] and not a.matched]
        before = [a for a in same_url if a.first_ts is None or a.first_ts <= row["ts"] + slack]
        chosen = before[-1] if before else (same_url[0] if same_url else None)
        if chosen:
            chosen.matched = True
            row["browser_status"] = chosen.last_prefetch_status
            row["_attempt"] = chosen
        else:
            statuses = [a.last_prefetch_status for a in attempts if a.url == row["url"] and a.last_prefetch_status]
            row["browser_status"] = statuses[-1] if statuses else None


def unsent_to_edge(run: Run, attempts: list[Attempt]) -> list[dict]:
    """Speculation prefetches Chromium reported that never reached the edge (refused in the browser)."""
    rows = []
    for attempt in attempts:
        if attempt.matched or not attempt.statuses or all(s in UNSENT_STATUSES for s in attempt.statuses):
            continue
        rows.append(prefetch_row(run, attempt.url, attempt.first_ts, "site" if run.arm in SITE_ONLY_ARMS else "speculation",
                                 "none", edge_reason=attempt.last_prefetch_status, browser_status=attempt.last_prefetch_status,
                                 bytes=0, _attempt=attempt))
    return rows


SCRIPT_FETCH_SLACK_S = 1.0  # the browser's wallTime and the proxy's clock: same machine, events reported late


def script_prefetch_rows(run: Run) -> list[dict]:
    """The site's script prefetches the driver saw (a low-priority fetch or XHR, or one with a
    prefetch hint header: gather/page_scripts.py): rows of their own, `kind: "script-fetch"`,
    each joined with the edge's answer to that request, the first ordinary (not prefetch) record
    of its URL from its start on. `edge: none` without one (the browser's cache answered)."""
    rows, taken = [], set()
    for fetch in run.script_prefetches:
        url, ts = run.key(fetch.get("url")), number(fetch["ts"])
        record = next((r for r in run.trail if r["ts"] >= ts - SCRIPT_FETCH_SLACK_S and r.get("event") in CACHE_OR_ORIGIN_EVENTS
                       and not r.get("prefetch") and id(r) not in taken and run.key(r.get("url")) == url), None)
        if record is not None:
            taken.add(id(record))
        edge = {"cache-hit": "hit", "cache-stale": "stale"}.get(record["event"], "forwarded") if record else "none"
        answer = record or {}
        rows.append(prefetch_row(run, url, ts, "site", edge, kind="script-fetch", edge_reason=answer.get("caching_status"),
                                 status=answer.get("status"), bytes=answer.get("size"),
                                 content_type=answer.get("content_type"), hint=fetch.get("hint")))
    return rows


def prerender_attempts(run: Run) -> dict[tuple[str | None, str], list[dict]]:
    """(loaderId of the page that asked, URL) -> its Preload.prerenderStatusUpdated events."""
    groups: dict[tuple[str | None, str], list[dict]] = defaultdict(list)
    for event in run.prerender_events:
        key = event.get("key") or {}
        groups[(key.get("loaderId"), run.key(key.get("url")))].append(event)
    return groups


def mark_prerenders(run: Run, rows: list[dict]) -> None:
    """A prerender's document reaches the edge as a speculation like a prefetch (Chromium 156
    fetches it through a prefetch attempt of the same page and URL, so CDP reports both): the
    rows whose prefetch attempt has a prerender beside it are prerenders."""
    prerenders = prerender_attempts(run)
    for row in rows:
        attempt = row.get("_attempt")
        if attempt is not None and (attempt.loader_id, attempt.url) in prerenders:
            row["kind"] = "prerender"


def place_in_walk(run: Run, row: dict) -> None:
    """The step (page) that issued the prefetch, and when, relative to that page's load event."""
    if row["ts"] is None:
        return
    index = run.issuing_step(row["ts"])
    if index is None:
        return
    row["step"] = integer(run.steps[index].get("step"), index)
    row["_issuer"] = index
    load_end = load_end_epoch_ms(run.page(index))
    row["start_ms_after_load"] = ms(row["ts"] * 1000 - load_end) if load_end is not None else None
