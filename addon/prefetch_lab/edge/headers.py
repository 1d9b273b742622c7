"""Header and URL reads for the per-request path, equal to mitmproxy's but a few times cheaper.

mitmproxy's `Headers.get`, `in` and `items(multi=True)` convert the name and every field on each
call (about 2.5 µs a lookup; the edge reads a dozen per request). These read `Headers.fields`,
the (name, value) byte pairs mitmproxy keeps, once: same names (ASCII case-insensitive), same
folding of repeated fields (", "), same decoding (UTF-8 with surrogateescape).

`query_param_names` is a plain helper for the classification and the gate.

`pretty_url` is `Request.pretty_url` (about 12 µs: it parses and validates the Host header on
every call) with the parsed Host header remembered, since a site sends the same few.
"""

from __future__ import annotations

import functools
from urllib.parse import unquote

from mitmproxy import http
from mitmproxy.net.http import url


def _native(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")  # as mitmproxy.http._native


def get(headers: http.Headers, name: bytes) -> str | None:
    """`headers.get(name)` for a lower-case byte name."""
    values = [value for key, value in headers.fields if key.lower() == name]
    if not values:
        return None
    return _native(values[0]) if len(values) == 1 else ", ".join(map(_native, values))


def has(headers: http.Headers, name: bytes) -> bool:
    """`name in headers` for a lower-case byte name."""
    return any(key.lower() == name for key, _ in headers.fields)


def set(headers: http.Headers, name: bytes, value: str) -> None:
    """`headers[name] = value` for a lower-case byte name: the first field of that name keeps its
    place (and its spelling) with the new value, the others go; absent, it is added at the end."""
    encoded = value.encode("utf-8", "surrogateescape")
    fields, pending = [], True
    for field in headers.fields:
        if field[0].lower() != name:
            fields.append(field)
        elif pending:
            fields.append((field[0], encoded))
            pending = False
    if pending:
        fields.append((name, encoded))
    headers.fields = tuple(fields)


def host_header(request: http.Request) -> str | None:
    """`request.host_header`."""
    if request.is_http2 or request.is_http3:
        return request.host_header
    return get(request.headers, b"host")


def pairs(headers: http.Headers) -> list[tuple[str, str]]:
    """`list(headers.items(multi=True))`: one (name, value) per field line, names as sent."""
    return [(_native(key), _native(value)) for key, value in headers.fields]


def pretty_url(request: http.Request) -> str:
    """`request.pretty_url`, built the same way from the same parts."""
    authority = host_header(request)
    if request.first_line_format == "authority" or not authority:
        return request.pretty_url
    host, port = _pretty_authority(request.scheme, authority)
    return url.unparse(request.scheme, host, port, request.path)


@functools.lru_cache(maxsize=1024)
def _pretty_authority(scheme: str, host_header: str) -> tuple[str, int]:
    host, port = url.parse_authority(host_header, check=False)
    return host, port or url.default_port(scheme) or 443


def query_param_names(query: str) -> set[str]:
    """The (decoded) names of a query's parameters."""
    return {unquote(pair.partition("=")[0]) for pair in query.split("&") if pair}
