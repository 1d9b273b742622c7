"""`prefetch_client`: which browser client the edge serves, ours or a user's own copy of Edgio's.

`ours` (default): install.js and the service worker from static/. A folder: the files of an
installed `@edgio/prefetch` (its `cdn/` folder, or the package folder), served as they are at
/__edgio__/prefetch/install.js and at Edgio's /__edgio__service_worker_<version>.js, which
that install.js registers. The cache manifest stays the edge's (written for Edgio's evaluator,
see docs/DESIGN.md). Edgio's files are never part of Prefetch Lab: bring your own
(`npm install @edgio/prefetch@7.13.13`, then `--set prefetch_client=node_modules/@edgio/prefetch/cdn`).

A small addon of its own, handed the EdgeFiles that PrefetchLab serves from:
`lab = PrefetchLab(); addons = [lab, ClientFiles(lab.edge_files), ...]` (before OptionCheck).
"""

from __future__ import annotations

import logging

from mitmproxy import ctx, exceptions

from prefetch_lab.client.edge_files import OURS, EdgeFiles, client_folder, client_version

logger = logging.getLogger(__name__)
OPTION = "prefetch_client"


class ClientFiles:
    def __init__(self, edge_files: EdgeFiles) -> None:
        self.edge_files = edge_files

    def load(self, loader) -> None:
        loader.add_option(
            OPTION, str, OURS,
            "Browser client: 'ours' (Prefetch Lab's install.js and service worker), or a folder "
            "with Edgio's own install.js and service-worker.js (an installed @edgio/prefetch's "
            "cdn/ folder), served in their place; the cache manifest stays the edge's.",
        )

    def configure(self, updated: set[str]) -> None:
        if OPTION not in updated:
            return
        value = getattr(ctx.options, OPTION)
        try:
            folder = client_folder(value)
        except ValueError as e:
            raise exceptions.OptionsError(f"{OPTION}: {e}") from None
        self.edge_files.use_client(folder)
        if folder is not None:
            version = client_version(folder)
            logger.info(f"prefetch-lab: serving Edgio's client files from {folder}"
                        + (f" (@edgio/prefetch {version})" if version else ""))
