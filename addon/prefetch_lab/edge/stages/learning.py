"""Learned speculation at the edge (issue 12): feed the traversal graph, serve per-page rules.

  prefetch_learn               count page views into the graph (default on; independent of serving)
  prefetch_traversal_file      where the graph lives: loaded when set, written atomically when it
                               changed (learn/graph_file.py: every 30 s, at exit, `prefetch.learned.save`)
  prefetch_speculation         `fixed`: every page names the fixed rules file; `learned`: a page's
                               Speculation-Rules header names its own document, rules_url(page)
  prefetch_learned_thresholds  the probability bands of that document (learned_rules.Thresholds)
  prefetch_edgio_predicted     our install.js reads that document too: `first` prefetches the
                               predicted pages before the visible links, `only` instead of them

Bounds (issue 22; the threat model is docs/learned-speculation.md, "Who can teach the graph"):
  prefetch_learn_visitor_header      who a view comes from: the client's address by default, or
                                     this trusted header's value (set only behind a front end
                                     that sets it, or for the audit's training)
  prefetch_learn_views_per_minute    counted views per visitor (token bucket; 0: no limit)
  prefetch_learned_min_visitors      distinct visitors a link needs for a prerender / prefetch band
and a full graph admits a new page or link only once two visitors asked for it (traversal.py).

The feed (`response`): a page view (page_views.is_page_view) of the request's page, from its
same-origin Referer; never the edge's own background fetches or replays. A navigation that a
prefetch or prerender served never reaches the edge, so it is not counted: train without
speculation (docs/learned-speculation.md, "The feedback loop").

The document (`request`, before stages.edge_files, which would serve the fixed file; answered when
`learned` or prefetch_edgio_predicted is on):
`/__edgio__/speculation-rules.json?page=<page key>` gets build_learned_document for that page:
its predictions, the rules' exclusions, and `held` = what the prefetch gate would serve a
cookie-less Chromium prefetch (a fresh or stale-while-revalidate entry, not a 204). No rule lets
an uncached speculation through the gate, so nothing else is held. The answer depends on the
page and the edge alone, never on the visitor's request (cookies included), so it may be shared:
`public, max-age=RULES_MAX_AGE_S`. A `learned-rules` trail record lists what was offered.

First of the request stages in the route: it must answer the rules URL before stages.edge_files
would serve the fixed file. Reads the context's rules, cache, edge files and trail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from urllib.parse import urlsplit

from mitmproxy import command, ctx, exceptions, http

from prefetch_lab.edge import responses
from prefetch_lab.edge.context import EdgeContext, add_comment
from prefetch_lab.http.cachestore import cache_key
from prefetch_lab.learn.graph_file import SAVE_INTERVAL_S, GraphFile
from prefetch_lab.learn.learned_rules import LearnedRules, Thresholds, build_learned_document, page_from_rules_url, rules_url
from prefetch_lab.learn.page_views import DEFAULT_THRESHOLDS, is_page_view, parse_thresholds, referring_page
from prefetch_lab.learn.view_bounds import (DEFAULT_MIN_VISITORS, DEFAULT_VIEWS_PER_MINUTE, MAX_VISITORS_KEPT,
                                            RateLimiter, parse_min_visitors, visitor_hash, visitor_id)
from prefetch_lab.rules.rule_file import HEADER_NAME_RE
from prefetch_lab.rules.speculation_rules import RULES_PATH
from prefetch_lab.learn.traversal import TraversalGraph, normalise_host, page_key, site_of

logger = logging.getLogger(__name__)

MODES = ("fixed", "learned")
PREDICTED_MODES = ("off", "first", "only")
# The browser re-reads a page's document at most this often: new predictions and newly cached
# pages reach it within half a minute, and a page viewed again at once costs no request.
RULES_MAX_AGE_S = 30
# `held` asks the cache as a Chromium prefetch without cookies would: only Vary: Accept-Encoding
# variants (the common Vary) can match; anything else varying is not offered.
PREFETCH_REQUEST_HEADERS = [("accept-encoding", "gzip, deflate, br, zstd")]
MARK = ":crystal_ball:"
TEXT = {"content-type": "text/plain; charset=utf-8"}


class Learning:
    name = "prefetch.learning"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge
        self.graph = TraversalGraph()
        self.thresholds = Thresholds()
        self.learn = True
        self.file = GraphFile()
        self.views = 0  # counted in this session
        self.limited = 0  # views over their visitor's rate, not counted
        self.limiter = RateLimiter(DEFAULT_VIEWS_PER_MINUTE)
        self.min_visitors = parse_min_visitors(DEFAULT_MIN_VISITORS)
        self.visitor_header = ""
        self.save_interval_s = SAVE_INTERVAL_S
        self._saver: asyncio.Task | None = None

    # ---- options -------------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_speculation", str, "fixed",
            "Speculation rules served with prefetch_inject=both|speculation: 'fixed' (one document "
            "rule for every page) or 'learned' (per page: prerender and prefetch the pages visitors "
            "went to next, by the traversal graph, with the fixed rule as the fallback).",
            choices=MODES,
        )
        loader.add_option(
            "prefetch_learned_thresholds", str, DEFAULT_THRESHOLDS,
            "Probability bands of the learned rules: prerender at once (immediate), prerender on hover "
            "(prerender), prefetch on hover (prefetch); 0 <= prefetch <= prerender <= immediate <= 1.",
        )
        loader.add_option(
            "prefetch_traversal_file", str, "",
            "JSON file of the traversal graph: loaded at start (a corrupt one is set aside and a fresh "
            "graph used), written atomically when it changed, at exit and by prefetch.learned.save. "
            "Empty: kept in memory only.",
        )
        loader.add_option(
            "prefetch_edgio_predicted", str, "off",
            "Our install.js and the learned predictions (the page's learned rules document): 'first' "
            "prefetches the predicted pages before the visible links, 'only' prefetches the predicted "
            "pages and no others, 'off' ignores them. Not for prefetch_client=<Edgio's own files>.",
            choices=PREDICTED_MODES,
        )
        loader.add_option(
            "prefetch_learn", bool, True,
            "Count page views (document navigations with their same-origin Referer) into the traversal "
            "graph. Navigations served by a prefetch or prerender never reach the edge: train with "
            "speculation off.",
        )

        loader.add_option(
            "prefetch_learn_visitor_header", str, "",
            "Who a page view comes from, for the learning bounds: empty (default) is the client's IP "
            "address (an IPv6 address as its /64); a header name (e.g. x-visitor-id) takes that "
            "header's last comma-separated value when present. Trusted as sent: name a header only "
            "when everything in front of the proxy sets or overwrites it (a CDN, the audit's training).",
        )
        loader.add_option(
            "prefetch_learn_views_per_minute", int, DEFAULT_VIEWS_PER_MINUTE,
            "Page views counted per visitor and minute (a token bucket of that many views, refilled "
            "continuously; the last 10,000 visitors are remembered); views beyond it are not counted. "
            "0: no limit.",
        )
        loader.add_option(
            "prefetch_learned_min_visitors", str, DEFAULT_MIN_VISITORS,
            "Distinct visitors a link (page -> next page) must have been taken by before the learned "
            "rules prerender it (else it is demoted to prefetch) or prefetch it (else only the fallback "
            f"rule): prerender=N,prefetch=M, 1 <= M <= N <= {MAX_VISITORS_KEPT}; 1 is no bound.",
        )

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "prefetch_speculation" in updated:
            if opts.prefetch_speculation not in MODES:
                raise exceptions.OptionsError(
                    f"prefetch_speculation must be one of {', '.join(MODES)}, got {opts.prefetch_speculation!r}")
            learned = opts.prefetch_speculation == "learned"
            self.edge.edge_files.page_rules_url = page_rules_url if learned else None
        if "prefetch_edgio_predicted" in updated:
            if opts.prefetch_edgio_predicted not in PREDICTED_MODES:
                raise exceptions.OptionsError(f"prefetch_edgio_predicted must be one of {', '.join(PREDICTED_MODES)}, "
                                              f"got {opts.prefetch_edgio_predicted!r}")
            self.edge.edge_files.use_predictions(opts.prefetch_edgio_predicted)
        if "prefetch_learned_thresholds" in updated:
            try:
                self.thresholds = parse_thresholds(opts.prefetch_learned_thresholds)
            except ValueError as e:
                raise exceptions.OptionsError(f"prefetch_learned_thresholds: {e}") from None
        if "prefetch_learn" in updated:
            self.learn = opts.prefetch_learn
        if "prefetch_learn_views_per_minute" in updated:
            if opts.prefetch_learn_views_per_minute < 0:
                raise exceptions.OptionsError("prefetch_learn_views_per_minute must be 0 (no limit) or more, "
                                              f"got {opts.prefetch_learn_views_per_minute}")
            self.limiter = RateLimiter(opts.prefetch_learn_views_per_minute)
        if "prefetch_learned_min_visitors" in updated:
            try:
                self.min_visitors = parse_min_visitors(opts.prefetch_learned_min_visitors)
            except ValueError as e:
                raise exceptions.OptionsError(f"prefetch_learned_min_visitors: {e}") from None
        if "prefetch_learn_visitor_header" in updated:
            name = opts.prefetch_learn_visitor_header.strip().lower()
            if name and not HEADER_NAME_RE.fullmatch(name):
                raise exceptions.OptionsError(f"prefetch_learn_visitor_header: not a header name: "
                                              f"{opts.prefetch_learn_visitor_header!r}")
            self.visitor_header = name
        if "prefetch_traversal_file" in updated:
            self.graph = self.file.use(opts.prefetch_traversal_file.strip(), self.graph)

    # ---- lifecycle -----------------------------------------------------------------------

    def running(self) -> None:
        if self._saver is None:
            self._saver = asyncio.get_running_loop().create_task(
                self.file.save_periodically(lambda: self.graph, self.save_interval_s))

    def done(self) -> None:
        if self._saver is not None:
            self._saver.cancel()
            self._saver = None
        if self.file.dirty:
            self.file.save(self.graph)
        if self.views:
            stats = self.graph.stats()
            logger.info(f"prefetch-lab: learned {self.views} page views ({self.limited} over their visitor's "
                        f"rate not counted); the traversal graph has {stats['pages']} pages and {stats['edges']} links"
                        + (f", saved to {self.file.path}" if self.file.path else " (not saved: no prefetch_traversal_file)"))

    # ---- commands ------------------------------------------------------------------------

    @command.command("prefetch.learned.save")
    def save(self) -> str:
        """Write the traversal graph to prefetch_traversal_file now."""
        return self.file.save(self.graph)

    @command.command("prefetch.learned.explain")
    def explain(self, url: str) -> str:
        """The pages visitors viewed after `url` (absolute), how likely each is and why, and
        what the learned rules do with each."""
        host, page = site_of(url), page_key(url)
        if host is None or page is None:
            return f"expected an absolute URL (https://host/page), got {url!r}"
        now = time.time()
        predictions = self.graph.explain(host, page, now)
        if not predictions:
            return f"{url}: no next pages seen"
        lines = [p.explain() for p in predictions]
        lines.append(f"other (left, reloaded, untracked): p = {self.graph.other_probability(host, page, now):.3f}")
        scheme = urlsplit(url).scheme.lower()
        learned = self._build(f"{scheme}://{host}", page, scheme, None, now)
        lines += [f"{d.url}: {d.action} ({d.reason})" for d in learned.decisions]
        return "\n".join(lines)

    # ---- the feed ------------------------------------------------------------------------

    def response(self, flow: http.HTTPFlow) -> None:
        if not self.learn:
            return
        req, resp = flow.request, flow.response
        headers = req.headers
        dest = headers.get("sec-fetch-dest")
        if dest is not None and dest != "document":
            return  # a subresource, as nearly every request is: one header look-up
        if not is_page_view(req.method, headers.get, resp.status_code, resp.headers.get("content-type"), req.path):
            return
        if flow.is_replay == "request":
            return  # the edge's own background fetch (or a replay): no visitor
        state = self.edge.state_of(flow)
        if state is not None and state.background:
            return
        peer = flow.client_conn.peername
        visitor = visitor_id(peer[0] if peer else None,
                             headers.get(self.visitor_header) if self.visitor_header else None)
        now = time.time()
        if not self.limiter.allow(visitor, now):
            self.limited += 1
            add_comment(flow, "page view not counted: over its visitor's rate (prefetch_learn_views_per_minute)")
            return
        from_page = referring_page(headers.get("referer"), headers.get("sec-fetch-site"), req.scheme, req.host, req.port)
        if self.graph.observe(normalise_host(req.host, req.port, req.scheme), from_page, req.path, now,
                              visitor_hash(visitor)):
            self.file.changed()
            self.views += 1
            add_comment(flow, f"page view counted (from {from_page})")

    # ---- the per-page document -----------------------------------------------------------

    def request(self, flow: http.HTTPFlow) -> None:
        edge_files = self.edge.edge_files
        if (edge_files.page_rules_url is None and edge_files.predicted == "off") or flow.response or flow.error:
            return
        path, _, query = flow.request.path.partition("?")
        if path == RULES_PATH and query:  # without a query: the fixed file, stages.edge_files'
            self._serve_rules(flow)

    def _serve_rules(self, flow: http.HTTPFlow) -> None:
        req = flow.request
        page = page_from_rules_url(req.path)
        if page is None:
            flow.response = http.Response.make(
                400, b"prefetch-lab: expected ?page=<a page's path and query>, once\n", TEXT)
            flow.response.headers["x-edg-caching-status"] = "bypassed"
            self.edge.record("synthetic", flow, status=400)
            return
        host = normalise_host(req.host, req.port, req.scheme)
        learned = self._build(f"{req.scheme}://{host}", page, req.scheme, req.host_header, time.time())
        status, headers, body = self.edge.edge_files.learned_rules(
            learned.document, RULES_MAX_AGE_S, req.headers.get("if-none-match"))
        flow.response = http.Response.make(status, body, headers)
        flow.response.headers["x-edg-caching-status"] = "bypassed"
        if req.method == "HEAD":
            responses.without_body(flow.response)
        offered = {action: [d.url for d in learned.decisions if d.action == action]
                   for action in ("prerender-immediate", "prerender-moderate", "prefetch-moderate")}
        prerender = offered["prerender-immediate"] + offered["prerender-moderate"]
        flow.marked = MARK
        add_comment(flow, f"learned rules for {page}: prerender {', '.join(prerender) or 'none'}; "
                          f"prefetch {', '.join(offered['prefetch-moderate']) or 'none'}")
        self.edge.record(
            "learned-rules", flow, status=status, page=page, prerender=prerender,
            prerender_immediate=offered["prerender-immediate"], prefetch=offered["prefetch-moderate"],
            excluded={d.url: d.reason for d in learned.decisions if d.action == "excluded"} or None,
        )

    def _build(self, origin: str, page: str, scheme: str, host_header: str | None, now: float) -> LearnedRules:
        """The document for `page` (a page key) on `origin` ('https://host[:port]')."""
        host = origin.partition("://")[2]
        store = self.edge.store

        def held(url: str) -> bool:
            if not self.edge.options.cache_enabled:
                return False
            parts = urlsplit(url)
            key = cache_key("GET", scheme, parts.hostname or "", parts.port, parts.path, parts.query, host_header)
            entry = store.find(key, PREFETCH_REQUEST_HEADERS)  # no bookkeeping: nothing was served
            return entry is not None and entry.status != 204 and entry.state(now) != "expired"

        thresholds = dataclasses.replace(self.thresholds, fallback_eagerness=self.edge.options.eagerness,
                                         min_visitors_prerender=self.min_visitors.prerender,
                                         min_visitors_prefetch=self.min_visitors.prefetch)
        predictions = self.graph.explain(host, page, now)
        return build_learned_document(origin + page, [(p.url, p.probability) for p in predictions], self.edge.rules,
                                      held, thresholds, {p.url: p.visitors for p in predictions})


def page_rules_url(page_path: str) -> str:
    """A page's own rules URL; the fixed file for what names no page."""
    try:
        return rules_url(page_path)
    except ValueError:
        return RULES_PATH
