"""The origin timeout's clock: one timer for all flows, each flow still due at its own time.

The loop runs on a manual clock (`ManualClockLoop`): time moves only when the test says so, so
"due after 0.1 s, not yet after 0.4 s" holds on any machine, however slow, and takes no real time.
"""

import asyncio
import threading

from mitmproxy.test import tflow

from prefetch_lab.edge.origin_fetches import OriginFetches


class ManualClockLoop(asyncio.SelectorEventLoop):
    """An event loop whose `time()` is a number the test advances: a timer is due exactly when the
    test has moved the clock past its deadline, never because the machine was slow."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0

    def time(self) -> float:
        return self.now


async def advance(seconds: float) -> None:
    """Move the clock on and let the loop run what is due (the timers due then run after the
    test's next step is queued, so a few passes of the loop are enough; nothing else waits)."""
    loop = asyncio.get_running_loop()
    assert isinstance(loop, ManualClockLoop)
    loop.now += seconds
    for _ in range(5):
        await asyncio.sleep(0)


def run_in_own_loop(main) -> None:
    """main() on a ManualClockLoop in a thread of its own: earlier tests in the same process
    (Playwright's sync API) can leave an event loop running in this one."""
    failure: list[BaseException] = []

    def target() -> None:
        loop = ManualClockLoop()
        try:
            loop.run_until_complete(main())
        except BaseException as e:  # re-raised in the test's thread
            failure.append(e)
        finally:
            loop.close()

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
        await advance(0.09)
        assert not fetches.timed_out, "nothing is due before 0.1 s"
        await advance(0.02)
        assert set(fetches.timed_out) == {later_but_sooner}
        await advance(0.28)
        assert set(fetches.timed_out) == {later_but_sooner}, "the slow flow is due at 0.4 s, not before"
        await advance(0.02)
        assert set(fetches.timed_out) == {later_but_sooner, slow}
        assert not fetches._deadlines
        await advance(10)
        assert answered not in fetches.timed_out

    run_in_own_loop(run)


def test_a_flow_watched_again_gets_a_new_clock():
    async def run():
        fetches = OriginFetches(":x:")
        flow = tflow.tflow()
        fetches.timeout = 0.2
        fetches.watch(flow)
        await advance(0.15)
        fetches.arrived(flow)  # a collapse waiter: off the origin's clock while it waits...
        await advance(0.1)
        assert not fetches.timed_out, "its first clock (due at 0.2 s) no longer counts"
        fetches.watch(flow)  # ...and on it again when released, at 0.25 s: due at 0.45 s
        await advance(0.1)
        assert not fetches.timed_out
        await advance(0.09)
        assert not fetches.timed_out
        await advance(0.02)
        assert set(fetches.timed_out) == {flow}

    run_in_own_loop(run)
