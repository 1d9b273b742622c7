"""Issue 8: injecting in the stream changes the body's length, and the framing stays right on
HTTP/2 as on HTTP/1.1 (test_streaming.py). A real HTTP/2 client (the `h2` library mitmproxy is
built on) speaks TLS + h2 to a real mitmdump in reverse mode in front of an HTTP/1.1 origin that
flushes its head at once and the rest later. h2 checks a `content-length` against the DATA it
gets, so a wrong length would fail the stream."""

from __future__ import annotations

import socket
import ssl
import time

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.test_streaming import HEAD, INSTALL, PAGE, PAUSE, client_decoder, encoded_parts
from tests.harness import Mitmdump
from tests.streaming_origin import Flush, FlushingOrigin


def h2_get(port: int, path: str, accept_encoding: str) -> tuple[dict[str, str], bytes, float, float]:
    """(response headers, decoded body, seconds to the first <h1>, seconds to the end)."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # mitmproxy's own certificate
    tls.set_alpn_protocols(["h2"])
    with tls.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        started = time.monotonic()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "https"),
                                   (":authority", f"127.0.0.1:{port}"), ("accept-encoding", accept_encoding)],
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        headers: dict[str, str] = {}
        decode, body, first_at = None, b"", None
        while True:
            data = sock.recv(65536)
            assert data, "the proxy closed the connection before the stream ended"
            for event in conn.receive_data(data):  # raises on a content-length that the DATA contradicts
                if isinstance(event, h2.events.ResponseReceived):
                    headers = {k.decode(): v.decode() for k, v in event.headers}
                    decode = client_decoder(headers.get("content-encoding", "identity"))
                elif isinstance(event, h2.events.DataReceived):
                    body += decode(event.data)
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                    if first_at is None and b"<h1>" in body:
                        first_at = time.monotonic() - started
                elif isinstance(event, h2.events.StreamEnded):
                    return headers, body, first_at, time.monotonic() - started
            sock.sendall(conn.data_to_send())


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_http2_client_gets_the_early_flush_injected_with_its_length_dropped(tmp_path, encoding):
    first, rest = encoded_parts(encoding)
    headers = {"content-type": "text/html; charset=utf-8", "cache-control": "max-age=60"}
    if encoding != "identity":
        headers["content-encoding"] = encoding
    # Chunked, as an origin that flushes early must be (streaming.py buffers a small declared length).
    with FlushingOrigin({"/page": Flush([(0, first), (PAUSE, rest)], headers, chunked=True)}) as origin, \
            Mitmdump(tmp_path, extra_args=["--mode", f"reverse:{origin.base}"]) as proxy:
        response, body, first_at, total = h2_get(proxy.port, "/page", "gzip")
        assert response[":status"] == "200"
        assert "content-length" not in response, response  # HTTP/2 frames the body itself
        assert first_at is not None and first_at < PAUSE <= total, (first_at, total)
        assert body.count(INSTALL) == 1 and body.replace(INSTALL, b"", 1) == PAGE
        assert body.index(INSTALL) > len(HEAD)  # body placement: before </body>
        # The second request is an edge hit with the same body, on HTTP/2 too.
        again, cached, _, _ = h2_get(proxy.port, "/page", "gzip")
        assert again["x-edg-caching-status"] == "hit"
        assert cached == body
        assert origin.hits["/page"] == 1
