"""The mitmproxy addon: plays a prefetching CDN edge in front of any site.

Wires the pure modules (rules, cache, injection, speculation rules, manifest, audit) to
mitmproxy's options, hooks and commands. Per request:

  requestheaders   keep prefetches and /__edgio__/ requests buffered (a streamed request goes
                   upstream before `request` runs)
  request          synthetic /__edgio__/ files; strip edgio_* params; cache lookup;
                   prefetch gate (serve from cache or refuse: a prefetch miss never reaches the
                   origin, also when this addon fails: it then refuses)
  responseheaders  edge headers on streamed responses (their body never reaches `response`)
  response         inject into HTML, store in the edge cache, edge headers
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import weakref
from dataclasses import dataclass, field
from collections.abc import Callable
from typing import Optional
from urllib.parse import unquote

from mitmproxy import command, ctx, exceptions, http

from prefetch_lab import trail as audit
from prefetch_lab.http import cachepolicy
from prefetch_lab.edge import headers as headerlookup
from prefetch_lab.edge import responses
from prefetch_lab.rules import speculation
from prefetch_lab.http.cachestore import CacheEntry, CacheStore, cache_key, cookie_names, strip_edgio_params, vary_for
from prefetch_lab.edge.stages.collapse import Collapse
from prefetch_lab.edge.stages.stale_if_error import StaleIfError
from prefetch_lab.edge.stages.invalidate import Invalidation
from prefetch_lab.edge.stages.revalidate import Revalidation, hold_client_validators
from prefetch_lab.edge.stages.surrogate import SurrogateCapability
from prefetch_lab.client.edge_files import REPORT_PATH, EdgeFiles, is_edge_path
from prefetch_lab.edge.html_rewrite import is_html_document, rewrite_html
from prefetch_lab.rules.model import Features, RequestInfo, RuleSet, RulesError
from prefetch_lab.rules.rule_source import RuleSource
from prefetch_lab.edge.origin_fetches import DEFAULT_TIMEOUT, TIMEOUT_REASON, OriginFetches
from prefetch_lab.edge.stages.stream import StreamingResponses

logger = logging.getLogger(__name__)

META = "prefetch_lab"
MB = 1024 * 1024
PRERENDER_REFUSAL_STATUS = 503
INJECT_MODES = ("both", "edgio", "speculation", "off")
PLACEMENTS = ("body", "head")
CHOICES = {
    "prefetch_inject": INJECT_MODES,
    "prefetch_inject_at": PLACEMENTS,
    "prefetch_eagerness": speculation.EAGERNESS,
}
OUR_SPECULATION_HEADER = speculation.merge_header([], speculation.RULES_PATH)
NO_FEATURES = Features()
MARKS = {
    "hit": ":package:",
    "stale": ":hourglass:",
    "prefetch-hit": ":zap:",
    "prefetch-refused": ":no_entry:",
    "injected": ":link:",
    "stored": ":floppy_disk:",
    "background": ":arrows_counterclockwise:",
}


@dataclass
class FlowState:
    """What the edge decided about one flow. Kept beside the flow (not in flow.metadata, which
    must stay serialisable for saving flows); metadata gets a plain summary."""

    key: str = ""
    features: Features = NO_FEATURES  # frozen, so one shared empty instance (not a new one per flow)
    prefetch: str | None = None  # "edgio" | "speculation" when the request is a prefetch
    gated: bool = False  # a prefetch the edge answers only from cache
    edgio_prefetch: bool = False  # the request carried edgio_prefetch (x-edg-p: 1)
    prerender: bool = False  # Sec-Purpose: prefetch;prerender for the document itself
    background: str | None = None  # "revalidate" | "warm" for the edge's own fetches
    served_by_edge: bool = False  # the response was made here, not by the origin
    client_validators: dict[str, str] = field(default_factory=dict)
    collapsible: bool = False  # a GET miss on its way to the origin (collapse.py)
    revalidating: CacheEntry | None = None  # the stale entry a conditional request checks (revalidate.py)
    stale_if_error: CacheEntry | None = None  # an expired entry inside its stale-if-error window (stalefallback.py)
    refetch: bool = False  # a 304 selected no stored response: the edge fetches the URL again (stalefallback.py)
    collapsed: str | None = None  # "served" / "released": it waited on another request for its key (collapse.py)
    url: str = ""  # as the client asked for it, edgio_* params included

    def summary(self) -> dict:
        return {"cache_key": self.key, "prefetch": self.prefetch, "gated": self.gated,
                "background": self.background, "served_by_edge": self.served_by_edge}


def note(flow: http.HTTPFlow, mark: str, comment: str) -> None:
    """Make a decision visible in mitmweb / mitmproxy's flow list (comments accumulate)."""
    flow.marked = MARKS[mark]
    flow.comment = "; ".join(filter(None, [flow.comment, f"prefetch-lab: {comment}"]))


