"""The edge as mitmdump runs it, in mitmproxy's test context: the shim's `addons` (loaded fresh,
so every test gets its own context and stages), each event triggered through mitmproxy's own
AddonManager, which calls the EdgeRoute, which runs the stages (each isolated).

An exception in a stage's hook is logged, not raised: `Route` fails the test on such a log line
unless the test said it expects one (`expect_addon_errors`).
"""

from __future__ import annotations

import logging
import runpy
from contextlib import contextmanager
from pathlib import Path

from mitmproxy import hooks
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import taddons

SHIM = Path(__file__).resolve().parents[2] / "addon" / "prefetch.py"


def load_route() -> dict:
    """A fresh run of addon/prefetch.py: its module globals (`edge`, `addons`, ...)."""
    return runpy.run_path(str(SHIM))


class _AddonErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Addon error") or message.startswith("prefetch-lab: stage "):
            self.messages.append(record.getMessage())


class Route:
    def __init__(self, tctx, shim: dict) -> None:
        self.tctx, self.addons, self.context = tctx, shim["addons"], shim["edge"]
        self.stages = shim["route"]
        self.expect_addon_errors = False
        self.addon_errors = _AddonErrors()

    @property
    def store(self):
        return self.context.store

    def stage(self, name: str):
        return next(stage for stage in self.stages if stage.name == name)

    def configure(self, **options) -> None:
        """As `--set` at run time: every stage's `configure` runs (OptionsError re-raised)."""
        self.tctx.configure(self.addons[0], **options)

    def trigger(self, hook: hooks.Hook) -> None:
        loggers = [logging.getLogger("mitmproxy.addonmanager"), logging.getLogger("prefetch_lab.edge.route")]
        for logger in loggers:
            logger.addHandler(self.addon_errors)
        try:
            self.tctx.master.event_loop.run_until_complete(self.tctx.master.addons.trigger_event(hook))
        finally:
            for logger in loggers:
                logger.removeHandler(self.addon_errors)
        if self.addon_errors.messages and not self.expect_addon_errors:
            raise AssertionError(f"a stage raised: {self.addon_errors.messages}")

    def requestheaders(self, flow) -> None:
        self.trigger(http_layer.HttpRequestHeadersHook(flow))

    def request(self, flow) -> None:
        self.trigger(http_layer.HttpRequestHook(flow))

    def responseheaders(self, flow) -> None:
        self.trigger(http_layer.HttpResponseHeadersHook(flow))

    def response(self, flow) -> None:
        self.trigger(http_layer.HttpResponseHook(flow))

    def error(self, flow) -> None:
        self.trigger(http_layer.HttpErrorHook(flow))


@contextmanager
def route_context(cls: type[Route] = Route, **options):
    """The shim's stages registered in a test context (as mitmdump starts them: every stage
    configured with every option), then `options` set."""
    shim = load_route()
    with taddons.context(*shim["addons"]) as tctx:
        route = cls(tctx, shim)
        for addon in route.addons:  # as the script loader does once they are all registered
            tctx.master.addons.invoke_addon_sync(addon, hooks.ConfigureHook(set(tctx.options.keys())))
        if options:
            route.configure(**options)
        yield route
