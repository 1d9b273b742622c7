"""What the edge's stages share: one `EdgeContext` per proxy, one `FlowState` per flow.

The stages (edge/stages/) never import each other. Each is handed the context at construction
and reads or writes only what it documents. A decision that a later stage acts on is written
into the flow's `FlowState` by one stage, named below beside each field with its readers.
"""

from __future__ import annotations

import enum
import functools
import logging
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from mitmproxy import http

from prefetch_lab import trail
from prefetch_lab.client.edge_files import EdgeFiles
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.origin_fetches import OriginFetches
from prefetch_lab.http.cachestore import CacheEntry, CacheStore
from prefetch_lab.rules.model import Features, RequestInfo, RuleSet

logger = logging.getLogger(__name__)

META = "prefetch_lab"  # flow.metadata key: what mitmweb's ~meta filter searches
MB = 1024 * 1024
NO_FEATURES = Features()  # frozen, so one shared empty instance (not a new one per flow)
MARKS = {
    "hit": ":package:",
    "stale": ":hourglass:",
    "prefetch-hit": ":zap:",
    "prefetch-refused": ":no_entry:",
    "injected": ":link:",
    "stored": ":floppy_disk:",
    "background": ":arrows_counterclockwise:",
}


class Action(enum.Enum):
    """What the cache lookup decided for a request (stages.lookup writes it, once)."""

    SERVE = "serve"  # a fresh entry, or a stale one inside stale-while-revalidate: answered here
    REVALIDATE = "revalidate"  # an expired entry with validators: a conditional request goes on
    STALE_IF_ERROR = "stale-if-error"  # expired, inside its stale-if-error window: the edge fetches it
    MISS = "miss"  # to the origin; a GET miss may collapse with others for its key
    FORCED = "forced"  # the client asked for the origin's answer (no-cache): to the origin, alone
    BYPASS = "bypass"  # not for the cache at all (method, upgrade, rule, cache off)
    REFUSED = "refused"  # a gated prefetch the edge cannot serve as is: stages.gate refuses it
    BACKGROUND = "background"  # the edge's own fetch (refresh, warm): straight to the origin
    REFETCH = "refetch"  # set later, by stages.revalidate: a 304 selected nothing, fetch again


@dataclass
class FlowState:
    """What the edge decided about one flow. Kept beside the flow (not in flow.metadata, which
    must stay serialisable for saving flows); metadata gets a plain summary.
    Writer -> readers, per field."""

    # stages.classify -> everyone (tracked only once complete: stages.gate fails closed without it)
    url: str = ""  # as the client asked for it, edgio_* params included (for the trail)
    key: str = ""
    features: Features = NO_FEATURES
    prefetch: str | None = None  # "edgio" | "speculation" when the request is a prefetch
    gated: bool = False  # a prefetch the edge answers only from cache (stages.gate)
    edgio_prefetch: bool = False  # carried edgio_prefetch: the answer says x-edg-p: 1
    prerender: bool = False  # Sec-Purpose: prefetch;prerender: refused with 503
    background: str | None = None  # "revalidate" | "warm" | "stale-if-error" | "refetch": the edge's own fetch
    # stages.lookup -> gate, revalidate, stale_if_error, collapse (and revalidate writes REFETCH)
    action: Action | None = None
    entry: CacheEntry | None = None  # the stored entry the action is about
    refusal: str = ""  # why a REFUSED prefetch is refused (stages.gate's reason)
    # the stage that answers -> the response stages (answered here: they leave it alone)
    served_by_edge: bool = False
    # lookup/revalidate/stale_if_error: the client's validators the edge held back to answer itself
    client_validators: dict[str, str] = field(default_factory=dict)
    revalidating: CacheEntry | None = None  # stages.revalidate: the entry a conditional request checks
    collapsed: str | None = None  # stages.collapse: "served" / "released" (the trail's `collapsed`)
    hold_response: bool = False  # stages.stale_if_error -> stream: keep a 5xx whole, it may be swapped
    keeps_body: bool = False  # stages.stream -> collapse: the streamed body is kept for the cache
    streamed: object | None = None  # stages.stream -> store: the finished stream (a BodyStream)
    caching_status: str | None = None  # stream/store -> edge_headers: x-edg-caching-status of an origin answer
    handled: str | None = None  # origin_clock/revalidate -> rewrite, store, edge_headers: answer already dealt with

    def summary(self) -> dict:
        return {"cache_key": self.key, "prefetch": self.prefetch, "gated": self.gated,
                "background": self.background, "served_by_edge": self.served_by_edge}


