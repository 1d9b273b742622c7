"""Injection into buffered HTML pages: the install.js tag (edge/html_rewrite.py, on bytes, under
the page's CSP), and the injection options (`prefetch_inject`, `prefetch_inject_at`,
`prefetch_include_cache_misses`, `prefetch_force_ratio`), which stages.stream and the edge
headers read from the context. Streamed pages are injected in the stream (stages.stream).

A change of these options clears the edge cache: cached pages carry the injection they were
stored with. Without Edgio's client in `prefetch_inject`, a browser that still has our service
worker is served one that removes itself; `prefetch.forget` switches the client off for that.
"""

from __future__ import annotations

from mitmproxy import command, ctx, exceptions, http

from prefetch_lab.edge.context import EdgeContext, note
from prefetch_lab.edge.html_rewrite import rewrite_html

INJECT_MODES = ("both", "edgio", "speculation", "off")
PLACEMENTS = ("body", "head")
CHOICES = {"prefetch_inject": INJECT_MODES, "prefetch_inject_at": PLACEMENTS}
STORED_WITH = {"prefetch_inject", "prefetch_inject_at", "prefetch_include_cache_misses", "prefetch_force_ratio"}


def parse_ratio(text: str) -> float | None:
    if not text.strip():
        return None
    try:
        ratio = float(text)
    except ValueError:
        ratio = -1.0
    if not 0.0 <= ratio <= 1.0:
        raise exceptions.OptionsError(f"prefetch_force_ratio must be a number from 0 to 1, got {text!r}")
    return ratio


class Rewrite:
    name = "prefetch.rewrite"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
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

    def configure(self, updated: set[str]) -> None:
        opts, kept = ctx.options, self.edge.options
        # mitmproxy shows `choices` in its UIs but does not enforce them on --set.
        for name, allowed in CHOICES.items():
            if name in updated and getattr(opts, name) not in allowed:
                raise exceptions.OptionsError(f"{name} must be one of {', '.join(allowed)}, got {getattr(opts, name)!r}")
        if "prefetch_force_ratio" in updated:
            kept.force_ratio = parse_ratio(opts.prefetch_force_ratio)
        kept.inject_mode, kept.inject_at = opts.prefetch_inject, opts.prefetch_inject_at
        kept.include_cache_misses = opts.prefetch_include_cache_misses
        self.edge.edge_files.worker_wanted = kept.inject_mode in ("both", "edgio")
        if updated & STORED_WITH:
            self.edge.store.clear()

    @command.command("prefetch.forget")
    def forget(self) -> None:
        """Stop injecting Edgio's client: browsers that have our service worker get one that
        removes itself and its caches at their next visit (Speculation-Rules headers go on)."""
        mode = ctx.options.prefetch_inject
        ctx.options.update(prefetch_inject="speculation" if mode in ("both", "speculation") else "off")

    def response(self, flow: http.HTTPFlow) -> None:
        state = self.edge.state_of(flow)
        if state is None or state.served_by_edge or state.handled or flow.response.stream:
            return
        opts = self.edge.options
        rewrite = rewrite_html(flow, opts.inject_mode, opts.inject_at, opts.include_cache_misses, opts.force_ratio)
        if rewrite is None:
            return
        injected, detail = rewrite
        if injected:
            note(flow, "injected", "install.js injected")
            self.edge.record("injected", flow, **detail)
        else:
            self.edge.record("inject-skipped", flow, **detail)
