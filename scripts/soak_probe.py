"""A mitmdump script for scripts/soak.py: writes the number of asyncio tasks alive in the proxy
every second to the file named by `soak_probe_file` (one line: "<epoch s> <tasks>"), so a soak
can tell whether the edge leaves background tasks behind."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from mitmproxy import ctx


class SoakProbe:
    def __init__(self) -> None:
        self._task: asyncio.Task | None = None

    def load(self, loader) -> None:
        loader.add_option("soak_probe_file", str, "", "Where scripts/soak.py reads the proxy's task count.")

    def running(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._report())

    async def _report(self) -> None:
        path = Path(ctx.options.soak_probe_file)
        while True:
            # This reporting task itself is not counted.
            path.write_text(f"{time.time():.1f} {len(asyncio.all_tasks()) - 1}\n")
            await asyncio.sleep(1)

    def done(self) -> None:
        if self._task:
            self._task.cancel()


addons = [SoakProbe()]
