"""The edge cache: cache keys, Vary variants and a byte-budget LRU store. Pure (no mitmproxy).

Every lookup is O(1) amortised in the number of stored entries (an OrderedDict keyed by
(cache key, variant) plus a per-key variant index), so a hit costs the same with 10 or 100,000
entries; a store also pushes onto the eviction heap, O(log n).
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import unquote

from prefetch_lab.http.cachepolicy import FreshnessState, Headers, freshness, header_values, split_list, stored_validators
from prefetch_lab.http.stale_window import within_window

DEFAULT_PORTS = {"http": 80, "https": 443}
# Python-object cost beyond the payload characters (entry, tuples, str headers, dict slots),
# measured with tracemalloc, so the byte budget tracks real memory even for small objects.
ENTRY_OVERHEAD = 1024
HEADER_OVERHEAD = 160  # per header pair: a 2-tuple and two str objects
REVALIDATION_TIMEOUT = 30.0

VaryValues = tuple[tuple[str, str | None], ...]
VARY_STAR: VaryValues = (("*", None),)
# A Vary-like name for "the visitor's cookies minus analytics ones". Not a valid header name (the
# ';'), so it never collides with an origin's `Vary: Cookie`, which varies on the raw header.
COOKIE_VARIANT = "cookie;significant"
# Cookies set by analytics and ad tags on nearly every visitor; a page never depends on them, so
# they are left out of the cookie variant (else every visitor would have an entry of their own
# and prefetches would never hit). Names, or prefixes ending in '*'.
ANALYTICS_COOKIES = (
    "_ga", "_ga_*", "_gid", "_gat*", "_gcl_*", "__utm*", "_dc_gtm_*",  # Google Analytics / Ads
    "_fbp", "_fbc",  # Meta pixel
    "_hj*",  # Hotjar
    "_clck", "_clsk",  # Microsoft Clarity
    "_uetsid", "_uetvid",  # Microsoft Ads
    "ajs_*",  # Segment
    "mp_*",  # Mixpanel
    "_pk_*",  # Matomo
    "__hs*", "hubspotutk",  # HubSpot
    "_tt_*", "_ttp",  # TikTok
    "_pin_unauth",  # Pinterest
    "_rdt_uuid",  # Reddit
    "_scid*",  # Snap
    "_ym_*",  # Yandex Metrica
)
_ANALYTICS_EXACT = frozenset(n for n in ANALYTICS_COOKIES if not n.endswith("*"))
_ANALYTICS_PREFIXES = tuple(n[:-1] for n in ANALYTICS_COOKIES if n.endswith("*"))
_WHITESPACE = re.compile(r"\s+")
_SPACE_AROUND_COMMA = re.compile(r"\s*,\s*")


def strip_edgio_params(query: str) -> str:
    """Drop every pair whose percent-decoded name starts with `edgio_` (case-sensitive, as
    Edgio's `startsWith('edgio_')`). Other pairs stay byte-for-byte in order; an untouched
    query is returned unchanged (empty segments too), a touched one loses empty segments so
    it never ends in `&`."""
    if "edgio" not in unquote(query):
        return query
    parts = query.split("&")
    kept = [part for part in parts if not unquote(part.partition("=")[0]).startswith("edgio_")]
    if len(kept) == len(parts):
        return query
    return "&".join(part for part in kept if part)


def _bracketed(host: str) -> str:
    host = host.lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host  # IPv6 literal


def _split_authority(authority: str, default_port: int) -> tuple[str, int | None]:
    authority = authority.strip().lower()
    host, sep, port = authority.rpartition(":")
    if not sep or "]" in port or not host:  # no port (or a bare IPv6 literal)
        return _bracketed(authority), default_port
    return _bracketed(host), int(port) if port.isdigit() else None


def cache_key(
    method: str, scheme: str, host: str, port: int | None, path: str, query: str, host_header: str | None = None
) -> str:
    """Readable key, e.g. `GET https://example.com:443/pages/1?a=1`; HEAD is looked up as GET.

    `host`/`port` are where the request goes. A Host header naming another authority (an
    absolute-form request to a.example with `Host: b.example`: a virtual-hosting origin answers
    for b.example) is part of the key, so it never shares an entry with either host's own.
    """
    method = method.upper()
    if method == "HEAD":
        method = "GET"
    scheme = scheme.lower()
    host = _bracketed(host)
    if port is None:
        port = DEFAULT_PORTS.get(scheme, 0)
    query = strip_edgio_params(query)
    key = f"{method} {scheme}://{host}:{port}{path or '/'}{'?' + query if query else ''}"
    if host_header is not None and _split_authority(host_header, DEFAULT_PORTS.get(scheme, 0)) != (host, port):
        key += f" (Host: {host_header.strip().lower()})"
    return key


def _is_analytics_cookie(name: str) -> bool:
    return name in _ANALYTICS_EXACT or name.startswith(_ANALYTICS_PREFIXES)


def significant_cookies(request_headers: Headers) -> str | None:
    """The request's cookies minus analytics ones, sorted (`a=1; b=2`); None when none are left."""
    pairs = set()
    for line in header_values(request_headers, "cookie"):
        for item in line.split(";"):
            name, sep, value = item.strip().partition("=")
            if (name or sep) and not _is_analytics_cookie(name.strip()):
                pairs.add(f"{name.strip()}={value.strip()}" if sep else name.strip())
    return "; ".join(sorted(pairs)) or None


def cookie_names(request_headers: Headers) -> list[str]:
    """Names of the significant cookies (for the audit: never their values)."""
    text = significant_cookies(request_headers)
    return [item.partition("=")[0] for item in text.split("; ")] if text else []


def _normalise_field_value(values: list[str]) -> str:
    """RFC 9111 4.1: combine lines and normalise whitespace, which never changes semantics."""
    joined = ", ".join(_WHITESPACE.sub(" ", value.strip()) for value in values)
    return _SPACE_AROUND_COMMA.sub(", ", joined)


def request_vary_values(vary_names: tuple[str, ...], request_headers: Headers) -> VaryValues:
    """The request's values of the named headers; None marks an absent header (≠ empty)."""
    values = []
    for name in vary_names:
        if name == COOKIE_VARIANT:
            values.append((name, significant_cookies(request_headers)))
            continue
        found = header_values(request_headers, name)
        values.append((name, _normalise_field_value(found) if found else None))
    return tuple(values)


def vary_names(response_headers: Headers) -> tuple[str, ...] | None:
    """Lower-cased, de-duplicated, sorted Vary names; None for `Vary: *`."""
    names = {
        token.lower() for value in header_values(response_headers, "vary") for token in split_list(value)
    }
    if "*" in names:
        return None
    return tuple(sorted(names))


def vary_for(response_headers: Headers, request_headers: Headers, by_cookies: bool = False) -> VaryValues:
    """What an entry records for variant selection (VARY_STAR for `Vary: *`); `by_cookies` adds
    the significant cookies, so the entry serves only requests with the same ones (or none)."""
    names = vary_names(response_headers)
    if names is None:
        return VARY_STAR
    if by_cookies:
        names = tuple(sorted({*names, COOKIE_VARIANT}))
    return request_vary_values(names, request_headers)


@dataclass
class CacheEntry:
    key: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes  # as the origin encoded it
    stored_at: float
    initial_age: int
    ttl: int
    swr: int
    vary: VaryValues = ()
    rules: tuple[str, ...] = ()
    sie: int = 0  # stale-if-error seconds past the TTL
    size: int = field(init=False)

    def __post_init__(self) -> None:
        header_bytes = sum(len(n) + len(v) + HEADER_OVERHEAD for n, v in self.headers)
        vary_bytes = sum(len(n) + len(v or "") for n, v in self.vary)
        self.size = len(self.body) + header_bytes + vary_bytes + len(self.key) + ENTRY_OVERHEAD

    def age(self, now: float) -> int:
        return freshness(self.stored_at, self.initial_age, self.ttl, self.swr, now)[0]

    def state(self, now: float) -> FreshnessState:
        return freshness(self.stored_at, self.initial_age, self.ttl, self.swr, now)[1]

    def within_stale_if_error(self, now: float) -> bool:
        """Stale, inside its stale-if-error window: it may answer an origin failure."""
        return within_window(self.age(now), self.ttl, self.sie)

    @property
    def unusable_at(self) -> float:
        """When it is past every window it may be served in (TTL, stale-while-revalidate,
        stale-if-error): from then on it can only be revalidated."""
        return self.stored_at + self.ttl + max(self.swr, self.sie) - self.initial_age

    @property
    def vary_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.vary)

    @property
    def validators(self) -> list[tuple[str, str]]:
        """If-None-Match / If-Modified-Since that revalidate it (RFC 9111 4.3.1); [] if none."""
        return stored_validators(self.headers)


