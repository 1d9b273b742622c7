"""The audit's analysis: raw runs (browser timings, CDP preload events, the proxy's trail) in,
the `prefetch-lab-audit/1` results out (docs/audit-json.md documents every field).

Pure module: plain dicts in, plain JSON-serialisable dicts out; no mitmproxy, no Playwright.
Why a navigation was not prefetched, and what to do about it, lives in `auditadvice.py`.
"""

from __future__ import annotations

import bisect
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from prefetch_lab.audit.findings import advice as auditadvice
from prefetch_lab.formatting import fmt_bytes, fmt_ms, fmt_percent, fmt_ratio

SCHEMA = "prefetch-lab-audit/1"

PREFETCH_EVENTS = ("prefetch-hit", "prefetch-refused", "prefetch-forwarded")
ORIGIN_EVENTS = ("cache-store", "cache-bypass", "origin-error")  # one per origin response
DOCUMENT_EVENTS = ("cache-hit", "cache-stale", *ORIGIN_EVENTS)
def is_origin_answer(record: dict) -> bool:
    """A response the origin sent: stored or not (or an error), or a 304 to a revalidation (which
    freshens the stored entry and writes `revalidated` instead of a store)."""
    event = record.get("event")
    return event in ORIGIN_EVENTS or (event == "revalidated" and record.get("status") == 304)


# What the edge answered itself: an error on such a flow is the client leaving (a prefetch
# cancelled while the edge delay ran), not an origin request.
EDGE_ANSWER_EVENTS = ("prefetch-hit", "prefetch-refused", "cache-hit", "cache-stale", "synthetic", "client-report")
SW_DEFAULT_TTL_S = 120  # the service worker's default when x-sw-cache-control is absent (Edgio's)
# Resource Timing deliveryTypes that did not touch the network.
LOCAL_DELIVERY = ("cache", "cache-storage", "navigational-prefetch")
ASSET_EXTENSIONS = frozenset(
    "css js mjs json png jpg jpeg gif webp avif svg ico bmp woff woff2 ttf otf eot mp4 webm mp3 wasm map txt xml pdf".split()
)
# Attempts that stayed Pending were never sent: they are not prefetches.
UNSENT_STATUSES = ("Pending",)


# ---- small helpers ---------------------------------------------------------------------------

def normalize_url(url: str | None, aliases: dict[str, str] | None = None) -> str:
    """The URL a navigation and a prefetch share: no fragment, no edgio_* params, default port
    dropped, and an aliased origin (the reverse proxy's own address) replaced by the site's."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url.split("#", 1)[0]
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.split("=", 1)[0].startswith("edgio_"))
    alias = (aliases or {}).get(f"{scheme}://{host}")
    if alias:
        scheme, host = alias.split("://", 1)
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def url_origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, normalised like normalize_url."""
    key = normalize_url(url)
    if "://" not in key:
        return None
    scheme, rest = key.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def number(value: Any) -> float | None:
    """A finite float, or None (timings the browser did not report arrive as None, 0 or NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def integer(value: Any, default: int) -> int:
    number_value = number(value)
    return int(number_value) if number_value is not None else default


def ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def since_activation(raw: Any, activation: float, floor_zero: bool = True) -> float | None:
    value = number(raw)
    if value is None:
        return None
    value -= activation
    return ms(max(0.0, value) if floor_zero else value)


def percentile(values: list[float], p: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default, R type 7): rank p/100·(n−1)."""
    data = sorted(v for v in values if number(v) is not None)
    if not data:
        return None
    rank = p / 100 * (len(data) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (rank - low)


def ratio(numerator: float | None, denominator: float | None, digits: int = 4) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)


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


def is_html(content_type: str | None) -> bool:
    return bool(content_type) and ("html" in content_type.lower())


def is_success(prefetch: dict) -> bool:
    """The browser got a response body from this prefetch (the edge served or forwarded it)."""
    status = prefetch.get("status")
    return prefetch["edge"] in ("hit", "stale", "forwarded") and isinstance(status, int) and 200 <= status < 300


