"""The shim's route, pinned: mitmproxy runs each event through the stages in this order, and
several stages rely on what an earlier one decided (docs/DESIGN.md, "The route"). Reordering is
a design change: change this list with the reason beside it in DESIGN.md."""

from __future__ import annotations

from prefetch_lab.edge.route import EdgeRoute
from tests.addon.route import load_route

ROUTE = [
    "prefetch.trail",            # configured first: the rest of the set-up is on the trail
    "prefetch.rules",
    "prefetch.learning",         # answers the learned rules URL before the edge files would
    "prefetch.edgefiles",
    "prefetch.classify",
    "prefetch.lookup",           # decides the action the next five act on
    "prefetch.gate",             # after the lookup, before anything sends a request on
    "prefetch.revalidate",
    "prefetch.staleiferror",
    "prefetch.collapse",
    "prefetch.surrogate",        # after every stage that may answer a request
    "prefetch.originclock",      # last of the request stages: the clock starts at the origin
    "prefetch.stream",           # after the stale-if-error hold, before the edge headers
    "prefetch.rewrite",
    "prefetch.store",
    "prefetch.edgeheaders",      # after the store wrote the caching status
    "prefetch.staleiferror.fallback",  # after the store recorded the origin's answer
    "prefetch.collapse.release",       # after the store: waiters are served what it stored
    "prefetch.background",
    "prefetch.invalidate",
    "prefetch.latency",          # after every stage that may answer a request
    "prefetch.summary",
    "prefetch.optioncheck",      # last: every option is registered before --set values are parsed
]


def test_the_shim_lists_the_route_in_order():
    shim = load_route()
    (route,) = shim["addons"]
    assert isinstance(route, EdgeRoute)
    assert [stage.name for stage in route.stages] == ROUTE
    assert route.stages == shim["route"]


def test_each_stage_is_a_distinct_object_with_a_distinct_name():
    stages = load_route()["route"]
    assert len({id(stage) for stage in stages}) == len(stages)
    assert len({stage.name for stage in stages}) == len(stages)
