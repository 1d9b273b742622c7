"""The files the edge serves itself under /__edgio__/ (never forwarded): install.js and its
service worker (ours, or a user's copy of Edgio's: `prefetch_client`), the cache manifest, the
speculation-rules file (`prefetch_eagerness`), and install.js's report beacons (trail records).

`prefetch_client`: `ours` (default) serves client/static/; a folder serves the files of an
installed `@edgio/prefetch` (its `cdn/` folder, or the package folder) as they are, at
/__edgio__/prefetch/install.js and at Edgio's /__edgio__service_worker_<version>.js, which that
install.js registers. Edgio's files are never part of Prefetch Lab: bring your own
(`npm install @edgio/prefetch@7.13.13`, then `--set prefetch_client=node_modules/@edgio/prefetch/cdn`).
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, exceptions, http

from prefetch_lab.client.edge_files import OURS, REPORT_PATH, client_folder, client_version, is_edge_path
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge import responses
from prefetch_lab.edge.context import EdgeContext, FlowState
from prefetch_lab.rules.speculation_rules import EAGERNESS

logger = logging.getLogger(__name__)
MAX_REPORT = 4000  # bytes of a beacon kept on the trail


class EdgeFilesStage:
    name = "prefetch.edgefiles"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_client", str, OURS,
            "Browser client: 'ours' (Prefetch Lab's install.js and service worker), or a folder "
            "with Edgio's own install.js and service-worker.js (an installed @edgio/prefetch's "
            "cdn/ folder), served in their place; the cache manifest stays the edge's.",
        )
        loader.add_option(
            "prefetch_eagerness", str, "conservative",
            "Eagerness of the served speculation rules (Chromium: conservative = pointer down, "
            "moderate/eager = hover, immediate = at load).",
            choices=EAGERNESS,
        )

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "prefetch_eagerness" in updated:
            # mitmproxy shows `choices` in its UIs but does not enforce them on --set.
            if opts.prefetch_eagerness not in EAGERNESS:
                raise exceptions.OptionsError(f"prefetch_eagerness must be one of {', '.join(EAGERNESS)}, "
                                              f"got {opts.prefetch_eagerness!r}")
            self.edge.options.eagerness = opts.prefetch_eagerness
        if "prefetch_client" in updated:
            self._use_client(opts.prefetch_client)

    def _use_client(self, value: str) -> None:
        try:
            folder = client_folder(value)
        except ValueError as e:
            raise exceptions.OptionsError(f"prefetch_client: {e}") from None
        self.edge.edge_files.use_client(folder)
        if folder is not None:
            version = client_version(folder)
            logger.info(f"prefetch-lab: serving Edgio's client files from {folder}"
                        + (f" (@edgio/prefetch {version})" if version else ""))

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # A streamed request body goes upstream before `request` runs: keep ours buffered.
        if flow.request.stream and is_edge_path(flow.request.path.partition("?")[0]):
            flow.request.stream = False

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error:
            return  # another stage already answered (the learned rules document)
        path = flow.request.path.partition("?")[0]
        if not is_edge_path(path):
            return
        try:
            self._serve(flow, path)
        except Exception:
            # Never forward an edge path to the origin: it has no such file.
            logger.exception(f"prefetch-lab: error serving {flow.request.pretty_url}")
            flow.response = http.Response.make(500, b"prefetch-lab: edge error\n", {"content-type": "text/plain"})
        flow.response.headers["x-edg-caching-status"] = "bypassed"

    def _serve(self, flow: http.HTTPFlow, path: str) -> None:
        req = flow.request
        self.edge.track(flow, FlowState(served_by_edge=True, url=header_reads.pretty_url(req)))
        if path == REPORT_PATH:
            flow.response = http.Response.make(204)
            body = (req.raw_content or b"")[:MAX_REPORT]
            self.edge.record("client-report", flow, detail=body.decode("utf-8", "replace"))
            return
        status, headers, body = self.edge.edge_files.respond(
            path, req.host.lower(), req.scheme, self.edge.options.eagerness, req.headers.get("if-none-match"))
        flow.response = http.Response.make(status, body, headers)
        if req.method == "HEAD":
            responses.without_body(flow.response)
        self.edge.record("synthetic", flow, status=status)
