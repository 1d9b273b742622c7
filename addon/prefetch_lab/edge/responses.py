"""Responses the edge makes itself (mitmproxy objects), and what it keeps of an origin response."""

from __future__ import annotations

from collections.abc import Iterable

from mitmproxy import http

from prefetch_lab.http import cachepolicy
from prefetch_lab.http.ranges import RangeAnswer
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.http.cachestore import CacheEntry

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    "proxy-authenticate", "proxy-authorization",
})
REFUSED_HEADER = "x-prefetch-lab-refused"


def make_headers(pairs: Iterable[tuple[str, str]]) -> http.Headers:
    # surrogateescape: mitmproxy decodes non-UTF-8 header bytes that way; give them back as sent.
    return http.Headers([(n.encode("utf-8", "surrogateescape"), v.encode("utf-8", "surrogateescape")) for n, v in pairs])


def storable_headers(headers: Iterable[tuple[str, str]], body_length: int) -> tuple[tuple[str, str], ...]:
    """The origin's header pairs minus hop-by-hop ones (also those its Connection header names)."""
    headers = list(headers)
    connection_named = {
        token.strip().lower() for name, value in headers if name.lower() == "connection" for token in value.split(",")
    }
    skip = HOP_BY_HOP | connection_named | {"content-length"}
    kept = tuple((name, value) for name, value in headers if name.lower() not in skip)
    return kept + (("content-length", str(body_length)),)


def from_entry(entry: CacheEntry, now: float) -> http.Response:
    """The stored response as the origin encoded it, with its current Age."""
    headers = make_headers(entry.headers)
    header_reads.set(headers, b"age", str(entry.age(now)))
    return http.Response(
        http_version=b"HTTP/1.1", status_code=entry.status, reason=b"", headers=headers,
        content=entry.body, trailers=None, timestamp_start=now, timestamp_end=now,
    )


def not_modified(stored_headers: Iterable[tuple[str, str]], age: int | None = None) -> http.Response:
    """A 304 with the fields RFC 9110 15.4.5 says it carries (and no body, no Content-Length)."""
    response = http.Response.make(304, b"", make_headers(cachepolicy.not_modified_headers(list(stored_headers))))
    response.headers.pop("content-length", None)
    if age is not None:
        response.headers["age"] = str(age)
    return response


def partial(full: http.Response, answer: RangeAnswer, body: bytes) -> http.Response:
    """The 206 of one range of `full` (its fields kept), or the 416 for a range beyond its body."""
    if answer.status == 416:
        response = http.Response.make(416, b"", {"content-range": answer.content_range(len(body))})
        response.headers["age"] = full.headers.get("age", "0")
        return response
    full.status_code, full.reason = 206, "Partial Content"
    full.headers["content-range"] = answer.content_range(len(body))
    full.raw_content = body[answer.start:answer.end + 1]  # raw: the slice is not re-encoded
    full.headers["content-length"] = str(answer.end - answer.start + 1)
    return full


def without_body(response: http.Response) -> None:
    """For HEAD: keep the length the GET body would have, send no body (mitmproxy would)."""
    length = len(response.raw_content or b"")
    response.raw_content = b""
    response.headers["content-length"] = str(length)


def refusal(status: int, reason: str) -> http.Response:
    """An empty refusal, as Speed Brain's: Vary on Sec-Purpose, no Retry-After (which would make
    Chromium stop prefetching from the site), not to be stored by the browser."""
    return http.Response.make(status, b"", {
        "vary": "Sec-Purpose",
        "cache-control": "private, no-store",
        REFUSED_HEADER: f"prefetch refused: {reason}",
    })
