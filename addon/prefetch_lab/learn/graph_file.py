"""The traversal graph's file (`prefetch_traversal_file`): reading it, and writing it when the
graph changed, atomically and in order. No mitmproxy (asyncio and logging only).

- `use(path, graph)`: the graph to go on with. A readable file's graph; no file yet: `graph` as it
  is (fresh at start), the file is written once pages are viewed. A file that cannot be read or
  parsed is renamed `<file>.corrupt` and a fresh graph used, with a warning naming the file and
  the reason: a warning, because mitmdump exits on an error logged during start-up and a bad
  file must not stop the proxy. Before switching away from a file, what was learned for it is
  written to it.
- `changed()` after every counted view; `save(graph)` writes now (a command, exit);
  `save_periodically(...)` every interval while changed: the snapshot is taken on the event loop
  (the graph is not thread-safe), the file written from a thread. Each snapshot has a
  generation, and an older one never replaces a newer one already written.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefetch_lab.learn.traversal import TraversalGraph, write_json_atomically

logger = logging.getLogger(__name__)

SAVE_INTERVAL_S = 30.0


class GraphFile:
    def __init__(self) -> None:
        self.path: Path | None = None
        self.dirty = False  # views counted since the last snapshot
        self._lock = threading.Lock()
        self._generation = 0  # of the last snapshot taken...
        self._written = 0  # ...and of the last one written

    def use(self, value: str, graph: TraversalGraph) -> TraversalGraph:
        path = Path(value).expanduser() if value else None
        if path == self.path:
            return graph
        if self.path is not None and self.dirty:
            self.save(graph)  # what was learned goes to the file it was learned for
        self.path = path
        if path is None or not path.exists():
            if path is not None:
                logger.info(f"prefetch-lab: traversal graph {path}: no file yet, it is written once pages are viewed")
            return graph
        loaded, error = TraversalGraph.load(path)
        self.dirty = False
        if error is None:
            stats = loaded.stats()
            logger.info(f"prefetch-lab: traversal graph {path}: {stats['pages']} pages, {stats['edges']} links")
            return loaded
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            error += f" (the file is kept as {aside})"
        except OSError:
            pass
        logger.warning(f"prefetch-lab: error: {error}")
        return loaded

    def changed(self) -> None:
        self.dirty = True

    def save(self, graph: TraversalGraph) -> str:
        if self.path is None:
            return "prefetch_traversal_file is not set: the graph is kept in memory only"
        snapshot = self._snapshot(graph)
        try:
            self._write(*snapshot)
        except OSError as e:
            self.dirty = True
            logger.error(f"prefetch-lab: traversal graph {self.path}: not saved: {e}")
            return f"not saved: {e}"
        return f"saved to {self.path}"

    async def save_periodically(self, graph_of: Callable[[], TraversalGraph], interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            if self.dirty and self.path is not None:
                snapshot = self._snapshot(graph_of())
                try:
                    await asyncio.to_thread(self._write, *snapshot)
                except Exception as e:  # keep saving later: a full disk must not end the proxy
                    self.dirty = True
                    logger.error(f"prefetch-lab: traversal graph {snapshot[0]}: not saved: {e}")

    def _snapshot(self, graph: TraversalGraph) -> tuple[Path, int, dict[str, Any]]:
        assert self.path is not None
        self._generation += 1
        self.dirty = False
        return self.path, self._generation, graph.to_json(time.time())

    def _write(self, path: Path, generation: int, snapshot: dict[str, Any]) -> None:
        with self._lock:
            if generation > self._written:
                write_json_atomically(path, snapshot)
                self._written = generation