def is_prefetch_event(event: Any) -> bool:
    """A Preload.prefetchStatusUpdated (the driver may also pass prerenderStatusUpdated events)."""
    if not isinstance(event, dict) or event.get("event", "prefetchStatusUpdated") != "prefetchStatusUpdated":
        return False
    key = event.get("key") if isinstance(event.get("key"), dict) else {}
    return key.get("action", "Prefetch") == "Prefetch" and bool(event.get("prefetchUrl") or key.get("url"))


def is_prerender_event(event: dict) -> bool:
    key = event.get("key") if isinstance(event.get("key"), dict) else {}
    return event.get("event") == "prerenderStatusUpdated" and key.get("action", "Prerender") == "Prerender"


# ---- one (arm, run) --------------------------------------------------------------------------

@dataclass
class Run:
    """One (arm, run) with its inputs cleaned up and indexed for the joins below."""

    arm: str
    index: int
    trail_all: list[dict]       # warm-up included (used only to diagnose why the edge is cold)
    trail: list[dict]           # the measure window
    steps: list[dict]
    bounds: list[float]         # epoch s where each step's page takes over (see issuing_step)
    preload_events: list[dict]
    prerender_events: list[dict] = field(default_factory=list)  # Preload.prerenderStatusUpdated, in the window
    aliases: dict[str, str] = field(default_factory=dict)
    navigations: list[dict] = field(default_factory=list)
    prefetches: list[dict] = field(default_factory=list)

    def key(self, url: str | None) -> str:
        return normalize_url(url, self.aliases)

    def origin_records(self) -> list[dict]:
        """One record per request that reached the origin in the measure window."""
        answered = {r.get("flow_id") for r in self.trail if r.get("event") in EDGE_ANSWER_EVENTS}
        return [r for r in self.trail if is_origin_answer(r)
                and not (r["event"] == "origin-error" and r.get("flow_id") in answered)]

    @classmethod
    def from_input(cls, raw: dict) -> "Run":
        start = number(raw.get("measure_start")) or float("-inf")
        end = number(raw.get("measure_end")) or float("inf")
        trail_all = sorted((r for r in raw.get("trail") or [] if isinstance(r, dict) and number(r.get("ts")) is not None),
                           key=lambda r: r["ts"])
        steps = [s for s in raw.get("steps") or [] if isinstance(s, dict)]
        in_window = [e for e in raw.get("preload_events") or [] if isinstance(e, dict)
                     and (number(e.get("ts")) is None or start <= e["ts"] <= end)]
        events = [e for e in in_window if is_prefetch_event(e)]
        return cls(
            arm=str(raw.get("arm") or "?"),
            index=integer(raw.get("run"), 0),
            trail_all=trail_all,
            trail=[r for r in trail_all if start <= r["ts"] <= end],
            steps=steps,
            bounds=step_bounds(steps),
            preload_events=events,
            prerender_events=[e for e in in_window if is_prerender_event(e)],
            aliases=origin_aliases(raw.get("proxy_address"), steps),
        )

    def issuing_step(self, ts: float) -> int | None:
        """Index (into steps) of the page that was showing at ts; before the first page: the first."""
        if not self.steps:
            return None
        return max(0, bisect.bisect_right(self.bounds, ts) - 1)

    def page(self, index: int | None) -> dict | None:
        if index is None or not 0 <= index < len(self.steps):
            return None
        page = self.steps[index].get("page")
        return page if isinstance(page, dict) else None


def origin_aliases(proxy_address: str | None, steps: list[dict]) -> dict[str, str]:
    """In reverse mode the browser's URLs carry the proxy's address while the walk (and the
    trail) carry the site's: treat the proxy's origin as the site's."""
    proxy, site = url_origin(proxy_address), url_origin(steps[0].get("url")) if steps else None
    return {proxy: site} if proxy and site and proxy != site else {}


def navigation_start(step: dict) -> float | None:
    """Epoch s of the step's navigation start: performance.timeOrigin, else when the action began.
    A prerendered page's timeOrigin is when its prerender began, while the page before was still
    showing: it takes over at its activation (timeOrigin + activationStart)."""
    page = step.get("page") if isinstance(step.get("page"), dict) else None
    origin = number(page.get("time_origin")) if page else None
    activation = number((page.get("nav") or {}).get("activationStart")) if page else None
    return (origin + (activation or 0)) / 1000 if origin is not None else number(step.get("started"))


