"""Bounds on what one visitor can teach the traversal graph (issue 22; threat model in
docs/learned-speculation.md, "Who can teach the graph"). Pure module: no mitmproxy.

- `visitor_id(address, header_value)`: who a view comes from. The value of a trusted header when
  the user named one (its last comma-separated item: the one the nearest trusted proxy appended,
  as with X-Forwarded-For), else the client's address; an IPv6 address counts as its /64 (one
  host's usual allocation, so one machine cannot be many visitors by rotating addresses).
- `visitor_hash(id)`: 2 bytes of BLAKE2b. What the graph keeps per edge and writes to its file:
  too short to name anyone (each value is shared by about 65,000 IPv4 addresses), long enough
  that a handful of real visitors rarely collide (a collision undercounts: the safe direction).
- `RateLimiter`: a token bucket per visitor (`per_minute` tokens, refilled continuously), for at
  most `max_clients` visitors (least recently seen forgotten first: a forgotten visitor comes
  back with a full bucket, so evicting costs an attacker as many addresses as the table holds).
- `Admission`: the doorkeeper of a full graph. When a cap is reached, a new entry (host, page or
  edge) displaces the weakest one only once two distinct visitors have asked for it; a pending
  entry remembers its first visitor, for at most `max_pending` entries. One client alone can
  therefore never evict what others taught.
- `parse_min_visitors`: the `prefetch_learned_min_visitors` option's syntax.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

VISITOR_HASH_BYTES = 2
MAX_VISITORS_KEPT = 8  # per edge: enough for any min-visitors threshold allowed
DEFAULT_VIEWS_PER_MINUTE = 30
DEFAULT_MIN_VISITORS = "prerender=3,prefetch=1"
DEFAULT_MAX_CLIENTS = 10_000
DEFAULT_MAX_PENDING = 4_096
MIN_VISITOR_BANDS = ("prerender", "prefetch")


def visitor_id(address: str | None, header_value: str | None = None) -> str:
    """'h:<value>' from a trusted header's value (when given and not empty), else 'ip:<address>'
    (an IPv6 address as its /64; an IPv4-mapped one as the IPv4 address)."""
    if header_value:
        last = header_value.rsplit(",", 1)[-1].strip()
        if last:
            return "h:" + last
    if not address:
        return "ip:?"
    if ":" not in address:
        return "ip:" + address  # IPv4, as the socket names it: nothing to normalise
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "ip:" + address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.ip_network(f'{ip}/64', strict=False)}"
    return f"ip:{ip}"


def visitor_hash(visitor: str) -> bytes:
    return hashlib.blake2b(visitor.encode("utf-8", "surrogatepass"), digest_size=VISITOR_HASH_BYTES).digest()


def with_visitor(seen: bytes, visitor: bytes) -> bytes:
    """`seen` (concatenated visitor hashes) with `visitor` added, unless it is in, or full."""
    if len(seen) >= MAX_VISITORS_KEPT * VISITOR_HASH_BYTES or has_visitor(seen, visitor):
        return seen
    return seen + visitor


def has_visitor(seen: bytes, visitor: bytes) -> bool:
    return any(seen[i:i + VISITOR_HASH_BYTES] == visitor for i in range(0, len(seen), VISITOR_HASH_BYTES))


def visitor_count(seen: bytes) -> int:
    return len(seen) // VISITOR_HASH_BYTES


class RateLimiter:
    """A token bucket per visitor; `per_minute` 0 means no limit."""

    def __init__(self, per_minute: int = DEFAULT_VIEWS_PER_MINUTE, max_clients: int = DEFAULT_MAX_CLIENTS) -> None:
        if per_minute < 0 or max_clients < 1:
            raise ValueError("per_minute must be 0 or more and max_clients at least 1")
        self.per_minute = per_minute
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()  # visitor -> [tokens, at]

    def allow(self, visitor: str, now: float) -> bool:
        """Take one token from `visitor`'s bucket; False when it is empty."""
        if self.per_minute == 0:
            return True
        bucket = self._buckets.get(visitor)
        if bucket is None:
            bucket = self._buckets[visitor] = [float(self.per_minute), now]
            if len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(visitor)
            elapsed = max(0.0, now - bucket[1])
            bucket[0] = min(float(self.per_minute), bucket[0] + elapsed * self.per_minute / 60.0)
            bucket[1] = max(now, bucket[1])
        if bucket[0] < 1.0:
            return False
        bucket[0] -= 1.0
        return True

    def __len__(self) -> int:
        return len(self._buckets)


class Admission:
    """Which new entries may displace old ones in a full graph: those two visitors asked for."""

    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.max_pending = max_pending
        self._pending: OrderedDict[Hashable, bytes] = OrderedDict()  # entry -> its first visitor
        self.refused = 0

    def admit(self, entry: Hashable, visitor: bytes | None) -> bool:
        """True when `entry` may come in; `visitor` None (not known: the caller's own
        feeding, a test) is always admitted."""
        if visitor is None:
            return True
        first = self._pending.get(entry)
        if first is not None and first != visitor:
            del self._pending[entry]
            return True
        self._pending[entry] = visitor
        self._pending.move_to_end(entry)
        if len(self._pending) > self.max_pending:
            self._pending.popitem(last=False)
        self.refused += 1
        return False

    def __len__(self) -> int:
        return len(self._pending)


@dataclass(frozen=True)
class MinVisitors:
    prerender: int = 1
    prefetch: int = 1

    def __post_init__(self) -> None:
        for value in (self.prerender, self.prefetch):
            if not 1 <= value <= MAX_VISITORS_KEPT:
                raise ValueError(f"a minimum number of visitors must be from 1 to {MAX_VISITORS_KEPT}, got {value}")
        if self.prefetch > self.prerender:
            raise ValueError(f"prefetch ({self.prefetch}) must not need more visitors than prerender ({self.prerender})")


def parse_min_visitors(text: str) -> MinVisitors:
    """'prerender=3,prefetch=1' -> MinVisitors; a name left out is 1 (no bound). ValueError
    naming the problem: an unknown or repeated name, a value not a whole number from 1 to
    MAX_VISITORS_KEPT, or prefetch needing more visitors than prerender."""
    values: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in MIN_VISITOR_BANDS:
            raise ValueError(f"expected name=value with a name from {', '.join(MIN_VISITOR_BANDS)}, got {item.strip()!r}")
        if name in values:
            raise ValueError(f"{name} is given twice")
        if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_VISITORS_KEPT:
            raise ValueError(f"{name} must be a whole number from 1 to {MAX_VISITORS_KEPT}, got {value!r}")
        values[name] = int(value)
    return MinVisitors(**values)
