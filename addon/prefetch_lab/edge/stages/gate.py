"""The prefetch gate: a gated prefetch is answered only from the edge cache; a miss is refused
(`prefetch_refusal_status`: 412 as Edgio, 503 as Speed Brain; a prerender always 503) and never
reaches the origin, as Edgio's and Cloudflare's edges do.

It refuses what the lookup decided REFUSED (`state.refusal` says why) and, failing closed, any
request that looks like a prefetch and has no answer yet because an earlier stage failed on it
(`edge-error`). With `prefetch_warm_on_refusal` a not-cached refusal fetches the page in the
background, like an edge that popular traffic keeps warm. `prefetch_gate=off` gates nothing
(stages.classify reads it): every prefetch is an ordinary request, forwarded on a miss with the
trail's reason `gate-off`; the audit's control arms run so, the site as it is without a gating
edge, its own prefetchers working. Last of the request stages that the
edge's own decisions come from, it also leaves the flow's summary in `flow.metadata`.
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, exceptions, http

from prefetch_lab.edge import answers, responses, storage
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.context import META, Action, EdgeContext, FlowState
from prefetch_lab.http import speculation_headers

logger = logging.getLogger(__name__)
GATE_CHOICES = ("on", "off")


def looks_like_prefetch(path: str, request: http.Request) -> bool:
    """Conservative, for when the full classification could not run (`path` as received)."""
    query = path.partition("?")[2]
    return "edgio_prefetch" in header_reads.query_param_names(query) or speculation_headers.is_speculative(request.headers.get("sec-purpose"))


class PrefetchGate:
    name = "prefetch.gate"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
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
            "prefetch_gate", str, "on",
            "on: prefetches the edge cannot serve from its cache are refused (as Edgio's and Speed "
            "Brain's edges do); off: no prefetch is gated, each is an ordinary request (a miss goes "
            "to the origin), as the site runs without such an edge (the audit's control arm).",
        )

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "prefetch_gate" in updated:
            if opts.prefetch_gate not in GATE_CHOICES:
                raise exceptions.OptionsError(f"prefetch_gate must be on or off, got {opts.prefetch_gate!r}")
            self.edge.options.gate = opts.prefetch_gate == "on"
        if "prefetch_refusal_status" in updated:
            status = opts.prefetch_refusal_status
            if not 400 <= status <= 599:
                raise exceptions.OptionsError(
                    f"prefetch_refusal_status must be a 4xx or 5xx status (412 Edgio, 503 Speed Brain), got {status}"
                )
            self.edge.options.refusal_status = status
        self.edge.options.warm_on_refusal = opts.prefetch_warm_on_refusal

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not self.edge.options.gate:
            return  # nothing is gated: prefetches may stream like any request
        # A streamed request body is sent upstream before `request` runs: keep prefetches
        # buffered, the gate must be able to answer them. (Prefetches are GETs without bodies.)
        if flow.request.stream and looks_like_prefetch(flow.request.path, flow.request):
            flow.request.stream = False

    def request(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if flow.error:
            return
        if flow.response is None:
            if state is not None and state.action is Action.REFUSED:
                self._refuse(flow, state, state.refusal)
            elif self.edge.options.gate and self._undecided_prefetch(flow, state):
                self._fail_closed(flow, state)
        if state is not None:
            flow.metadata[META] = state.summary()  # what mitmweb's ~meta filter searches

    @staticmethod
    def _undecided_prefetch(flow: http.HTTPFlow, state: FlowState | None) -> bool:
        """A prefetch with no answer and no decision to send it on: an earlier stage failed."""
        if state is None:  # the classification failed (or never ran): the request as received
            return looks_like_prefetch(flow.request.path, flow.request)
        return state.gated  # e.g. the lookup or the serving of a hit failed

    def _refuse(self, flow: http.HTTPFlow, state: FlowState, reason: str) -> None:
        answers.refuse(self.edge, flow, state, reason)
        if reason == "not-cached" and self.edge.options.warm_on_refusal:
            storage.background_fetch_once(self.edge, flow, state, "warm")

    def _fail_closed(self, flow: http.HTTPFlow, state: FlowState | None) -> None:
        logger.error(f"prefetch-lab: a prefetch without an edge decision, refused: {header_reads.pretty_url(flow.request)}")
        try:
            if state is None:
                state = self.edge.track(flow, FlowState())
            answers.refuse(self.edge, flow, state, "edge-error")
        except Exception:  # the refusal must stand whatever else fails (the trail, the headers)
            logger.exception("prefetch-lab: refusing a prefetch failed; refusing it bare")
            flow.response = responses.refusal(self.edge.options.refusal_status, "edge-error")
            if state is not None:
                state.served_by_edge = True
