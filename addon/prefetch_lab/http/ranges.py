"""Byte ranges served from a stored full response (RFC 9110 14).

Pure: header pairs in, plain values out. One satisfiable range (after coalescing) is answered
206 with its Content-Range; several disjoint ones get the full 200, which RFC 9110 14.2 allows
(a server may ignore Range) and spares the edge multipart/byteranges; none satisfiable: 416 with
`Content-Range: bytes */LEN`. A Range the edge cannot read (another unit, bad syntax) is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from prefetch_lab.http.cachepolicy import header_values, parse_http_date

Headers = Sequence[tuple[str, str]]
_SPEC = re.compile(r"^(\d*)-(\d*)$")


@dataclass(frozen=True)
class RangeAnswer:
    status: int  # 206 or 416
    start: int = 0
    end: int = -1  # inclusive

    def content_range(self, length: int) -> str:
        return f"bytes {self.start}-{self.end}/{length}" if self.status == 206 else f"bytes */{length}"


def answer(method: str, request_headers: Headers, stored_headers: Headers, length: int) -> RangeAnswer | None:
    """How to answer a request for a stored 200 of `length` bytes (None: the full 200)."""
    values = header_values(request_headers, "range")
    if method.upper() != "GET" or len(values) != 1 or not if_range_holds(request_headers, stored_headers):
        return None
    ranges = parse(values[0], length)
    if ranges is None:
        return None
    if not ranges:
        return RangeAnswer(416)
    merged = coalesce(ranges)
    return RangeAnswer(206, *merged[0]) if len(merged) == 1 else None


def parse(value: str, length: int) -> list[tuple[int, int]] | None:
    """The satisfiable ranges as (first, last) byte offsets; None when the header is unreadable."""
    unit, _, specs = value.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges = []
    for spec in specs.split(","):
        if not spec.strip():
            continue  # RFC 9110 5.6.1: empty list elements are ignored
        match = _SPEC.match(spec.strip())
        if match is None or match.group(1) == match.group(2) == "":
            return None
        first, last = match.group(1), match.group(2)
        if first == "":  # suffix: the last N bytes
            if int(last) > 0 and length > 0:
                ranges.append((max(0, length - int(last)), length - 1))
        elif last != "" and int(last) < int(first):
            return None  # RFC 9110 14.1.1: invalid, so the whole field is ignored
        elif int(first) < length:
            ranges.append((int(first), min(int(last), length - 1) if last else length - 1))
    return ranges


def coalesce(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or adjacent ranges joined, in order."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(ranges):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def if_range_holds(request_headers: Headers, stored_headers: Headers) -> bool:
    """RFC 9110 13.1.5: the range applies only to the representation the client holds part of,
    matched strongly (an entity-tag: the same strong ETag; a date: a strong Last-Modified equal to it)."""
    values = header_values(request_headers, "if-range")
    if not values:
        return True
    condition = values[0].strip()
    if condition.startswith(('"', "W/")):
        etags = [v.strip() for v in header_values(stored_headers, "etag")]
        return not condition.startswith("W/") and etags == [condition]
    modified = parse_http_date(next(iter(header_values(stored_headers, "last-modified")), None))
    date = parse_http_date(next(iter(header_values(stored_headers, "date")), None))
    strong = modified is not None and date is not None and date - modified >= 1  # RFC 9110 8.8.2.2
    return strong and parse_http_date(condition) == modified
