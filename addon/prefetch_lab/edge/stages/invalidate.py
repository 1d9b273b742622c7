"""Invalidation on unsafe methods (RFC 9111 4.4): a non-error response to a POST, PUT, DELETE or
any method not known to be safe drops the stored responses for its URL and for the same-origin
URLs in its `Location` and `Content-Location` (another origin's entries are left alone: a response
must not be able to purge a site it is not). After the store in the route.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from mitmproxy import http

from prefetch_lab.edge.context import EdgeContext
from prefetch_lab.http.cachestore import DEFAULT_PORTS, cache_key

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def invalidated_keys(method: str, url: str, status: int, location: str | None, content_location: str | None,
                     host_header: str | None = None) -> list[str]:
    """The GET cache keys a response to `method url` invalidates (pure)."""
    if method.upper() in SAFE_METHODS or not 200 <= status < 400:
        return []
    def origin(parts):
        return parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)

    base = urlsplit(url)
    keys = []
    for target in (url, location, content_location):
        if not target:
            continue
        try:
            parts = urlsplit(urljoin(url, target.strip()))
            if origin(parts) != origin(base):
                continue
        except ValueError:  # an unparseable URL (bad port): not this origin's
            continue
        key = cache_key("GET", parts.scheme, parts.hostname or "", parts.port, parts.path, parts.query, host_header)
        if key not in keys:
            keys.append(key)
    return keys


class Invalidation:
    name = "prefetch.invalidate"

    def __init__(self, edge: EdgeContext) -> None:
        self.edge = edge

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.is_replay == "response" or flow.response is None:
            return  # answered by the edge, not the origin
        req, resp = flow.request, flow.response
        if req.method.upper() in SAFE_METHODS:
            return  # nearly every request: skip building its URL and reading headers for nothing
        keys = invalidated_keys(req.method, req.url, resp.status_code, resp.headers.get("location"),
                                resp.headers.get("content-location"), req.host_header)
        dropped = sum(self.edge.store.delete(key) for key in keys)
        if dropped:
            self.edge.record("cache-bypass", flow, status=resp.status_code, caching_status="method",
                            reason=f"{req.method} invalidated {dropped} stored response(s)")
