"""Range requests answered from the edge cache (RFC 9110 14) by a real mitmdump, in RFC mode and
with the default rules: one range 206 with its Content-Range, several disjoint ones the full 200
(allowed: the edge does not build multipart/byteranges), an unsatisfiable one 416
`bytes */LEN`, If-Range (RFC 9110 13.1.5). None of them reaches the origin."""

from __future__ import annotations

import pytest

from tests.harness import Mitmdump, Origin, Reply

pytestmark = pytest.mark.e2e

SMALL = bytes(range(256)) * 4  # 1 KiB: the buffered path
LARGE = bytes(range(256)) * 400  # 100 KiB: stored from the stream
HEADERS = {"content-type": "application/octet-stream", "cache-control": "public, max-age=3600",
           "etag": '"v1"'}


@pytest.fixture(scope="module")
def origin():
    with Origin({"/small": Reply(200, HEADERS, SMALL), "/large": Reply(200, HEADERS, LARGE)}) as server:
        yield server


@pytest.fixture(scope="module", params=["none", "default"])
def proxy(request, origin, tmp_path_factory):
    options = {"prefetch_rules": "none"} if request.param == "none" else {}
    with Mitmdump(tmp_path_factory.mktemp("conf"), options) as mitm:
        for path in ("/small", "/large"):
            status, headers, _ = mitm.request("GET", f"{origin.base}{path}")
            assert (status, headers["x-edg-caching-status"]) == (200, "cached")
        yield mitm


def ranged(proxy, origin, path: str, value: str, **more: str):
    seen = len(origin.paths_seen())
    status, headers, body = proxy.request("GET", f"{origin.base}{path}", {"Range": value, **more})
    assert len(origin.paths_seen()) == seen and headers["x-edg-caching-status"] == "hit"
    return status, headers, body


@pytest.mark.parametrize("path, full", [("/small", SMALL), ("/large", LARGE)])
def test_a_single_range_is_a_206_from_the_cache(proxy, origin, path, full):
    for value, first, last in (("bytes=0-99", 0, 99), ("bytes=1000-", 1000, len(full) - 1),
                               ("bytes=-10", len(full) - 10, len(full) - 1)):
        status, headers, body = ranged(proxy, origin, path, value)
        assert status == 206 and body == full[first:last + 1]
        assert headers["content-range"] == f"bytes {first}-{last}/{len(full)}"
        assert headers["content-length"] == str(last - first + 1) and headers["etag"] == '"v1"'


def test_several_disjoint_ranges_get_the_full_200(proxy, origin):
    status, headers, body = ranged(proxy, origin, "/small", "bytes=0-9, 100-109")
    assert (status, body) == (200, SMALL) and "content-range" not in headers
    # Overlapping ones are one range.
    status, headers, body = ranged(proxy, origin, "/small", "bytes=0-9, 5-19")
    assert (status, body, headers["content-range"]) == (206, SMALL[:20], f"bytes 0-19/{len(SMALL)}")


def test_an_unsatisfiable_range_is_a_416_with_the_length(proxy, origin):
    status, headers, body = ranged(proxy, origin, "/large", f"bytes={len(LARGE)}-")
    assert (status, body, headers["content-range"]) == (416, b"", f"bytes */{len(LARGE)}")


def test_if_range_serves_the_part_only_of_the_same_representation(proxy, origin):
    status, _, body = ranged(proxy, origin, "/small", "bytes=0-9", **{"If-Range": '"v1"'})
    assert (status, body) == (206, SMALL[:10])
    status, _, body = ranged(proxy, origin, "/small", "bytes=0-9", **{"If-Range": '"v0"'})
    assert (status, body) == (200, SMALL)


def test_a_prefetch_gets_the_whole_response_or_the_gate_s_refusal(proxy, origin):
    prefetch = {"Sec-Purpose": "prefetch", "Range": "bytes=0-9"}
    seen = len(origin.paths_seen())
    status, headers, body = proxy.request("GET", f"{origin.base}/small", prefetch)
    assert (status, body) == (200, SMALL) and "content-range" not in headers
    status, _, _ = proxy.request("GET", f"{origin.base}/never-stored", prefetch)
    assert status in (412, 503) and len(origin.paths_seen()) == seen  # a prefetch miss never reaches the origin