def header_pairs(headers: http.Headers) -> list[tuple[str, str]]:
    # One pair per field line, in a single pass (plain items() looks every name up again,
    # quadratic in the header count, the addon's biggest per-request cost).
    return headerlookup.pairs(headers)


def query_param_names(query: str) -> set[str]:
    return {unquote(pair.partition("=")[0]) for pair in query.split("&") if pair}


def looks_like_prefetch(path: str, request: http.Request) -> bool:
    """Conservative, for when the full classification could not run (`path` as received)."""
    query = path.partition("?")[2]
    return "edgio_prefetch" in query_param_names(query) or speculation.is_speculative(request.headers.get("sec-purpose"))


class PrefetchLab:
    def __init__(self) -> None:
        self.rules: RuleSet = RuleSet.empty()
        self._match = self.rules.match
        self.rule_source: RuleSource | None = None
        self.store = CacheStore(256 * MB)
        self.cache_enabled = True
        self.edge_files = EdgeFiles()
        self.audit_writer: audit.AuditWriter | None = None
        self.observers: list[Callable[[dict], None]] = []  # called with every audit record
        self.force_ratio: float | None = None
        # Option values the hot path reads, kept here: every ctx.options read deep-copies the value.
        self.inject_mode = self.inject_at = self.eagerness = ""
        self.include_cache_misses = self.warm_on_refusal = False
        self.refusal_status = 0
        self._watch_task: asyncio.Task | None = None
        self._states: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = weakref.WeakKeyDictionary()
        self.origin = OriginFetches(MARKS["background"])
        self.streaming = StreamingResponses(self)
        self.revalidation = Revalidation(self)
        # mitmproxy runs their hooks right after ours (StaleIfError and Collapse may answer a
        # request: they go first; StaleIfError answers before Collapse releases waiters)
        self.stale_if_error = StaleIfError(self)
        self.addons = [self.stale_if_error, Collapse(self), SurrogateCapability(), Invalidation(self)]

    # ---- options -------------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_rules", str, RuleSource.DEFAULT,
            "Rules files or directories (comma-separated; a directory loads its *.yaml). "
            "'none' loads no rules: the edge cache then follows the origin's headers alone (RFC 9111).",
        )
        loader.add_option(
            "prefetch_inject", str, "both",
            "What HTML pages get: 'edgio' (the install.js script tag), 'speculation' (a "
            "Speculation-Rules header, as Cloudflare Speed Brain), 'both', or 'off' (cache and "
            "prefetch gate only: the control run).",
            choices=INJECT_MODES,
        )
        loader.add_option(
            "prefetch_inject_at", str, "body",
            "Where the install.js tag goes: end of 'head', or end of 'body' (late, so prefetching "
            "does not compete with the page's critical resources).",
            choices=PLACEMENTS,
        )
        loader.add_option(
            "prefetch_include_cache_misses", bool, False,
            "Set data-include-cache-misses on the install.js tag: prefetches leave out "
            "edgio_prefetch and so go to the origin on an edge miss.",
        )
        loader.add_option(
            "prefetch_force_ratio", str, "",
            "data-force-prefetch-ratio for the install.js tag: a number from 0 to 1, the share of "
            "prefetches sent without edgio_prefetch (allowed to miss). Empty: not set.",
        )
        loader.add_option(
            "prefetch_refusal_status", int, 412,
            "Status of a refused prefetch (an edge cache miss): 412 as Edgio, 503 as Cloudflare "
            "Speed Brain. Never sent with Retry-After.",
        )
        loader.add_option(
            "prefetch_warm_on_refusal", bool, False,
            "After refusing a prefetch, fetch the URL from the origin in the background and cache "
            "it, like an edge that popular traffic keeps warm.",
        )
        loader.add_option(
            "prefetch_eagerness", str, "conservative",
            "Eagerness of the served speculation rules (Chromium: conservative = pointer down, "
            "moderate/eager = hover, immediate = at load).",
            choices=speculation.EAGERNESS,
        )
        loader.add_option(
            "prefetch_cache_mb", int, 256,
            "Edge cache budget in MiB (least recently used entries are evicted; an object over "
            "1/8 of the budget is not cached). 0 disables the edge cache.",
        )
        loader.add_option(
            "prefetch_origin_timeout", int, DEFAULT_TIMEOUT,
            "Seconds an origin fetch may take to send its response headers, as an edge's origin "
            "timeout: past it the client gets a gateway error and the audit an origin-error. 0: no limit.",
        )
        loader.add_option(
            "prefetch_audit_file", Optional[str], None,
            "Write one JSON line per edge decision to this file ('+path' appends).",
        )
        self._keep_options(loader.master.options)

    def _keep_options(self, opts) -> None:
        self.inject_mode, self.inject_at = opts.prefetch_inject, opts.prefetch_inject_at
        self.include_cache_misses = opts.prefetch_include_cache_misses
        self.refusal_status, self.warm_on_refusal = opts.prefetch_refusal_status, opts.prefetch_warm_on_refusal
        self.eagerness = opts.prefetch_eagerness

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        # mitmproxy shows `choices` in its UIs but does not enforce them on --set.
        for name, allowed in CHOICES.items():
            if name in updated and getattr(opts, name) not in allowed:
                raise exceptions.OptionsError(f"{name} must be one of {', '.join(allowed)}, got {getattr(opts, name)!r}")
        if "prefetch_audit_file" in updated:  # first, so the rest of configure is audited
            self._open_audit(opts.prefetch_audit_file)
        if "prefetch_refusal_status" in updated:
            status = opts.prefetch_refusal_status
            if not 400 <= status <= 599:
                raise exceptions.OptionsError(
                    f"prefetch_refusal_status must be a 4xx or 5xx status (412 Edgio, 503 Speed Brain), got {status}"
                )
        if "prefetch_origin_timeout" in updated:
            timeout = opts.prefetch_origin_timeout
            if timeout < 0:
                raise exceptions.OptionsError(f"prefetch_origin_timeout must be 0 (no limit) or more seconds, got {timeout}")
            self.origin.timeout = timeout
        if "prefetch_force_ratio" in updated:
            self.force_ratio = self._parse_ratio(opts.prefetch_force_ratio)
        if "prefetch_cache_mb" in updated:
            if opts.prefetch_cache_mb < 0:
                raise exceptions.OptionsError(f"prefetch_cache_mb must be 0 or more, got {opts.prefetch_cache_mb}")
            self.cache_enabled = opts.prefetch_cache_mb > 0
            if self.cache_enabled:
                self.store.resize(opts.prefetch_cache_mb * MB)
            else:
                self.store.clear()
        if "prefetch_rules" in updated:
            try:
                source = RuleSource.parse(opts.prefetch_rules)
                rules = source.load()
            except (RulesError, OSError) as e:
                raise exceptions.OptionsError(f"prefetch_rules: {e}") from e
            self._use_rules(source, rules)
        if updated & {"prefetch_inject", "prefetch_inject_at", "prefetch_include_cache_misses", "prefetch_force_ratio"}:
            # Cached pages carry the injection they were stored with: start clean.
            self.store.clear()
        self._keep_options(opts)

    @staticmethod
    def _parse_ratio(text: str) -> float | None:
        if not text.strip():
            return None
        try:
            ratio = float(text)
        except ValueError:
            ratio = -1.0
        if not 0.0 <= ratio <= 1.0:
            raise exceptions.OptionsError(f"prefetch_force_ratio must be a number from 0 to 1, got {text!r}")
        return ratio

    def _open_audit(self, path: str | None) -> None:
        if self.audit_writer:
            self.audit_writer.close()
            self.audit_writer = None
        if path:
            try:
                self.audit_writer = audit.AuditWriter(path)
            except OSError as e:
                raise exceptions.OptionsError(f"prefetch_audit_file: cannot open {path}: {e}") from e

    def _use_rules(self, source: RuleSource, rules: RuleSet) -> None:
        self.rule_source, self.rules = source, rules
        # Pages and assets repeat: remember recent answers (a new rule set starts a new memo).
        self._match = functools.lru_cache(maxsize=4096)(rules.match)
        self.edge_files.rules_changed(rules)
        self.store.clear()  # entries were stored under the old rules' TTLs
        self.record("rules-loaded", files=list(rules.sources), rules=len(rules.rules))
        logger.info(f"prefetch-lab: {len(rules.rules)} rules from {', '.join(rules.sources) or 'nothing (RFC 9111 mode)'}")

    # ---- lifecycle -----------------------------------------------------------------------

    def running(self) -> None:
        self.origin.unqueue_replays()
        if self._watch_task is None:
            self._watch_task = asyncio.get_running_loop().create_task(self._watch_rules())

    def done(self) -> None:
        if self._watch_task:
            self._watch_task.cancel()
            self._watch_task = None
        if self.audit_writer:
            self.audit_writer.close()
            self.audit_writer = None

    async def _watch_rules(self) -> None:
        """Rules edits take effect without a restart; a broken edit keeps the last good rules."""
        while True:
            await asyncio.sleep(1)
            try:
                if self.rule_source and self.rule_source.changed():
                    self.reload_rules()
            except Exception:  # keep watching: one odd error must not end hot reload
                logger.exception("prefetch-lab: watching the rules files failed")

    # ---- commands ------------------------------------------------------------------------

    @command.command("prefetch.rules.reload")
    def reload_rules(self) -> None:
        """Reload the rules files now (they also reload by themselves when edited)."""
        if not self.rule_source:
            return
        try:
            rules = self.rule_source.load(reloading=True)
        except (RulesError, OSError) as e:
            self.record("rules-error", reason=str(e))
            logger.error(f"prefetch-lab: rules not reloaded, keeping the last good rules: {e}")
            return
        self._use_rules(self.rule_source, rules)

    @command.command("prefetch.cache.clear")
    def clear_cache(self) -> None:
        """Drop every entry of the edge cache."""
        self.store.clear()
        logger.info("prefetch-lab: edge cache cleared")

    @command.command("prefetch.cache.stats")
    def cache_stats(self) -> str:
        """Entries, bytes, budget, hits, misses, stores and evictions of the edge cache."""
        return " ".join(f"{k}={v}" for k, v in self.store.stats().items())

    # ---- audit ---------------------------------------------------------------------------

    def state_of(self, flow: http.HTTPFlow) -> FlowState | None:
        return self._states.get(flow)

    def _track(self, flow: http.HTTPFlow, state: FlowState) -> FlowState:
        self._states[flow] = state
        return state

    def record(self, event: str, flow: http.HTTPFlow | None = None, **fields) -> None:
        if not self.audit_writer and not self.observers:
            return
        if flow is not None:
            state = self.state_of(flow)
            fields = {
                "flow_id": flow.id,
                "method": flow.request.method,
                "url": state.url if state and state.url else headerlookup.pretty_url(flow.request),
                "cache_key": state.key if state and state.key else None,
                "prefetch": state.prefetch if state else None,
                "rules": list(state.features.matched) if state and state.features.matched else None,
                # Who asked: the audit tells documents from subresources and joins prefetches
                # to the page that issued them.
                "dest": headerlookup.get(flow.request.headers, b"sec-fetch-dest"),
                "referer": headerlookup.get(flow.request.headers, b"referer"),
                "collapsed": state.collapsed if state else None,
                **fields,
            }
        record = audit.make_record(event, **fields)
        if self.audit_writer:
            self.audit_writer.write(record)
        for observe in self.observers:  # e.g. the session summary
            observe(record)

    # ---- request -------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # A streamed request body is sent upstream before `request` runs: buffer the requests
        # the edge must answer itself. (A chunked body that outgrows stream_large_bodies while
        # it is read can still switch to streaming; prefetches are GETs without bodies.)
        path = flow.request.path
        if flow.request.stream and (is_edge_path(path.partition("?")[0]) or looks_like_prefetch(path, flow.request)):
            flow.request.stream = False

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return  # another addon already answered
        received_path = flow.request.path  # before edgio_* params are stripped
        try:
            self._handle_request(flow)
        except Exception:
            # Fail closed for what must never reach the origin, open for ordinary requests.
            logger.exception(f"prefetch-lab: error handling {flow.request.pretty_url}")
            if flow.response is None and looks_like_prefetch(received_path, flow.request):
                flow.response = responses.refusal(self.refusal_status, "edge-error")
            elif flow.response is None and is_edge_path(flow.request.path.partition("?")[0]):
                flow.response = http.Response.make(500, b"prefetch-lab: edge error\n", {"content-type": "text/plain"})
            if flow.response is not None:
                self._track(flow, FlowState(served_by_edge=True))
        if state := self.state_of(flow):
            flow.metadata[META] = state.summary()  # what mitmweb's ~meta filter searches
        if flow.response is None:
            self.origin.watch(flow)  # it goes to the origin: start the origin timeout

    def _handle_request(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        path, _, query = req.path.partition("?")
        if is_edge_path(path):
            self._serve_edge_file(flow, path)
            return
        # A fresh state every time: a flow the user replays is decided anew.
        # The URL as asked (edgio_* included) is only needed for the audit records.
        url = headerlookup.pretty_url(req) if self.audit_writer or self.observers else ""
        state = self._track(flow, FlowState(background=self.origin.queued.pop(flow, None), url=url))
        params = query_param_names(query)
        stripped = strip_edgio_params(query)
        if stripped != query:
            req.path = path + ("?" + stripped if stripped else "")
        state.key = cache_key(req.method, req.scheme, req.host, req.port, path, stripped, headerlookup.host_header(req))
        state.features = self._match(RequestInfo(req.method.upper(), req.scheme, req.host.lower(), path, stripped))
        if state.background:
            # The edge's own fetch: straight to the origin, stored in `response`; conditional
            # when the stored entry has validators, so a 304 freshens it without a body.
            entry = self.store.find(state.key, header_pairs(req.headers))
            if entry is not None and entry.validators:
                self.revalidation.begin(flow, state, entry)
            return

        self._classify_prefetch(flow, state, params)
        uncacheable = (
            "method" if req.method not in ("GET", "HEAD")
            else "upgrade" if headerlookup.has(req.headers, b"upgrade")  # a WebSocket handshake is never a cached page
            else "bypassed" if state.features.bypass_cache
            else "cache-disabled" if not self.cache_enabled
            else None
        )
        if uncacheable:
            if state.gated:
                self._refuse(flow, state, uncacheable)
            return

        request_headers = header_pairs(req.headers)
        forced = not state.prefetch and cachepolicy.request_forces_origin(request_headers, self.rules_active)
        entry = None if forced else self.store.get(state.key, request_headers, time.time(), allow_expired=True)
        if entry is not None and entry.state(time.time()) == "expired":  # with validators, or inside stale-if-error
            if not state.gated and entry.within_stale_if_error(time.time()):
                state.stale_if_error = entry  # the edge fetches it itself (stalefallback.py)
                return
            if not state.gated:
                state.collapsible = req.method == "GET"
                self.revalidation.begin(flow, state, entry)
                return
            entry = None  # the gate: a prefetch gets only what the edge may serve as is
        if entry is not None:  # fresh, or stale within stale-while-revalidate
            if state.gated and entry.status == 204:
                # Chromium uses a prefetched 204 and cancels the user's navigation.
                self._refuse(flow, state, "no-content")
                return
            stale = entry.state(time.time()) != "fresh"
            self.serve_entry(flow, state, entry, stale)
            if stale:
                self._background_fetch_once(flow, state, "revalidate")
            return
        if state.gated:
            self._refuse(flow, state, "not-cached")
            if self.warm_on_refusal:
                self._background_fetch_once(flow, state, "warm")
            return
        if req.method == "GET" and not forced:
            state.collapsible = True
            hold_client_validators(flow, state)

    @property
    def rules_active(self) -> bool:
        return bool(self.rules.rules)

    def _classify_prefetch(self, flow: http.HTTPFlow, state: FlowState, params: set[str]) -> None:
        headers = flow.request.headers
        state.edgio_prefetch = "edgio_prefetch" in params
        # edgio_* params decide before Sec-Purpose: Edgio's own client prefetches with
        # <link rel=prefetch>, so its requests carry Sec-Purpose: prefetch as well.
        if state.edgio_prefetch:
            state.prefetch, state.gated = "edgio", True
        elif "edgio_dt_pf" in params:
            # include-cache-misses: a prefetch the origin may answer (and so fill the cache)
            state.prefetch = "edgio"
            self.record("prefetch-forwarded", flow, reason="include-cache-misses")
        elif speculation.is_speculative(purpose := headerlookup.get(headers, b"sec-purpose")):
            if speculation.is_prerender_subresource(purpose, headers.get("sec-fetch-dest")):
                return  # a prerendered page's own subresource: an ordinary request
            state.prerender = speculation.is_prerender(purpose)
            state.prefetch = "speculation"
            state.gated = speculation.refusal_applies(headers.get("sec-speculation-tags"))
            if not state.gated:
                self.record("prefetch-forwarded", flow, reason="site-speculation")

    def _refuse(self, flow: http.HTTPFlow, state: FlowState, reason: str) -> None:
        # A prerender is refused as Speed Brain refuses speculations (and Chromium expects): 503.
        status = PRERENDER_REFUSAL_STATUS if state.prerender else self.refusal_status
        flow.response = responses.refusal(status, reason)
        state.served_by_edge = True
        self.add_edge_headers(flow, state, "miss" if reason == "not-cached" else "bypassed", from_origin=False)
        note(flow, "prefetch-refused", f"prefetch refused ({reason}) with {status}")
        self.record("prefetch-refused", flow, status=status, reason=reason)

    def serve_entry(self, flow: http.HTTPFlow, state: FlowState, entry: CacheEntry, stale: bool,
                    caching_status: str | None = None, reason: str | None = None) -> None:
        """Answer from the edge cache: 200 (or 304 to a matching validator; HEAD without body)."""
        req = flow.request
        now = time.time()
        response = responses.from_entry(entry, now)
        if not cachepolicy.client_accepts_encoding(headerlookup.get(req.headers, b"accept-encoding"),
                                                   headerlookup.get(response.headers, b"content-encoding")):
            try:  # never send a br body to a client that did not offer br...
                response.decode()
            except ValueError:  # ...but one that does not decode goes as stored, with its label
                pass
        if not state.prefetch and cachepolicy.conditional_response(header_pairs(req.headers), entry.status, entry.headers):
            response = responses.not_modified(entry.headers, entry.age(now))
        elif req.method == "HEAD":
            responses.without_body(response)
        flow.response = response
        flow.is_replay = "response"
        state.served_by_edge = True
        status = caching_status or ("stale" if stale else "hit")
        self.add_edge_headers(flow, state, status)
        if state.prefetch:
            note(flow, "prefetch-hit", f"prefetch served from the edge cache ({status})")
            self.record("prefetch-hit", flow, status=response.status_code, caching_status=status,
                        size=len(entry.body), content_type=next((v for n, v in entry.headers if n.lower() == "content-type"), None))
        else:
            note(flow, "stale" if stale else "hit", f"served from the edge cache ({status})")
            self.record("cache-stale" if stale else "cache-hit", flow, status=response.status_code, caching_status=status,
                        reason=reason)

    def _serve_edge_file(self, flow: http.HTTPFlow, path: str) -> None:
        self._track(flow, FlowState(served_by_edge=True, url=headerlookup.pretty_url(flow.request)))
        if path == REPORT_PATH:
            flow.response = http.Response.make(204)
            body = (flow.request.raw_content or b"")[:4000]
            self.record("client-report", flow, detail=body.decode("utf-8", "replace"))
        else:
            status, headers, body = self.edge_files.respond(
                path, flow.request.host.lower(), flow.request.scheme, self.eagerness,
                flow.request.headers.get("if-none-match"),
            )
            flow.response = http.Response.make(status, body, headers)
            if flow.request.method == "HEAD":
                responses.without_body(flow.response)
            self.record("synthetic", flow, status=status)
        flow.response.headers["x-edg-caching-status"] = "bypassed"

    # ---- background fetches (stale-while-revalidate, warming) ----------------------------

    def _background_fetch_once(self, flow: http.HTTPFlow, state: FlowState, purpose: str) -> None:
        """One background fetch per key at a time, however many requests ask for it."""
        if self.store.begin_revalidation(state.key, time.time()):
            key = state.key
            if not self.origin.fetch(flow, purpose, lambda: self.store.end_revalidation(key)):
                self.store.end_revalidation(key)

    # ---- responses -----------------------------------------------------------------------

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        self.origin.arrived(flow)
        state = self.state_of(flow)
        if state is None or state.served_by_edge:
            return
        if not state.background and self.streaming.start(flow, state, ctx.options):
            return  # streamed to the client as it arrives; `response` audits and stores it
        if not flow.response.stream:
            return
        # Streamed by mitmproxy's stream_large_bodies: the body never reaches `response`.
        if state.background:
            self.store.end_revalidation(state.key)
            self.origin.background_done(flow)
        self.add_edge_headers(flow, state, "body-too-big")
        self.record("cache-bypass", flow, status=flow.response.status_code, caching_status="body-too-big",
                    reason="streamed")

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.state_of(flow)
        if state is None or state.served_by_edge:
            return
        if self.streaming.body_stream(flow) is not None:
            caching_status = self.streaming.finish(flow, state, self.inject_at)
            flow.metadata[META] = {**state.summary(), "caching_status": caching_status}
            return
        if flow.response.stream:
            return
        if flow in self.origin.gateway_timeouts:  # the edge's own 504 for a hung origin (originfetch.py)
            self._origin_timed_out(flow, state)
            return
        if state.revalidating is not None and flow.response.status_code == 304:
            self.revalidation.not_modified(flow, state)
            return
        rewrite = rewrite_html(
            flow, self.inject_mode, self.inject_at, self.include_cache_misses, self.force_ratio,
        )
        if rewrite is not None:
            injected, detail = rewrite
            if injected:
                self.note_injected(flow)
                self.record("injected", flow, **detail)
            else:
                self.record("inject-skipped", flow, **detail)
        resp = flow.response
        caching_status = self.store_response(flow, state, resp.raw_content or b"", header_pairs(resp.headers))
        flow.metadata[META] = {**state.summary(), "caching_status": caching_status}
        if caching_status.startswith("cached"):
            self._answer_client_validators(flow, state)
        self.add_edge_headers(flow, state, caching_status)
        if state.background:
            self.store.end_revalidation(state.key)
            self.origin.background_done(flow)
            self.record("warmed" if state.background == "warm" else "revalidated", flow,
                        status=flow.response.status_code, caching_status=caching_status)

    @staticmethod
    def note_injected(flow: http.HTTPFlow) -> None:
        note(flow, "injected", "install.js injected")

    def _storage_decision(self, flow, state, response_headers, length, request_headers=None) -> cachepolicy.StorageDecision:
        req = flow.request
        if request_headers is None:
            request_headers = header_pairs(req.headers)
        return cachepolicy.storage_decision(
            req.method, flow.response.status_code, request_headers + list(state.client_validators.items()),
            response_headers, rule_caching(state.features), length, self.store.max_object_size, time.time(),
            self.rules_active,
        )

    def predict_storage(self, flow, state, response_headers, length: int | None) -> tuple[str, bool]:
        """Decided on headers, for a streamed response: (caching status it is sent with, whether
        to keep its body for the cache). The audit records what happened once the body is in."""
        if state.features.bypass_cache or not self.cache_enabled:
            return "bypassed", False
        decision = self._storage_decision(flow, state, response_headers, length or 0)
        if not decision.store:
            return decision.caching_status, False
        return ("cached-per-cookie" if decision.by_cookies and cookie_names(header_pairs(flow.request.headers)) else "cached"), True

    def store_response(self, flow, state, body: bytes, response_headers, too_big: bool = False) -> str:
        """Store what the origin sent if the edge may; audits one cache-store or cache-bypass."""
        req, resp = flow.request, flow.response
        if state.features.bypass_cache or not self.cache_enabled:
            status = "bypassed"
            self.record("cache-bypass", flow, status=resp.status_code, caching_status=status,
                        reason=None if self.cache_enabled else "cache disabled")
            return status
        now = time.time()
        request_headers = header_pairs(req.headers)
        decision = self._storage_decision(flow, state, response_headers, len(body), request_headers)
        if decision.store and not too_big:
            entry = CacheEntry(
                key=state.key, status=resp.status_code,
                headers=responses.storable_headers(response_headers, len(body)),
                body=body, stored_at=now, initial_age=decision.initial_age, ttl=decision.ttl,
                swr=decision.swr, vary=vary_for(response_headers, request_headers, decision.by_cookies),
                rules=state.features.matched, sie=decision.sie,
            )
            if self.store.put(entry):
                # Only the request's own cookies (minus analytics ones) will get this entry.
                cookies = cookie_names(request_headers) if decision.by_cookies else []
                status = "cached-per-cookie" if cookies else "cached"
                if not state.background:
                    note(flow, "stored", f"stored in the edge cache for {decision.ttl}s")
                self.record("cache-store", flow, status=resp.status_code, caching_status=status,
                            ttl=decision.ttl, swr=decision.swr, size=len(body), cookies=cookies or None)
                return status
            decision_status = "body-too-big"
        elif decision.store:
            decision_status = "body-too-big"
        else:
            decision_status = decision.caching_status
        reason = "streamed past the object size limit" if too_big else decision.reason or None
        self.record("cache-bypass", flow, status=resp.status_code, caching_status=decision_status, reason=reason)
        return decision_status

    def _answer_client_validators(self, flow: http.HTTPFlow, state: FlowState) -> None:
        """The edge held back the client's validators on a miss; answer them from what it stored."""
        if not state.client_validators or flow.response.status_code != 200:
            return
        headers = header_pairs(flow.response.headers)
        if cachepolicy.conditional_response(list(state.client_validators.items()), 200, headers):
            flow.response = responses.not_modified(headers, 0)

    def add_edge_headers(self, flow: http.HTTPFlow, state: FlowState, caching_status: str, from_origin: bool = True) -> None:
        headers = flow.response.headers
        features = state.features
        headerlookup.set(headers, b"x-edg-caching-status", caching_status)
        if state.edgio_prefetch:
            headers["x-edg-p"] = "1"
        if not from_origin:
            return  # a refusal: the rules' response features describe responses, not refusals
        if features.service_worker_max_age and not features.bypass_cache:
            headers["x-sw-cache-control"] = f"max-age={features.service_worker_max_age}"
        for name, value in features.set_response_headers:
            headers[name] = value
        if features.bypass_client_cache:
            headers["cache-control"] = "private, no-cache, no-store, must-revalidate"
        if self.inject_mode in ("both", "speculation") and is_html_document(flow):
            host = flow.request.host.lower()
            if self.edge_files.has_speculation_rules(host, flow.request.scheme, self.eagerness):
                theirs = headers.get_all("speculation-rules")
                ours = self.edge_files.speculation_rules_url(flow.request.path)  # fixed, or the page's own
                headerlookup.set(headers, b"speculation-rules", (
                    OUR_SPECULATION_HEADER if not theirs and ours == speculation.RULES_PATH
                    else speculation.merge_header(theirs, ours)
                ))

    def _origin_timed_out(self, flow: http.HTTPFlow, state: FlowState) -> None:
        self.add_edge_headers(flow, state, "code", from_origin=False)  # as any uncacheable status
        flow.comment = "; ".join(filter(None, [flow.comment, "prefetch-lab: origin timeout, 504 from the edge"]))
        self.record("origin-error", flow, status=504,
                    reason=f"{TIMEOUT_REASON}: no response headers in {self.origin.timeout:g}s")

    def error(self, flow: http.HTTPFlow) -> None:
        state = self.state_of(flow)
        if state is None:
            return
        self.origin.arrived(flow)
        if state.background:
            self.store.end_revalidation(state.key)
            self.origin.background_done(flow)
        reason = str(flow.error)
        if flow in self.origin.timed_out:
            reason = f"{TIMEOUT_REASON}: no response headers in {self.origin.timeout:g}s ({reason})"
        self.record("origin-error", flow, reason=reason)


def rule_caching(features: Features) -> cachepolicy.RuleCaching:
    return _rule_caching(features.max_age, features.stale_while_revalidate, features.stale_if_error, features.bypass_cache,
                         features.ignore_origin_no_cache, features.cacheable_status_codes,
                         features.cache_key_ignore_cookies)


@functools.lru_cache(maxsize=1024)
def _rule_caching(max_age, stale_while_revalidate, stale_if_error, bypass_cache, ignore_origin_no_cache, cacheable_status_codes,
                  ignore_cookies) -> cachepolicy.RuleCaching:
    # A few distinct rule results recur on every request: one frozen object each (building one
    # per request cost more than the storage decision's own checks).
    return cachepolicy.RuleCaching(
        max_age=max_age,
        stale_while_revalidate=stale_while_revalidate,
        stale_if_error=stale_if_error,
        bypass_cache=bypass_cache,
        ignore_origin_no_cache=ignore_origin_no_cache,
        cacheable_status_codes=cacheable_status_codes,
        ignore_cookies=ignore_cookies,
    )
