"""EdgeRoute: the stages in order, each isolated, awaiting what a hook returns (as mitmproxy
does for addons), in mitmproxy's test context."""

from __future__ import annotations

import asyncio
import logging

import pytest
from mitmproxy import exceptions
from mitmproxy.proxy.layers import http as http_layer
from mitmproxy.test import taddons, tflow

from prefetch_lab.edge.route import EdgeRoute


class Stage:
    def __init__(self, name: str, calls: list, fail: bool = False, wait: bool = False) -> None:
        self.name, self.calls, self.fail, self.wait = name, calls, fail, wait

    def response(self, flow):
        self.calls.append(self.name)
        if self.fail:
            raise RuntimeError(f"{self.name} failed")
        return self._later() if self.wait else None

    async def _later(self):
        await asyncio.sleep(0)
        self.calls.append(f"{self.name} (after its wait)")


def run(route: EdgeRoute) -> None:
    with taddons.context(route) as tctx:
        tctx.master.event_loop.run_until_complete(tctx.master.addons.trigger_event(http_layer.HttpResponseHook(tflow.tflow(resp=True))))


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_failing_stage_does_not_skip_the_next_ones():
    calls: list[str] = []
    errors, logger = Errors(), logging.getLogger("prefetch_lab.edge.route")
    logger.addHandler(errors)  # (mitmproxy's test master may take the root logger's handlers)
    try:
        run(EdgeRoute([Stage("a", calls), Stage("b", calls, fail=True), Stage("c", calls)]))
    finally:
        logger.removeHandler(errors)
    assert calls == ["a", "b", "c"]
    assert errors.messages == ["prefetch-lab: stage b failed in response"]


def test_an_awaited_hook_finishes_before_the_next_stage_runs():
    calls: list[str] = []
    run(EdgeRoute([Stage("a", calls, wait=True), Stage("b", calls), Stage("c", calls, wait=True), Stage("d", calls)]))
    assert calls == ["a", "a (after its wait)", "b", "c", "c (after its wait)", "d"]


def test_a_stage_may_switch_a_hook_off_and_on():
    calls: list[str] = []
    quiet = Stage("quiet", calls)
    route = EdgeRoute([quiet, Stage("b", calls)])
    quiet.response = None
    route.configure(set())
    run(route)
    assert calls == ["b"]


def test_option_errors_are_not_swallowed():
    class Strict:
        name = "strict"

        def load(self, loader):
            loader.add_option("strict_value", int, 1, "a value")

        def configure(self, updated):
            if "strict_value" in updated and taddons_ctx.options.strict_value < 0:
                raise exceptions.OptionsError("strict_value must be 0 or more")

    route = EdgeRoute([Strict()])
    with taddons.context(route) as taddons_ctx:
        with pytest.raises(exceptions.OptionsError, match="0 or more"):
            taddons_ctx.configure(route, strict_value=-1)


def test_the_stages_commands_reach_mitmproxys_command_manager():
    from tests.addon.route import route_context

    with route_context() as route:
        commands = route.tctx.master.commands
        assert {"prefetch.cache.clear", "prefetch.cache.stats", "prefetch.rules.reload", "prefetch.summary",
                "prefetch.learned.save", "prefetch.learned.explain"} <= set(commands.commands)
        assert commands.call("prefetch.cache.stats").startswith("entries=0 ")


def test_prefetch_forget_serves_the_worker_that_removes_itself():
    from mitmproxy import http as mhttp
    from mitmproxy.test import tflow as mtflow

    from tests.addon.route import route_context

    with route_context(prefetch_inject="both") as route:
        route.tctx.master.commands.call("prefetch.forget")
        assert route.tctx.options.prefetch_inject == "speculation"
        flow = mtflow.tflow()
        flow.request = mhttp.Request.make("GET", "http://shop.test/__edgio__/prefetch/service-worker.js")
        flow.response = None
        route.request(flow)
        assert b"registration.unregister()" in flow.response.content
        assert b"PrefetchLabRules" not in flow.response.content  # not our working worker
