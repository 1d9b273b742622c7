"""Streaming through a real mitmdump: the client gets the origin's early flush at once, injected
and cached in the stream; a body cut short by the origin is never cached."""

from __future__ import annotations

from collections.abc import Callable

import gzip
import http.client
import json
import threading
import zlib

import brotli
import pytest

from tests.harness import Mitmdump, wait_until
from tests.streaming_origin import Flush, FlushingOrigin

INSTALL = b'<script src="/__edgio__/prefetch/install.js" defer></script>'
HEAD = (b"<!doctype html><html><head><meta charset=utf-8><title>stream</title></head>\n"
        b"<body><h1>Visible at once</h1>\n")
REST = b"".join(b"<div class=card><p>card %d</p></div>\n" % i for i in range(4000)) + b"</body></html>\n"
PAGE = HEAD + REST


def encoded_parts(encoding: str) -> list[bytes]:
    """HEAD and REST as the origin would send them: one compressed stream, flushed after HEAD."""
    if encoding == "identity":
        return [HEAD, REST]
    if encoding == "br":
        c = brotli.Compressor()
        return [c.process(HEAD) + c.flush(), c.process(REST) + c.finish()]
    c = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return [c.compress(HEAD) + c.flush(zlib.Z_SYNC_FLUSH), c.compress(REST) + c.flush()]


def client_decoder(encoding: str):
    if encoding == "identity":
        return lambda data: data
    if encoding == "br":
        return brotli.Decompressor().process
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress


@pytest.fixture(scope="module")
def origin():
    with FlushingOrigin() as origin:
        yield origin


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streaming")
    audit = tmp / "audit.jsonl"
    with Mitmdump(tmp / "conf", {"prefetch_audit_file": str(audit)}) as proxy:
        proxy.audit_path = audit
        yield proxy


def get(proxy: Mitmdump, url: str, accept_encoding: str, held: threading.Event | None = None,
        sent: Callable[[], int] = lambda: 0):
    """GET through the proxy; returns (response, first decoded bytes, how many parts the origin had
    sent when they arrived (`sent`), whole decoded body). `held`, the origin's wait before the rest,
    is set once the first bytes are in: a proxy that buffered the page would deliver nothing first."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
    conn.request("GET", url, headers={"accept-encoding": accept_encoding})
    resp = conn.getresponse()
    decode = client_decoder(resp.getheader("content-encoding") or "identity")
    first, sent_then, body = b"", None, b""
    while chunk := resp.read1(65536):
        decoded = decode(chunk)
        body += decoded
        if sent_then is None and b"<h1>" in body:
            first, sent_then = body, sent()
            if held is not None:
                held.set()
    conn.close()
    return resp, first, sent_then, body


def audit(proxy: Mitmdump) -> list[dict]:
    return [json.loads(line) for line in proxy.audit_path.read_text().splitlines()]


@pytest.mark.parametrize("encoding", ["identity", "gzip", "br"])
def test_early_flush_reaches_the_client_before_the_rest_and_is_cached(origin, proxy, encoding):
    path = f"/early-{encoding}"
    headers = {"content-type": "text/html; charset=utf-8", "cache-control": "max-age=60"}
    if encoding != "identity":
        headers["content-encoding"] = encoding
    head, rest = encoded_parts(encoding)
    # Chunked, as an origin that flushes early must be: it cannot know the length yet.
    held = threading.Event()
    origin.routes[path] = Flush([(0, head), (held, rest)], headers, chunked=True)
    url = origin.base + path

    resp, first, sent_then, body = get(proxy, url, "gzip, br", held, lambda: len(origin.sent_at[path]))
    assert sent_then == 1, "the first part reached the client only after the origin sent the rest"
    assert b"<h1>Visible at once</h1>" in first
    assert body.count(INSTALL) == 1
    assert body.replace(INSTALL, b"", 1) == PAGE  # byte-exact apart from the tag
    assert body.index(INSTALL) == PAGE.rindex(b"</body>")  # default placement: end of body
    assert resp.getheader("content-length") is None

    resp2, _, _, body2 = get(proxy, url, "gzip, br")
    assert resp2.getheader("x-edg-caching-status") == "hit"
    assert body2 == body
    assert origin.hits[path] == 1
    records = [r for r in audit(proxy) if r.get("url") == url]
    assert [r["event"] for r in records] == ["injected", "cache-store", "cache-hit"]


def test_head_placement_in_the_stream(tmp_path, origin):
    path = "/early-head"
    held = threading.Event()
    origin.routes[path] = Flush([(0, HEAD + b"x" * 5000), (held, REST)], {"content-type": "text/html"}, chunked=True)
    with Mitmdump(tmp_path / "conf", {"prefetch_inject_at": "head"}) as proxy:
        _, first, sent_then, body = get(proxy, origin.base + path, "identity", held, lambda: len(origin.sent_at[path]))
    assert sent_then == 1 and INSTALL + b"</head>" in first
    assert body.replace(INSTALL, b"", 1) == HEAD + b"x" * 5000 + REST


@pytest.mark.parametrize("chunked", [False, True])
def test_an_origin_that_dies_mid_body_leaves_nothing_in_the_cache(origin, proxy, chunked):
    path = f"/dies-{chunked}"
    origin.routes[path] = Flush([(0, HEAD), (0.2, REST[:5000]), (0.2, REST[5000:])],
                                {"content-type": "text/html", "cache-control": "max-age=60"},
                                chunked=chunked, die_after=2)
    url = origin.base + path
    events = lambda: [r["event"] for r in audit(proxy) if r.get("url") == url]  # noqa: E731
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        get(proxy, url, "identity")
    # The edge is done with the broken response once it has recorded its error.
    assert wait_until(lambda: "origin-error" in events(), timeout=20), events()
    with pytest.raises((http.client.IncompleteRead, ConnectionError)):
        get(proxy, url, "identity")
    assert origin.hits[path] == 2  # not served from the cache
    assert wait_until(lambda: events().count("origin-error") == 2, timeout=20), events()
    assert "cache-store" not in events()


def test_a_large_asset_streams_through_uncached_past_the_object_limit(tmp_path, origin):
    path = "/big.bin"
    part = b"\x00" * (1 << 20)
    held = threading.Event()  # the last MiB leaves the origin only once the client has the first
    origin.routes[path] = Flush([(0, part)] + [(0, part)] * 2 + [(held, part)],
                                {"content-type": "application/octet-stream", "cache-control": "max-age=60"},
                                chunked=True)
    audit_path = tmp_path / "audit.jsonl"
    # 8 MiB budget: objects over 1 MiB are not cached.
    with Mitmdump(tmp_path / "conf", {"prefetch_cache_mb": "8", "prefetch_audit_file": str(audit_path)}) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=60)
        conn.request("GET", origin.base + path)
        resp = conn.getresponse()
        got = resp.read1(1 << 20)
        assert got and len(origin.sent_at[path]) < 4  # streamed: the last part is still held at the origin
        held.set()
        got += resp.read()
        conn.close()
        assert got == part * 4
        assert resp.getheader("x-edg-caching-status") == "cached"  # decided on headers
        records = lambda: [json.loads(line) for line in audit_path.read_text().splitlines() if path in line]  # noqa: E731
        # Recorded when the body outgrows the limit (or at its end): wait for the record, then
        # stop the proxy, which would write any later one before it exits.
        assert wait_until(records, timeout=20)
    assert [(r["event"], r["caching_status"]) for r in records()] == [("cache-bypass", "body-too-big")]
