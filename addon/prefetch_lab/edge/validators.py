"""Conditional requests at the edge: whose validators go to the origin.

On a miss the client's own `If-None-Match` / `If-Modified-Since` are held back (forwarded, they
would let the origin answer 304 and the edge would never fill) and answered by the edge from what
it stores; a revalidation sends the stored entry's validators instead (RFC 9111 4.3.1).
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.edge.context import FlowState
from prefetch_lab.edge.origin_fetches import CLIENT_VALIDATORS
from prefetch_lab.http.cachestore import CacheEntry


def hold_client_validators(flow: http.HTTPFlow, state: FlowState) -> None:
    """Take the client's validators off a request the edge forwards as a miss."""
    headers = flow.request.headers
    for name in CLIENT_VALIDATORS:
        if header_reads.has(headers, name.encode()):
            state.client_validators[name] = headers.pop(name)


def headers_without_validators(flow: http.HTTPFlow) -> list[tuple[str, str]]:
    """The request's header pairs less the client's validators (what the cache decides on)."""
    return [(n, v) for n, v in flow.request.headers.items(multi=True) if n.lower() not in CLIENT_VALIDATORS]


def use_client_validators(flow: http.HTTPFlow, state: FlowState) -> None:
    """Put back the client's own validators in place of the edge's (to answer them here)."""
    for name in CLIENT_VALIDATORS:
        flow.request.headers.pop(name, None)
    for name, value in state.client_validators.items():
        flow.request.headers[name] = value
    state.client_validators.clear()


def send_stored_validators(flow: http.HTTPFlow, state: FlowState, entry: CacheEntry) -> None:
    """Make the request a revalidation of `entry`: its validators instead of the client's."""
    headers = flow.request.headers
    for name in CLIENT_VALIDATORS:
        if name in headers:
            value = headers.pop(name)
            if not state.background:
                state.client_validators[name] = value
    for name, value in entry.validators:
        headers[name] = value
    state.revalidating = entry
