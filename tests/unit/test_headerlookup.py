"""headerlookup gives what mitmproxy's own Headers methods give, on awkward headers too."""

import random

import pytest
from mitmproxy import http

from prefetch_lab.edge import headers as headerlookup

NAMES = [b"Host", b"host", b"HOST", b"Referer", b"Vary", b"vary", b"Set-Cookie", b"X-\xc3\xa9t\xc3\xa9", b"Sec-Purpose"]
VALUES = [b"", b"a", b"prefetch;prerender", b" spaced ", b"caf\xc3\xa9", b"\xff\xfe broken utf-8", b"a, b"]


def random_headers(rng: random.Random) -> http.Headers:
    return http.Headers([(rng.choice(NAMES), rng.choice(VALUES)) for _ in range(rng.randrange(0, 7))])


@pytest.mark.parametrize("seed", range(300))
def test_same_as_mitmproxy(seed):
    rng = random.Random(seed)
    headers = random_headers(rng)
    assert headerlookup.pairs(headers) == list(headers.items(multi=True))
    for name in {n.lower() for n in NAMES} | {b"absent"}:
        text = name.decode("utf-8", "surrogateescape")
        assert headerlookup.get(headers, name) == headers.get(text)
        assert headerlookup.has(headers, name) == (text in headers)


@pytest.mark.parametrize("seed", range(300))
def test_set_same_as_mitmproxy(seed):
    rng = random.Random(seed)
    headers = random_headers(rng)
    for name in {n.lower() for n in NAMES} | {b"absent"}:
        ours, theirs = headers.copy(), headers.copy()
        value = rng.choice(VALUES).decode("utf-8", "surrogateescape")
        headerlookup.set(ours, name, value)
        theirs[name.decode("utf-8", "surrogateescape")] = value
        assert ours.fields == theirs.fields


@pytest.mark.parametrize("http_version", [b"HTTP/1.1", b"HTTP/2.0", b"HTTP/3"])
@pytest.mark.parametrize("authority", [b"", b"example.com:8080"])
@pytest.mark.parametrize("host", [None, "example.com", "other.test:81"])
def test_host_header_same_as_mitmproxy(http_version, authority, host):
    headers = http.Headers() if host is None else http.Headers(host=host)
    request = http.Request("10.0.0.1", 8080, b"GET", b"http", authority, b"/", http_version, headers, b"", None, 0, 0)
    assert headerlookup.host_header(request) == request.host_header


def test_repeated_fields_fold_as_mitmproxy_does():
    headers = http.Headers([(b"Vary", b"Accept"), (b"X", b"1"), (b"vary", b"Cookie")])
    assert headerlookup.get(headers, b"vary") == "Accept, Cookie" == headers.get("vary")


@pytest.mark.parametrize("host_header", [
    "example.com", "example.com:80", "example.com:8443", "EXAMPLE.com:443", "[::1]:8080", "[::1]", "127.0.0.1:80",
    "xn--caf-dma.example", "bad host:99999", "", None,
])
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("http_version", ["HTTP/1.1", "HTTP/2.0"])
def test_pretty_url_same_as_mitmproxy(host_header, scheme, http_version):
    headers = http.Headers(accept="*/*") if host_header is None else http.Headers(host=host_header)
    for path in ("/", "/a/b?x=1&edgio_prefetch=1", "*"):
        request = http.Request("10.0.0.1", 8080, b"GET", scheme.encode(), b"", path.encode(), http_version.encode(),
                               headers.copy(), b"", None, 0, 0)
        assert headerlookup.pretty_url(request) == request.pretty_url
        assert headerlookup.pretty_url(request) == request.pretty_url  # the remembered Host header too


def test_pretty_url_of_a_connect_request():
    request = http.Request("example.com", 443, b"CONNECT", b"", b"example.com:443", b"", b"HTTP/1.1",
                           http.Headers(host="example.com:443"), b"", None, 0, 0)
    assert headerlookup.pretty_url(request) == request.pretty_url == "example.com:443"
