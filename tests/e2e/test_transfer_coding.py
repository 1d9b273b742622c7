"""A response in a transfer coding mitmproxy does not know (`Transfer-Encoding: x-custom`) through a
real mitmdump from a raw-socket origin: read until the origin closes (RFC 9112 6.3), passed on in
the client's own framing, stored without the field (RFC 9111 3.1). mitmproxy alone answers 502."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import unquote

import pytest

from tests.harness import LocalServer, Mitmdump

pytestmark = pytest.mark.e2e

BODY = b"a body framed by the connection's end"


class RawOrigin(LocalServer):
    """Writes its answer byte for byte: a head with the given Transfer-Encoding, the body, close."""

    def __init__(self) -> None:
        self.hits = 0
        origin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                origin.hits += 1
                coding = unquote(self.path.rsplit("/", 1)[-1])
                self.wfile.write(b"HTTP/1.1 200 OK\r\nCache-Control: max-age=3600\r\nContent-Type: text/plain\r\n"
                                 b"Transfer-Encoding: %s\r\n\r\n%s" % (coding.encode(), BODY))
                self.close_connection = True

        self.serve(Handler)


@pytest.fixture(scope="module")
def origin():
    with RawOrigin() as server:
        yield server


@pytest.fixture(scope="module", params=["none", "default"])
def proxy(request, tmp_path_factory):
    options = {"prefetch_rules": "none"} if request.param == "none" else {}
    with Mitmdump(tmp_path_factory.mktemp("conf"), {**options, "prefetch_inject": "off"}) as mitm:
        yield mitm


def test_an_unknown_transfer_coding_is_read_until_close_and_stored_without_it(proxy, origin):
    url = f"{origin.base}/{proxy.port}/x-custom"  # one URL per proxy: each mode starts cold
    hits = origin.hits
    status, headers, body = proxy.request("GET", url)
    assert (status, body) == (200, BODY)
    assert "x-custom" not in headers.get("transfer-encoding", "")
    status, headers, body = proxy.request("GET", url)
    assert (status, body) == (200, BODY)
    assert "transfer-encoding" not in headers
    assert origin.hits == hits + 1  # the second answer came from the edge's cache


def test_chunked_as_the_final_coding_is_still_refused_when_unknown_before_it(proxy, origin):
    # `x-custom, chunked`: the body would be chunked in an unknown coding; mitmproxy's 502 stands.
    status, _, _ = proxy.request("GET", f"{origin.base}/{proxy.port}/x-custom,%20chunked")
    assert status == 502
