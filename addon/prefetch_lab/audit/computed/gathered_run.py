"""One (arm, run) as the audit gathered it (the browser's steps, Chromium's preload events, the
proxy's trail), cleaned up and indexed for the joins of the other computed modules: records
sorted and cut to the measure window, each step's time window, the reverse proxy's alias.
Pure module.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from prefetch_lab.stats import integer, number
from prefetch_lab.trail import CACHE_OR_ORIGIN_EVENTS, EDGE_ANSWER_EVENTS, is_origin_answer
from prefetch_lab.url_keys import normalize_url, origin_aliases


@dataclass
class Run:
    """One (arm, run) with its inputs cleaned up and indexed for the joins."""

    arm: str
    index: int
    trail_all: list[dict]       # warm-up included (used only to diagnose why the edge is cold)
    trail: list[dict]           # the measure window (by when each request was asked: asked_at)
    steps: list[dict]
    bounds: list[float]         # epoch s where each step's page takes over (see issuing_step)
    preload_events: list[dict]
    prerender_events: list[dict] = field(default_factory=list)  # Preload.prerenderStatusUpdated, in the window
    script_prefetches: list[dict] = field(default_factory=list)  # the site's script prefetches, in the window
    aliases: dict[str, str] = field(default_factory=dict)
    navigations: list[dict] = field(default_factory=list)  # document navigations (the figures' own)
    soft_navigations: list[dict] = field(default_factory=list)  # kind "soft": reported apart, never pooled
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
        return cls(
            arm=str(raw.get("arm") or "?"),
            index=integer(raw.get("run"), 0),
            trail_all=trail_all,
            trail=[r for r in trail_all if start <= asked_at(r) <= end],
            steps=steps,
            bounds=step_bounds(steps),
            preload_events=[e for e in in_window if is_prefetch_event(e)],
            prerender_events=[e for e in in_window if is_prerender_event(e)],
            script_prefetches=[f for f in raw.get("script_prefetches") or [] if isinstance(f, dict)
                               and number(f.get("ts")) is not None and start <= f["ts"] <= end],
            aliases=origin_aliases(raw.get("proxy_address"), steps),
        )

    def issuing_step(self, ts: float) -> int | None:
        """Index (into steps) of the page that was showing at ts; before the first page: the first."""
        if not self.steps:
            return None
        return max(0, bisect.bisect_right(self.bounds, ts) - 1)

    def step_answers(self, index: int) -> list[dict]:
        """The edge's answers to ordinary requests (not prefetches) in step `index`'s window (from
        its navigation start to the next step's): from its cache, or by the origin."""
        begin = self.bounds[index]
        end = self.bounds[index + 1] if index + 1 < len(self.bounds) else float("inf")
        return [r for r in self.trail
                if begin <= r["ts"] < end and r.get("event") in CACHE_OR_ORIGIN_EVENTS and not r.get("prefetch")]

    def page(self, index: int | None) -> dict | None:
        if index is None or not 0 <= index < len(self.steps):
            return None
        page = self.steps[index].get("page")
        return page if isinstance(page, dict) else None


def asked_at(record: dict) -> float:
    """When a record's request was made (`started`), else when it was recorded (`ts`): a warm-up
    request answered after the measured session began is the warm-up's, not the session's."""
    started = number(record.get("started"))
    return started if started is not None else record["ts"]


def from_http_cache(entry: dict) -> bool:
    """A Resource Timing entry the browser's HTTP cache answered: no transfer but a body (a
    cross-origin one without Timing-Allow-Origin reports 0 for both)."""
    return number(entry.get("transferSize")) == 0 and (number(entry.get("encodedBodySize")) or 0) > 0


def is_prefetch_event(event: object) -> bool:
    """A Preload.prefetchStatusUpdated (the driver may also pass prerenderStatusUpdated events)."""
    if not isinstance(event, dict) or event.get("event", "prefetchStatusUpdated") != "prefetchStatusUpdated":
        return False
    key = event.get("key") if isinstance(event.get("key"), dict) else {}
    return key.get("action", "Prefetch") == "Prefetch" and bool(event.get("prefetchUrl") or key.get("url"))


def is_prerender_event(event: dict) -> bool:
    key = event.get("key") if isinstance(event.get("key"), dict) else {}
    return event.get("event") == "prerenderStatusUpdated" and key.get("action", "Prerender") == "Prerender"


def navigation_start(step: dict) -> float | None:
    """Epoch s of the step's navigation start: performance.timeOrigin, else when the action began.
    A prerendered page's timeOrigin is when its prerender began, while the page before was still
    showing: it takes over at its activation (timeOrigin + activationStart). A soft navigation
    keeps its document's timeOrigin: it takes over at the press's release."""
    page = step.get("page") if isinstance(step.get("page"), dict) else None
    origin = number(page.get("time_origin")) if page else None
    activation = number((page.get("nav") or {}).get("activationStart")) if page else None
    soft = page.get("soft_navigation") if page and step.get("kind") == "soft" else None
    if isinstance(soft, dict):  # the same document: the soft navigation began at the press's release
        activation = number(soft.get("start"))
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