@dataclass
class EdgeOptions:
    """Option values read on the hot path, kept by the stage that owns each option (a read of
    ctx.options deep-copies the value)."""

    inject_mode: str = "both"  # stages.rewrite
    inject_at: str = "body"
    include_cache_misses: bool = False
    force_ratio: float | None = None
    eagerness: str = "conservative"  # stages.edge_files
    refusal_status: int = 412  # stages.gate
    warm_on_refusal: bool = False
    gate: bool = True  # stages.gate's prefetch_gate (read by stages.classify): off, no prefetch is gated
    cache_enabled: bool = True  # stages.store


def note(flow: http.HTTPFlow, mark: str, comment: str) -> None:
    """Make a decision visible in mitmweb / mitmproxy's flow list (comments accumulate)."""
    flow.marked = MARKS[mark]
    add_comment(flow, comment)


def add_comment(flow: http.HTTPFlow, text: str) -> None:
    """Append to the flow's comment (mitmweb shows it), after whatever is there."""
    flow.comment = "; ".join(filter(None, [flow.comment, f"prefetch-lab: {text}"]))


class EdgeContext:
    """The one object the stages share (see the module docstring)."""

    def __init__(self) -> None:
        self.store = CacheStore(256 * MB)
        self.rules: RuleSet = RuleSet.empty()
        self.match: Callable[[RequestInfo], Features] = self.rules.match
        self.options = EdgeOptions()
        self.edge_files = EdgeFiles()
        self.origin = OriginFetches(MARKS["background"])
        self.trail_writer: trail.AuditWriter | None = None
        self.observers: list[Callable[[dict], None]] = []  # called with every trail record
        self._states: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = weakref.WeakKeyDictionary()

    # ---- rules ---------------------------------------------------------------------------

    def use_rules(self, rules: RuleSet) -> None:
        self.rules = rules
        # Pages and assets repeat: remember recent answers (a new rule set starts a new memo).
        self.match = functools.lru_cache(maxsize=4096)(rules.match)
        self.edge_files.rules_changed(rules)
        self.store.clear()  # entries were stored under the old rules' TTLs

    @property
    def rules_active(self) -> bool:
        return bool(self.rules.rules)

    # ---- per-flow state ------------------------------------------------------------------

    def state_of(self, flow: http.HTTPFlow) -> FlowState | None:
        return self._states.get(flow)

    def track(self, flow: http.HTTPFlow, state: FlowState) -> FlowState:
        self._states[flow] = state
        return state

    # ---- the trail -----------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        return bool(self.trail_writer or self.observers)

    def record(self, event: str, flow: http.HTTPFlow | None = None, **fields) -> None:
        """One trail record (the file, and the observers such as the session summary)."""
        if not self.recording:
            return
        if flow is not None:
            fields = {**self._flow_fields(flow), **fields}
        record = trail.make_record(event, **fields)
        if self.trail_writer:
            self.trail_writer.write(record)
        for observe in self.observers:
            observe(record)

    def _flow_fields(self, flow: http.HTTPFlow) -> dict:
        state = self.state_of(flow)
        return {
            "flow_id": flow.id,
            # When the request came (the record's `ts` is when it was answered): the audit puts a
            # request in the measured window by when it was asked, not by when the answer came.
            "started": round(flow.request.timestamp_start, 6) if flow.request.timestamp_start else None,
            "method": flow.request.method,
            "url": state.url if state and state.url else header_reads.pretty_url(flow.request),
            "cache_key": state.key if state and state.key else None,
            "prefetch": state.prefetch if state else None,
            "rules": list(state.features.matched) if state and state.features.matched else None,
            # Who asked: the audit tells documents from subresources and joins prefetches
            # to the page that issued them.
            "dest": header_reads.get(flow.request.headers, b"sec-fetch-dest"),
            "referer": header_reads.get(flow.request.headers, b"referer"),
            # Whose rules started a speculation (ours are tagged): the audit attributes each
            # prefetch to its source. "" when a prefetch came without it (<link rel=prefetch>).
            "speculation_tags": (header_reads.get(flow.request.headers, b"sec-speculation-tags") or "")
            if state and state.prefetch else None,
            "collapsed": state.collapsed if state else None,
        }
