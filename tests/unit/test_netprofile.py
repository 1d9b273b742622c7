"""The access-network model behind `--throttle` (netprofile.py): pure arithmetic, no sockets."""

from __future__ import annotations

import pytest

from prefetch_lab.audit.gather.netprofile import PROFILES, THROTTLE_CHOICES, Link, profile


def test_bytes_arrive_after_their_transmission_and_the_one_way_delay():
    link = Link(bytes_per_s=1000, delay_s=0.075)
    assert link.send(10.0, 500) == (10.5, 10.575)


def test_a_busy_pipe_queues_what_comes_next_behind_it():
    link = Link(bytes_per_s=1000, delay_s=0.0)
    assert link.send(0.0, 1000) == (1.0, 1.0)
    assert link.send(0.2, 1000) == (2.0, 2.0)  # waited for the first to be transmitted
    assert link.send(5.0, 1000) == (6.0, 6.0)  # an idle pipe starts at once


def test_two_senders_taking_turns_share_the_pipe():
    """Each sender queues one slice and waits for its transmission before the next (as the
    shaper's pumps do): 10 slices each take as long as 20 would for one sender."""
    link = Link(bytes_per_s=1000, delay_s=0.0)
    ends = {"a": 0.0, "b": 0.0}
    for _ in range(10):
        for sender in ("a", "b"):
            ends[sender], _ = link.send(ends[sender], 100)
    assert ends == {"a": pytest.approx(1.9), "b": pytest.approx(2.0)}


def test_profiles_split_the_round_trip_and_convert_kbps():
    down, up = PROFILES["4g"].links()
    assert (down.bytes_per_s, up.bytes_per_s) == (200_000, 93_750)
    assert down.delay_s == up.delay_s == 0.075
    assert profile("none") is None and profile("slow-3g").rtt_ms == 2000
    assert THROTTLE_CHOICES == ("none", "4g", "slow-3g", "desktop")
    with pytest.raises(ValueError, match="unknown network profile 'lte'"):
        profile("lte")


def test_slices_are_about_ten_milliseconds_of_the_pipe_and_at_least_a_segment():
    assert Link(200_000, 0).slice_size() == 2000
    assert Link(10_000, 0).slice_size() == 1460
    assert Link(100e6, 0).slice_size() == 16 * 1024


@pytest.mark.parametrize("bandwidth, delay", [(0, 0.1), (-5, 0.1), (1000, -0.1)])
def test_a_link_without_bandwidth_or_with_negative_delay_is_refused(bandwidth, delay):
    with pytest.raises(ValueError):
        Link(bandwidth, delay)