def step_bounds(steps: list[dict]) -> list[float]:
    """Where each step's window begins. The next page's navigation start (timeOrigin), not the
    moment the pointer reached the link: a conservative prefetch fires on pointer-down, after the
    next step's `started`, and was issued by the page still showing."""
    bounds: list[float] = []
    for step in steps:
        begin = navigation_start(step)
        if begin is None:
            begin = bounds[-1] if bounds else float("-inf")
        bounds.append(max(begin, bounds[-1]) if bounds else begin)
    return bounds


def load_end_epoch_ms(page: dict | None) -> float | None:
    if not page:
        return None
    origin = number(page.get("time_origin"))
    load = number((page.get("nav") or {}).get("loadEventEnd"))
    return origin + load if origin is not None and load else None


# ---- navigations -----------------------------------------------------------------------------

def document_record(run: Run, index: int) -> dict | None:
    """The edge's record of the step's document request, in the step's window."""
    step, page = run.steps[index], run.page(index)
    begin = run.bounds[index]
    end = run.bounds[index + 1] if index + 1 < len(run.bounds) else float("inf")
    final, asked = run.key(page.get("url") if page else None), run.key(step.get("url"))
    candidates = [
        r for r in run.trail
        if begin <= r["ts"] < end and r.get("event") in DOCUMENT_EVENTS and not r.get("prefetch")
        and r.get("dest") in ("document", None)
    ]
    for wanted in (final, asked):
        for record in candidates:
            if wanted and run.key(record.get("url")) == wanted:
                return record
    return None


def served_from(delivery_type: str, record: dict | None, edge_status: str | None, activated: bool = False) -> str:
    if activated:
        return "prerender"
    if delivery_type == "navigational-prefetch":
        return "prefetch"
    if delivery_type == "cache-storage":
        return "service-worker"
    if delivery_type == "cache":
        return "http-cache"
    if record is not None:
        return "edge" if record.get("event") in ("cache-hit", "cache-stale") else "origin"
    if edge_status in ("hit", "stale"):
        return "edge"
    return "origin" if edge_status else "unknown"


def delivery_of(delivery_type: str, activated: bool) -> str:
    """What the driver records per step (auditcdp.delivery), for runs whose driver did not."""
    if activated:
        return "prerender"
    return {"navigational-prefetch": "prefetch", "cache": "cache", "cache-storage": "service-worker"}.get(delivery_type, "network")


def transfer_bytes(page: dict) -> tuple[int, int]:
    document = int(number((page.get("nav") or {}).get("transferSize")) or 0)
    resources = sum(int(number(r.get("transferSize")) or 0) for r in page.get("resources") or [] if isinstance(r, dict))
    return document, document + resources


