"""Stale-if-error (RFC 5861 4, Edgio's `caching.stale_if_error`, Cloudflare's `stale-if-error`):
for N seconds past its freshness, a stored entry may answer a request when the origin fails.

Pure: plain values in, plain values out. The window (a rule's `stale_if_error`, else the origin's
`stale-if-error=N` from the directives that govern the edge) is set when the response is stored
(cachepolicy.storage_decision); must-revalidate, proxy-revalidate and no-cache forbid it, as they
forbid stale-while-revalidate. "The origin fails" is a connection failure, a reset, no response
headers within `prefetch_origin_timeout`, or one of ORIGIN_ERROR_STATUSES (RFC 5861 4: 500, 502,
503, 504). The request directive `stale-if-error` is not honoured (the edge's own policy decides).
"""

from __future__ import annotations

ORIGIN_ERROR_STATUSES = frozenset({500, 502, 503, 504})
CACHING_STATUS = "stale-if-error"


def is_origin_error(status: int) -> bool:
    return status in ORIGIN_ERROR_STATUSES


def window(rule_seconds: int | None, origin_seconds: int | None, forbidding: list[str]) -> tuple[int, str]:
    """The stale-if-error seconds of a response and where they come from (for the audit detail)."""
    if forbidding:
        return 0, f"{forbidding[0]} forbids stale"
    if rule_seconds is not None:
        return rule_seconds, "rule"
    return origin_seconds or 0, "origin"


def within_window(age: int, ttl: int, sie: int) -> bool:
    """Stale (age past the TTL) and no staler than `sie` seconds: the origin's failure may be
    answered with it. Never beyond: then the client gets the failure."""
    return ttl <= age < ttl + sie
