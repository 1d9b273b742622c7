"""`EdgeRoute`: the one addon mitmproxy sees; it runs every event through the stages in order,
each stage's hook isolated from the others.

Why not each stage a top-level addon: under `mitmdump -s addon/prefetch.py` a script's `addons`
are children of mitmproxy's script loader, and mitmproxy wraps each top-level addon *with all its
children* in one `safecall` (AddonManager.trigger_event): a hook that raises ends the event for
every later addon of the script. The route does what safecall does, per stage: the exception is
logged and the next stage runs, so a failing stage cannot keep another from releasing what it
holds (collapse waiters, background fetch slots). It also costs less than one mitmproxy addon per
stage: mitmproxy looks every event up on every addon of its chain; the route looks it up once and
calls only the stages that have the hook.

Like mitmproxy, it awaits what a hook returns before the next stage runs. `load`, `configure`
and `running` are not isolated: an OptionsError or a failed start must stop mitmdump, as it
would for any addon. The stages' commands are registered with mitmproxy's command manager.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Sequence
from typing import Any

from mitmproxy import exceptions

from prefetch_lab.edge import compat

logger = logging.getLogger(__name__)

FLOW_EVENTS = ("requestheaders", "request", "responseheaders", "response", "error")


class EdgeRoute:
    name = "prefetch"

    def __init__(self, stages: Sequence[Any]) -> None:
        self.stages = list(stages)
        self._hooks: dict[str, list[Any]] = {}
        self._index_hooks()

    def stage(self, name: str) -> Any:
        return next(stage for stage in self.stages if getattr(stage, "name", None) == name)

    def _index_hooks(self) -> None:
        # The stages that may have each flow hook (a stage can switch a hook off by setting it
        # to None, as EdgeLatency does without a delay: looked up again at each call).
        self._hooks = {event: [s for s in self.stages if getattr(s, event, None) is not None] for event in FLOW_EVENTS}

    # ---- lifecycle: in order, not isolated ---------------------------------------------

    def load(self, loader) -> None:
        for stage in self.stages:
            if hasattr(stage, "load"):
                stage.load(loader)
            compat.register_commands(loader, stage)

    def configure(self, updated: set[str]) -> None:
        for stage in self.stages:
            if hasattr(stage, "configure"):
                stage.configure(updated)
        self._index_hooks()

    def running(self) -> None:
        for stage in self.stages:
            if hasattr(stage, "running"):
                stage.running()

    def done(self) -> None:
        for stage in self.stages:
            if hasattr(stage, "done"):
                _isolated(stage, "done", stage.done)

    # ---- flow events: in order, each stage isolated ------------------------------------

    def requestheaders(self, flow) -> Awaitable[None] | None:
        return self._run("requestheaders", flow, 0)

    def request(self, flow) -> Awaitable[None] | None:
        return self._run("request", flow, 0)

    def responseheaders(self, flow) -> Awaitable[None] | None:
        return self._run("responseheaders", flow, 0)

    def response(self, flow) -> Awaitable[None] | None:
        return self._run("response", flow, 0)

    def error(self, flow) -> Awaitable[None] | None:
        return self._run("error", flow, 0)

    def _run(self, event: str, flow, start: int) -> Awaitable[None] | None:
        """Runs the stages from `start` on; a plain call until a stage returns an awaitable,
        then a coroutine that awaits it and goes on (no coroutine for most flows)."""
        stages = self._hooks[event]
        for index in range(start, len(stages)):
            stage = stages[index]
            hook = getattr(stage, event)
            if hook is None:
                continue
            result = _isolated(stage, event, hook, flow)
            if result is not None and inspect.isawaitable(result):
                return self._await_then_run(event, flow, stage, result, index + 1)
        return None

    async def _await_then_run(self, event: str, flow, stage, awaitable, start: int) -> None:
        try:
            await awaitable
        except (exceptions.AddonHalt, exceptions.OptionsError):
            raise
        except Exception:
            logger.exception(f"prefetch-lab: stage {stage.name} failed in {event}")
        rest = self._run(event, flow, start)
        if rest is not None:
            await rest


def _isolated(stage, event: str, hook, *args):
    try:
        return hook(*args)
    except (exceptions.AddonHalt, exceptions.OptionsError):
        raise
    except Exception:
        logger.exception(f"prefetch-lab: stage {stage.name} failed in {event}")
        return None