class CacheStore:
    """Byte-budget LRU over (key, variant) entries.

    `get` does the bookkeeping: a fresh entry counts as a hit, one served stale within SWR as
    stale_served, an absent or expired one as a miss. An expired entry with a validator (ETag,
    Last-Modified) is kept for revalidation (RFC 9111 4.3), one inside its stale-if-error window
    for an origin failure; any other is dropped there. Eviction takes entries past every window
    they may be served in (revalidation-only, or unusable) before the least recently used
    servable ones: `_unusable` is a heap of (unusable_at, seq, slot), stale items skipped lazily.
    `clear()` empties the store but keeps the counters, which are the run's history.
    """

    def __init__(self, budget_bytes: int):
        if budget_bytes <= 0:
            raise ValueError(f"cache budget must be positive, got {budget_bytes}")
        self._budget = budget_bytes
        self._entries: OrderedDict[tuple[str, VaryValues], CacheEntry] = OrderedDict()
        self._variants: dict[str, dict[VaryValues, None]] = {}  # key -> its variants (ordered set)
        self._revalidating: dict[str, float] = {}
        self._unusable: list[tuple[float, int, tuple[str, VaryValues]]] = []
        self._seq = itertools.count()
        self._bytes = 0
        self._counters = dict.fromkeys(
            ("hits", "misses", "stale_served", "expired", "stores", "refused", "evictions"), 0
        )

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @property
    def max_object_size(self) -> int:
        return self._budget // 8

    def resize(self, budget_bytes: int) -> None:
        if budget_bytes <= 0:
            raise ValueError(f"cache budget must be positive, got {budget_bytes}")
        self._budget = budget_bytes
        self._evict_to_budget(None)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, key: str, request_headers: Headers) -> CacheEntry | None:
        """The variant matching the request's Vary values, whatever its age (no bookkeeping).

        All variants of a key share one Vary name set (put() drops the others), so at most one
        can match.
        """
        for variant in self._variants.get(key, ()):
            entry = self._entries[(key, variant)]
            if variant == request_vary_values(entry.vary_names, request_headers):
                return entry
        return None

    def get(self, key: str, request_headers: Headers, now: float, allow_expired: bool = False) -> CacheEntry | None:
        """The servable variant matching the request's Vary values. With `allow_expired`, an
        expired one that can be revalidated is returned too (counted as a miss: it goes to the
        origin); without, it stays stored and None is returned."""
        chosen = self.find(key, request_headers)
        if chosen is None:
            self._counters["misses"] += 1
            return None
        state = chosen.state(now)
        if state == "expired":
            self._counters["expired"] += 1
            self._counters["misses"] += 1
            if not chosen.validators and not chosen.within_stale_if_error(now):
                self._remove((key, chosen.vary))
                return None
            self._entries.move_to_end((key, chosen.vary))
            return chosen if allow_expired else None
        self._entries.move_to_end((key, chosen.vary))
        self._counters["hits" if state == "fresh" else "stale_served"] += 1
        return chosen

    def put(self, entry: CacheEntry) -> bool:
        """Store (replacing the same variant); False if refused (too big, or `Vary: *`)."""
        if entry.vary == VARY_STAR or entry.size > self.max_object_size:
            self._counters["refused"] += 1
            return False
        # Variants recorded under a different Vary name set follow a policy the origin dropped.
        for variant in list(self._variants.get(entry.key, ())):
            if variant == entry.vary or tuple(n for n, _ in variant) != entry.vary_names:
                self._remove((entry.key, variant))
        slot = (entry.key, entry.vary)
        self._entries[slot] = entry
        self._variants.setdefault(entry.key, {})[entry.vary] = None
        self._bytes += entry.size
        self._counters["stores"] += 1
        if len(self._unusable) > 2 * len(self._entries) + 64:  # mostly replaced entries: rebuild
            self._unusable = [(e.unusable_at, next(self._seq), s) for s, e in self._entries.items() if s != slot]
            heapq.heapify(self._unusable)
        heapq.heappush(self._unusable, (entry.unusable_at, next(self._seq), slot))
        self._evict_to_budget(entry.stored_at)  # it was stored just now
        return True

    def remove(self, entry: CacheEntry) -> bool:
        """Remove this entry if it is still the one stored for its variant."""
        if self._entries.get((entry.key, entry.vary)) is not entry:
            return False
        self._remove((entry.key, entry.vary))
        return True

    def delete(self, key: str) -> int:
        """Remove every variant of a key; returns how many were removed."""
        variants = list(self._variants.get(key, ()))
        for variant in variants:
            self._remove((key, variant))
        return len(variants)

    def clear(self) -> None:
        self._entries.clear()
        self._variants.clear()
        self._revalidating.clear()
        self._unusable.clear()
        self._bytes = 0

    def stats(self) -> dict[str, int]:
        return {"entries": len(self._entries), "bytes": self._bytes, "budget": self._budget, **self._counters}

    def begin_revalidation(self, key: str, now: float) -> bool:
        """True if the caller should revalidate `key` now (none running, or the last one hung)."""
        started = self._revalidating.get(key)
        if started is not None and now - started < REVALIDATION_TIMEOUT:
            return False
        self._revalidating[key] = now
        return True

    def end_revalidation(self, key: str) -> None:
        self._revalidating.pop(key, None)

    def _remove(self, slot: tuple[str, VaryValues]) -> None:
        entry = self._entries.pop(slot)
        self._bytes -= entry.size
        key, variant = slot
        variants = self._variants[key]
        del variants[variant]
        if not variants:
            del self._variants[key]

    def _evict_to_budget(self, now: float | None) -> None:
        while self._bytes > self._budget and self._entries:
            slot = self._unusable_slot(now) if now is not None else None
            self._remove(slot or next(iter(self._entries)))
            self._counters["evictions"] += 1

    def _unusable_slot(self, now: float) -> tuple[str, VaryValues] | None:
        """The stored entry that went past its last window first, if one has by `now`."""
        heap = self._unusable
        while heap and heap[0][0] <= now:
            unusable_at, _, slot = heapq.heappop(heap)
            entry = self._entries.get(slot)
            if entry is not None and entry.unusable_at == unusable_at:  # else removed or replaced
                return slot
        return None