def build_navigation(run: Run, index: int) -> dict | None:
    step, page = run.steps[index], run.page(index)
    if page is None:
        return None
    nav = page.get("nav") or {}
    document = step.get("document") or {}
    headers = {str(k).lower(): v for k, v in (document.get("headers") or {}).items()}
    activation = number(nav.get("activationStart")) or 0.0
    delivery = str(nav.get("deliveryType") or "")
    record = document_record(run, index)
    edge_status = headers.get("x-edg-caching-status")
    doc_bytes, total_bytes = transfer_bytes(page)
    load = number(nav.get("loadEventEnd"))
    # A prerender's activation: the driver saw the tab switch to the prerendered page, or the page
    # says it was activated (activationStart > 0, Navigation Timing).
    activated = step.get("delivery") == "prerender" or activation > 0
    return {
        "arm": run.arm,
        "run": run.index,
        "step": integer(step.get("step"), index),
        "url": run.key(page.get("url") or step.get("url")),
        "walk_url": step.get("url"),
        "trigger": step.get("trigger"),
        "error": step.get("error"),
        "delivery_type": delivery,
        "activation_start_ms": ms(activation),
        "was_prerendered": bool(page.get("was_prerendered")),
        "served_from": served_from(delivery, record, edge_status, activated),
        "delivery": step.get("delivery") or delivery_of(delivery, activated),
        "document_status": document.get("status") if isinstance(document.get("status"), int) else None,
        "edge_caching_status": edge_status,
        "ttfb_ms": since_activation(nav.get("responseStart"), activation),
        "fcp_ms": since_activation(page.get("fcp"), activation),
        "lcp_ms": since_activation(page.get("lcp"), activation),
        "lcp_element": page.get("lcp_element"),
        "dom_content_loaded_ms": since_activation(nav.get("domContentLoadedEventEnd") or None, activation),
        "load_ms": since_activation(load or None, activation),
        "transfer_bytes": total_bytes,
        "document_transfer_bytes": doc_bytes,
        "prefetched": activated or delivery == "navigational-prefetch",  # service-worker cases: credit_use
        "contention": None,
        "not_prefetched_reason": None,
        "not_prefetched_detail": None,
        "_index": index,
        "_start": navigation_start(step),
        "_key": run.key(page.get("url") or step.get("url")),
        "_keys": {run.key(page.get("url")), run.key(step.get("url"))} - {""},
        "_record": record,
        "_vary": headers.get("vary"),
    }


# ---- prefetches ------------------------------------------------------------------------------

