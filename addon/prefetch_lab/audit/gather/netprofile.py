"""A visitor's access network, emulated at the packet level, for the audit's `--throttle`.

DevTools throttling (`Network.emulateNetworkConditions`) is per target: it slows what a page
session requests, not the speculation-rules prefetches Chromium's browser process makes (seen
with Chromium 156: under a 150 ms profile a page's fetch took 161 ms, an immediate prefetch was
Ready after 6 ms), and a service worker is a target of its own. An audit throttled that way
compares a slow network against prefetches that travel a free one. So the audit puts the network between the
browser and the proxy instead, as WebPageTest's tsproxy does: every byte Chromium sends or
receives, whichever part of it asked, crosses the same two links.

A `Link` is one direction: a FIFO pipe of `bytes_per_s` followed by `delay_s` of propagation.
Bytes queue behind whatever is being transmitted (one visitor's connections share the pipe), and
arrive `delay_s` after their transmission ends. The profile's RTT is split evenly between the two
directions. This module knows nothing of sockets: netshaper.py runs it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkProfile:
    name: str
    rtt_ms: float
    down_kbps: float
    up_kbps: float

    def links(self) -> tuple["Link", "Link"]:
        """(down, up): fresh links for one visitor."""
        one_way = self.rtt_ms / 2000
        return Link(self.down_kbps * 1000 / 8, one_way), Link(self.up_kbps * 1000 / 8, one_way)

    def describe(self) -> str:
        return f"{self.rtt_ms:g} ms RTT, {self.down_kbps:g} kbps down, {self.up_kbps:g} kbps up"


# Lighthouse's packet-level "slow 4G" (what WebPageTest and Lighthouse's `provided` throttling
# apply on the wire) and DevTools' "Slow 3G" preset, its 2,000 ms taken as the round trip.
PROFILES = {
    "4g": NetworkProfile("4g", 150, 1600, 750),
    "slow-3g": NetworkProfile("slow-3g", 2000, 400, 400),
    # Lighthouse's desktop preset ("desktopDense4G"): 40 ms RTT, 10 Mbps both ways.
    "desktop": NetworkProfile("desktop", 40, 10240, 10240),
}
THROTTLE_CHOICES = ("none", *PROFILES)


def profile(name: str) -> NetworkProfile | None:
    """The profile named by `--throttle` (None for `none`); ValueError for an unknown name."""
    if name == "none":
        return None
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown network profile {name!r}: choose one of {', '.join(THROTTLE_CHOICES)}") from None


class Link:
    """One direction of the access network, shared by every connection of one visitor."""

    def __init__(self, bytes_per_s: float, delay_s: float) -> None:
        if bytes_per_s <= 0 or delay_s < 0:
            raise ValueError("a link needs a positive bandwidth and a delay of 0 or more")
        self.bytes_per_s = bytes_per_s
        self.delay_s = delay_s
        self.free_at = 0.0  # when the pipe has transmitted everything queued so far

    def send(self, now: float, size: int) -> tuple[float, float]:
        """Queue `size` bytes at time `now`: (when their transmission ends, when they arrive).
        A sender that waits for the first before queueing more gets its fair share of the pipe
        when other connections send too (they interleave, one slice each)."""
        start = max(now, self.free_at)
        self.free_at = start + size / self.bytes_per_s
        return self.free_at, self.free_at + self.delay_s

    def slice_size(self) -> int:
        """Bytes per transmission slice: about 10 ms of the pipe, at least one TCP segment, so
        a large read neither arrives as one burst nor costs a timer per segment."""
        return max(1460, min(16 * 1024, int(self.bytes_per_s * 0.01)))
