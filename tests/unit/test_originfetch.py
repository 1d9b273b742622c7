"""The origin timeout's clock: one timer for all flows, each flow still due at its own time."""

import asyncio
import threading

from mitmproxy.test import tflow

from prefetch_lab.edge.origin_fetches import OriginFetches


def run_in_own_loop(main) -> None:
    """asyncio.run(main()) in a thread of its own: earlier tests in the same process (Playwright's
    sync API) can leave an event loop running in this one."""
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(main())
        except BaseException as e:  # re-raised in the test's thread
            failure.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    if failure:
        raise failure[0]


def test_each_flow_times_out_at_its_own_deadline_and_an_arrived_one_never():
    async def run():
        fetches = OriginFetches(":x:")
        slow, answered, later_but_sooner = (tflow.tflow() for _ in range(3))
        fetches.timeout = 0.4
        fetches.watch(slow)
        fetches.watch(answered)
        fetches.timeout = 0.1  # changed while flows wait: a later flow can be due first
        fetches.watch(later_but_sooner)
        fetches.arrived(answered)
        await asyncio.sleep(0.25)
        assert set(fetches.timed_out) == {later_but_sooner}
        await asyncio.sleep(0.3)
        assert set(fetches.timed_out) == {later_but_sooner, slow}
        assert not fetches._deadlines

    run_in_own_loop(run)


def test_a_flow_watched_again_gets_a_new_clock():
    async def run():
        fetches = OriginFetches(":x:")
        flow = tflow.tflow()
        fetches.timeout = 0.2
        fetches.watch(flow)
        await asyncio.sleep(0.15)
        fetches.arrived(flow)  # a collapse waiter: off the origin's clock while it waits...
        await asyncio.sleep(0.1)
        fetches.watch(flow)  # ...and on it again when released
        await asyncio.sleep(0.1)
        assert not fetches.timed_out
        await asyncio.sleep(0.2)
        assert set(fetches.timed_out) == {flow}

    run_in_own_loop(run)