def looks_like_asset(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last and last.rsplit(".", 1)[-1].lower() in ASSET_EXTENSIONS


def mechanism(record: dict, url: str, documents: set[str], resources: set[str]) -> str:
    if record.get("event") == "prefetch-forwarded" and record.get("reason") == "site-speculation":
        return "site"
    if record.get("prefetch") == "speculation":
        return "speculation"
    content_type = record.get("content_type")
    if content_type:
        subresource = not is_html(content_type)
    elif url in documents:
        subresource = False
    else:
        subresource = url in resources or looks_like_asset(url) or record.get("dest") not in (None, "empty", "document")
    return "deep-fetch" if subresource else "edgio"


def origin_answers(run: Run) -> dict[str, dict]:
    """flow_id → the origin's answer record (status, size) for forwarded prefetches."""
    return {r["flow_id"]: r for r in run.origin_records() if r.get("flow_id")}


def edge_prefetch(run: Run, record: dict, answers: dict, documents: set[str], resources: set[str]) -> dict:
    event = record["event"]
    row = {
        "arm": run.arm, "run": run.index, "step": None, "url": run.key(record.get("url")),
        "mechanism": mechanism(record, run.key(record.get("url")), documents, resources),
        "kind": "prefetch", "edge": None, "edge_reason": None, "status": record.get("status"), "browser_status": None,
        "used": False, "bytes": None, "start_ms_after_load": None, "ts": record["ts"],
        "content_type": record.get("content_type"), "rules": list(record.get("rules") or []),
        "_record": record,
    }
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
        rows.append({
            "arm": run.arm, "run": run.index, "step": None, "url": attempt.url, "mechanism": "speculation",
            "kind": "prefetch", "edge": "none", "_attempt": attempt, "edge_reason": attempt.last_prefetch_status, "status": None,
            "browser_status": attempt.last_prefetch_status, "used": False, "bytes": 0,
            "start_ms_after_load": None, "ts": attempt.first_ts, "content_type": None, "rules": [],
        })
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


def build_prefetches(run: Run) -> list[dict]:
    documents = {n["_key"] for n in run.navigations} | {run.key(s.get("url")) for s in run.steps}
    resources = {
        run.key(r.get("name"))
        for s in run.steps if isinstance(s.get("page"), dict)
        for r in s["page"].get("resources") or [] if isinstance(r, dict)
    }
    answers = origin_answers(run)
    rows = [edge_prefetch(run, r, answers, documents, resources) for r in run.trail if r.get("event") in PREFETCH_EVENTS]
    attempts = speculation_attempts(run)
    match_attempts(rows, attempts)
    rows += unsent_to_edge(run, attempts)
    mark_prerenders(run, rows)
    for row in rows:
        place_in_walk(run, row)
    return sorted(rows, key=lambda r: (r["ts"] is None, r["ts"] or 0))


# ---- joins: used, double fetches, contention --------------------------------------------------

def latest_before(prefetches: list[dict], urls: set[str], before: float | None, mechanisms: tuple[str, ...],
                  successful: bool, unused: bool = False) -> dict | None:
    found = [
        p for p in prefetches
        if p["url"] in urls and p["mechanism"] in mechanisms and p["ts"] is not None
        and (before is None or p["ts"] < before) and (not successful or is_success(p)) and not (unused and p["used"])
    ]
    return found[-1] if found else None


PAGE_MECHANISMS = ("edgio", "speculation", "site")
# Whom a navigational-prefetch credits, best evidence first: a speculation no earlier navigation
# used (they are single use; one Chromium answered from its HTTP cache never reached the edge,
# `edge: none`), a 2xx one before any other. (mechanisms, successful, unused)
SPECULATION_CREDIT = (
    (("speculation", "site"), True, True), (("speculation", "site"), False, True),
    (("speculation", "site"), True, False), (("speculation", "site"), False, False), (PAGE_MECHANISMS, False, False),
)


def credit_use(run: Run) -> None:
    """Mark the prefetch each navigation (and each service-worker-served resource) was served from."""
    for nav in run.navigations:
        kind = nav["served_from"]
        if kind in ("prefetch", "prerender"):
            credited = next((found for mechanisms, successful, unused in SPECULATION_CREDIT
                             if (found := latest_before(run.prefetches, nav["_keys"], nav["_start"], mechanisms,
                                                        successful, unused))), None)
        elif kind in ("service-worker", "http-cache"):
            # http-cache: install.js falls back to <link rel=prefetch> when the CSP forbids the worker
            credited = latest_before(run.prefetches, nav["_keys"], nav["_start"], ("edgio",), True)
            nav["prefetched"] = credited is not None
        else:
            credited = None
        if credited:
            credited["used"] = True
            nav["_credited"] = credited
    for nav, entry, fetched_at in page_resources(run):
        if str(entry.get("deliveryType") or "") == "cache-storage":
            credited = latest_before(run.prefetches, {run.key(entry.get("name"))}, fetched_at,
                                     ("deep-fetch", "edgio"), True)
            if credited:
                credited["used"] = True


def page_resources(run: Run):
    for nav in run.navigations:
        page = run.page(nav["_index"]) or {}
        origin = number(page.get("time_origin"))
        for entry in page.get("resources") or []:
            if isinstance(entry, dict):
                start = number(entry.get("startTime"))
                fetched_at = (origin + (start or 0)) / 1000 if origin is not None else nav["_start"]
                yield nav, entry, fetched_at


def vary_names(vary: str | None) -> list[str]:
    names = [n.strip().lower() for n in (vary or "").split(",") if n.strip()]
    return [n for n in names if n not in ("accept-encoding", "sec-purpose")]


def double_fetch_reason(prefetch: dict, fetched_at: float | None, vary: str | None) -> tuple[str, str]:
    """Why a prefetched URL went to the network again, as far as the data can tell."""
    status = prefetch.get("browser_status")
    if status and status not in ("PrefetchResponseUsed", "PrefetchSuccessfulButNotUsed", "PrefetchAllowed"):
        return status, auditadvice.browser_status_meaning(status)
    if prefetch.get("status") != 200:
        return "not-stored", f"the prefetch was answered {prefetch.get('status')}; only 200s are kept for reuse"
    age = fetched_at - prefetch["ts"] if fetched_at is not None else None
    if prefetch["mechanism"] in ("edgio", "deep-fetch") and age is not None and age > SW_DEFAULT_TTL_S:
        return "expired", f"fetched {age:.0f} s after the prefetch, past the service worker's {SW_DEFAULT_TTL_S} s default lifetime"
    names = vary_names(vary)
    if names:
        return "vary", f"the response varies on {', '.join(names)}, so the prefetched copy may not match"
    return "unknown", "prefetched successfully, then fetched from the network again for a reason the data does not show"


def double_fetches(run: Run) -> list[dict]:
    found = []
    for nav in run.navigations:
        if nav["served_from"] in ("prefetch", "prerender", "service-worker", "http-cache"):
            continue
        prior = latest_before(run.prefetches, nav["_keys"], nav["_start"], PAGE_MECHANISMS, True)
        used_at = prior.get("_used_before") if prior else None
        if prior is None or (used_at is not None and used_at < (nav["_start"] or 0)):
            continue
        reason, detail = double_fetch_reason(prior, nav["_start"], nav["_vary"])
        nav["_double_fetch"] = (reason, detail)
        found.append(double_fetch_row(run, nav, nav["url"], "page", prior, reason, detail))
    for nav, entry, fetched_at in page_resources(run):
        if (number(entry.get("transferSize")) or 0) <= 0 or str(entry.get("deliveryType") or "") in LOCAL_DELIVERY:
            continue
        url = run.key(entry.get("name"))
        prior = latest_before(run.prefetches, {url}, fetched_at, ("deep-fetch", "edgio"), True)
        if prior is not None:
            reason, detail = double_fetch_reason(prior, fetched_at, None)
            found.append(double_fetch_row(run, nav, url, "resource", prior, reason, detail))
    return found


def double_fetch_row(run: Run, nav: dict, url: str, kind: str, prior: dict, reason: str, detail: str) -> dict:
    return {"arm": run.arm, "run": run.index, "step": nav["step"], "url": url, "kind": kind,
            "reason": reason, "detail": detail, "prefetch_mechanism": prior["mechanism"],
            "prefetch_step": prior["step"], "prefetch_bytes": prior.get("bytes")}


def mark_earlier_use(run: Run) -> None:
    """A prefetch already used by an earlier navigation is spent (speculation prefetches are single
    use); a later network fetch of the same URL is then a new navigation, not a double fetch."""
    for nav in run.navigations:
        credited = nav.get("_credited")
        if credited is not None and "_used_before" not in credited:
            credited["_used_before"] = nav["_start"] or 0


def critical_end_ms(page: dict) -> float | None:
    """When the page's render-critical requests were done: max(LCP, FCP, render-blocking ends)."""
    blocking = [
        number(r.get("responseEnd")) for r in page.get("resources") or []
        if isinstance(r, dict) and r.get("renderBlockingStatus") == "blocking"
    ]
    ends = [v for v in (number(page.get("lcp")), number(page.get("fcp")), *blocking) if v is not None]
    if ends:
        return max(ends)
    nav = page.get("nav") or {}
    return number(nav.get("loadEventEnd")) or number(nav.get("domContentLoadedEventEnd")) or None


def contention(run: Run) -> None:
    """Prefetch requests the edge answered while each page's render-critical requests were in flight."""
    sent = [p["ts"] for p in run.prefetches if p["edge"] != "none" and p["ts"] is not None]
    for nav in run.navigations:
        page = run.page(nav["_index"]) or {}
        end = critical_end_ms(page)
        origin = number(page.get("time_origin"))
        if end is None or origin is None:
            continue
        begin, finish = origin / 1000, (origin + end) / 1000
        nav["contention"] = sum(1 for ts in sent if begin <= ts <= finish)
        nav["contention_window_ms"] = ms(end)


# ---- the whole audit -------------------------------------------------------------------------

def analyze_run(raw: dict, control_arm: str = "control") -> tuple[Run, list[dict]]:
    run = Run.from_input(raw)
    run.navigations = [n for n in (build_navigation(run, i) for i in range(len(run.steps))) if n is not None]
    run.prefetches = build_prefetches(run)
    credit_use(run)
    mark_earlier_use(run)
    doubles = double_fetches(run)
    contention(run)
    for nav in run.navigations:
        if nav["step"] >= 1 and not nav["prefetched"]:
            nav["not_prefetched_reason"], nav["not_prefetched_detail"] = auditadvice.explain(nav, evidence(run, nav, control_arm))
    return run, doubles


def evidence(run: Run, nav: dict, control_arm: str) -> dict:
    """What auditadvice.explain needs to tell why this navigation was not prefetched."""
    start = nav["_start"] or float("inf")
    # A prefetch an earlier navigation used is spent: it says nothing about this one.
    before = [p for p in run.prefetches if p["url"] in nav["_keys"] and (p["ts"] or 0) < start
              and not (p.get("_used_before") or start) < start]
    issuer = run.page(nav["_index"] - 1)
    issuer_url = run.key(issuer.get("url")) if issuer else ""
    skips = [r for r in run.trail if r.get("event") == "inject-skipped" and run.key(r.get("url")) == issuer_url]
    # The warm-up counts here: it is where the edge learnt the page cannot be stored.
    uncached = [
        r for r in run.trail_all
        if r.get("event") in ("cache-bypass", "origin-error") and not r.get("prefetch")
        and run.key(r.get("url")) in nav["_keys"] and r["ts"] < (nav["_start"] or float("inf"))
    ]
    own = nav.get("_record")
    if own and own.get("event") in ("cache-bypass", "origin-error"):
        uncached.append(own)
    return {
        "arm": run.arm,
        "control_arm": control_arm,
        "trigger": nav["trigger"],
        "prefetches": before,
        "double_fetch": nav.get("_double_fetch"),
        "uncached_record": uncached[-1] if uncached else None,
        "issuer_skip": skips[-1] if skips else None,
    }


def analyze(runs: list[dict], *, control_arm: str = "control") -> dict:
    """Raw runs → {"navigations", "prefetches", "double_fetches", "summary", "advice"}."""
    analyzed = []
    all_doubles = []
    for raw in runs or []:
        if isinstance(raw, dict):
            run, doubles = analyze_run(raw, control_arm)
            analyzed.append(run)
            all_doubles += doubles
    navigations = [n for run in analyzed for n in run.navigations]
    prefetches = [p for run in analyzed for p in run.prefetches]
    summary = summarize(analyzed, all_doubles, control_arm)
    advice = auditadvice.build_advice(navigations, control_arm)
    return json_clean({
        "navigations": navigations,
        "prefetches": prefetches,
        "double_fetches": all_doubles,
        "summary": summary,
        "advice": advice,
    })


def arm_order(runs: list[Run], control_arm: str) -> list[str]:
    arms = list(dict.fromkeys(run.arm for run in runs))
    return sorted(arms, key=lambda arm: arm != control_arm)


def summarize(runs: list[Run], doubles: list[dict], control_arm: str) -> dict[str, dict]:
    summary = {arm: summarize_arm([r for r in runs if r.arm == arm], [d for d in doubles if d["arm"] == arm])
               for arm in arm_order(runs, control_arm)}
    control = summary.get(control_arm)
    for values in summary.values():
        for metric in ("lcp", "ttfb", "fcp"):
            values[f"{metric}_ratio"] = ratio(values[f"{metric}_ms_p50"], control[f"{metric}_ms_p50"]) if control else None
        values["lcp_p75_ratio"] = ratio(values["lcp_ms_p75"], control["lcp_ms_p75"]) if control else None
    return summary


def summarize_arm(runs: list[Run], doubles: list[dict]) -> dict:
    navs = [n for run in runs for n in run.navigations if n["step"] >= 1]
    prefetches = [p for run in runs for p in run.prefetches]
    used = sum(1 for p in prefetches if p["used"])
    refused = Counter(p["edge_reason"] or "?" for p in prefetches if p["edge"] == "refused")
    origin = [r for run in runs for r in run.origin_records()]
    contention_values = [n["contention"] for n in navs if n["contention"] is not None]

    def p(metric: str, q: float) -> float | None:
        return ms(percentile([n[metric] for n in navs if n[metric] is not None], q))

    return {
        "runs": len({run.index for run in runs}),
        "navigations": len(navs),
        "failed_steps": sum(1 for run in runs for s in run.steps[1:] if s.get("error") or not isinstance(s.get("page"), dict)),
        "ttfb_ms_p50": p("ttfb_ms", 50),
        "fcp_ms_p50": p("fcp_ms", 50),
        "lcp_ms_p50": p("lcp_ms", 50),
        "lcp_ms_p75": p("lcp_ms", 75),
        "load_ms_p50": p("load_ms", 50),
        "prefetches": len(prefetches),
        "prefetches_by_mechanism": dict(Counter(p["mechanism"] for p in prefetches).most_common()),
        "prefetches_by_kind": dict(Counter(p["kind"] for p in prefetches).most_common()),
        "used": used,
        "accuracy": ratio(used, len(prefetches)),
        "prefetched_navigations": sum(1 for n in navs if n["prefetched"]),
        "coverage": ratio(sum(1 for n in navs if n["prefetched"]), len(navs)),
        "served_from": dict(Counter(n["served_from"] for n in navs).most_common()),
        "refused": sum(refused.values()),
        "refused_by_reason": dict(refused.most_common()),
        "origin_requests": len(origin),
        "origin_requests_for_prefetches": sum(1 for r in origin if r.get("prefetch")),
        "wasted_bytes": sum(int(p["bytes"] or 0) for p in prefetches if not p["used"]),
        "double_fetches": len(doubles),
        "double_fetches_by_reason": dict(Counter(d["reason"] for d in doubles).most_common()),
        "contention": {
            "mean": round(sum(contention_values) / len(contention_values), 2) if contention_values else None,
            "max": max(contention_values) if contention_values else None,
        },
        "prerenders": prerender_counts(runs, navs),
    }


STARTED_STATUSES = ("Running", "Ready", "Success")


def prerender_counts(runs: list[Run], navs: list[dict]) -> dict:
    """offered: URLs the learned rules documents served in the measure window put in a prerender
    band (a page's document is offered again only when the browser fetches it again: it may reuse
    it for up to its max-age); started: prerenders Chromium ran (CDP status Running, Ready or
    Success); activated: navigations the walk made into a prerendered page; failed_by_reason:
    Chromium's final prerenderStatus for the prerenders that failed."""
    offered = sum(len(r.get("prerender") or []) for run in runs for r in run.trail if r.get("event") == "learned-rules")
    started, failed = 0, Counter()
    for run in runs:
        for events in prerender_attempts(run).values():
            statuses = [e.get("status") for e in events]
            started += any(status in STARTED_STATUSES for status in statuses)
            if statuses and statuses[-1] == "Failure":
                failed[next((e.get("prerenderStatus") for e in reversed(events) if e.get("prerenderStatus")), "?")] += 1
    return {"offered": offered, "started": started, "activated": sum(1 for n in navs if n["served_from"] == "prerender"),
            "failed_by_reason": dict(failed.most_common())}


# ---- terminal summary ------------------------------------------------------------------------

SUMMARY_COLUMNS = ("arm", "navigations", "TTFB p50 ms", "FCP p50 ms", "LCP p50 ms", "LCP p75 ms", "LCP ratio",
                   "accuracy", "coverage", "prerendered", "refused", "origin requests", "wasted")


def summary_rows(audit: dict) -> tuple[list[str], list[list[str]]]:
    """The terminal table: one row per arm, every cell a formatted string."""
    rows = []
    for arm, s in (audit.get("summary") or {}).items():
        rows.append([
            arm, f"{s.get('navigations') or 0:,}",
            *(fmt_ms(s.get(name), unit=False) for name in ("ttfb_ms_p50", "fcp_ms_p50", "lcp_ms_p50", "lcp_ms_p75")),
            fmt_ratio(s.get("lcp_ratio")), fmt_percent(s.get("accuracy")), fmt_percent(s.get("coverage")),
            prerendered_cell(s.get("prerenders") or {}), f"{s.get('refused') or 0:,}", f"{s.get('origin_requests') or 0:,}", fmt_bytes(s.get("wasted_bytes") or 0),
        ])
    return list(SUMMARY_COLUMNS), rows


def prerendered_cell(prerenders: dict) -> str:
    """"activated of started" ("2 of 3"); "–" when nothing was prerendered."""
    if not prerenders.get("started") and not prerenders.get("activated"):
        return "–"
    return f"{prerenders.get('activated') or 0:,} of {prerenders.get('started') or 0:,}"


top_advice = auditadvice.top_advice
