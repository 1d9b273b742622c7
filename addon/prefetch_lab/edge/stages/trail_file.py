"""The trail file: one JSON line per edge decision (`prefetch_audit_file`).

First in the route so that its `configure` runs before the other stages', whose set-up (the
rules loaded) is then on the trail too. The records themselves are made through
`EdgeContext.record`, which also feeds the observers (the session summary).
"""

from __future__ import annotations

from typing import Optional

from mitmproxy import ctx, exceptions

from prefetch_lab import trail
from prefetch_lab.edge.context import EdgeContext


class TrailFile:
    name = "prefetch.trail"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def load(self, loader) -> None:
        loader.add_option(
            "prefetch_audit_file", Optional[str], None,
            "Write one JSON line per edge decision to this file ('+path' appends).",
        )

    def configure(self, updated: set[str]) -> None:
        if "prefetch_audit_file" in updated:
            self._open(ctx.options.prefetch_audit_file)

    def _open(self, path: str | None) -> None:
        self.done()
        if path:
            try:
                self.edge.trail_writer = trail.AuditWriter(path)
            except OSError as e:
                raise exceptions.OptionsError(f"prefetch_audit_file: cannot open {path}: {e}") from e

    def done(self) -> None:
        if self.edge.trail_writer:
            self.edge.trail_writer.close()
            self.edge.trail_writer = None
