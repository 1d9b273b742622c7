"""Issue 8: injecting in the stream changes the body's length, and the framing stays right on
HTTP/2 as on HTTP/1.1 (test_streaming.py). A real HTTP/2 client (the `h2` library mitmproxy is
built on) speaks TLS + h2 to a real mitmdump in reverse mode in front of an HTTP/1.1 origin that
flushes its head at once and the rest only once the client has the head (an Event, not a pause: a
proxy that buffered the page would deliver nothing first). h2 checks a `content-length` against the DATA it
gets, so a wrong length would fail the stream."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable

import h2.config
import h2.connection
import h2.events
import pytest

from tests.e2e.test_streaming import HEAD, INSTALL, PAGE, client_decoder, encoded_parts
from tests.harness import Mitmdump
from tests.streaming_origin import Flush, FlushingOrigin


def h2_get(port: int, path: str, accept_encoding: str, held: threading.Event | None = None,
           sent: Callable[[], int] = lambda: 0) -> tuple[dict[str, str], bytes, int | None]:
    """(response headers, decoded body, how many parts the origin had sent when the first <h1>
    arrived (`sent`)); `held`, the origin's wait before the rest, is set then."""
    tls = ssl.create_default_context()
    tls.check_hostname, tls.verify_mode = False, ssl.CERT_NONE  # mitmproxy's own certificate
    tls.set_alpn_protocols(["h2"])
    with tls.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "h2"
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        conn.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "https"),
                                   (":authority", f"127.0.0.1:{port}"), ("accept-encoding", accept_encoding)],
                          end_stream=True)
        sock.sendall(conn.data_to_send())
        headers: dict[str, str] = {}
        decode, body, sent_then = None, b"", None
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
                    if sent_then is None and b"<h1>" in body:
                        sent_then = sent()
                        if held is not None:
                            held.set()
                elif isinstance(event, h2.events.StreamEnded):
                    return headers, body, sent_then
            sock.sendall(conn.data_to_send())


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_http2_client_gets_the_early_flush_injected_with_its_length_dropped(tmp_path, encoding):
    first, rest = encoded_parts(encoding)
    headers = {"content-type": "text/html; charset=utf-8", "cache-control": "max-age=60"}
    if encoding != "identity":
        headers["content-encoding"] = encoding
    # Chunked, as an origin that flushes early must be (streaming.py buffers a small declared length).
    held = threading.Event()
    with FlushingOrigin({"/page": Flush([(0, first), (held, rest)], headers, chunked=True)}) as origin, \
            Mitmdump(tmp_path, extra_args=["--mode", f"reverse:{origin.base}"]) as proxy:
        response, body, sent_then = h2_get(proxy.port, "/page", "gzip", held, lambda: len(origin.sent_at["/page"]))
        assert response[":status"] == "200"
        assert "content-length" not in response, response  # HTTP/2 frames the body itself
        assert sent_then == 1, "the head reached the client only after the origin sent the rest"
        assert body.count(INSTALL) == 1 and body.replace(INSTALL, b"", 1) == PAGE
        assert body.index(INSTALL) > len(HEAD)  # body placement: before </body>
        # The second request is an edge hit with the same body, on HTTP/2 too.
        again, cached, _ = h2_get(proxy.port, "/page", "gzip")
        assert again["x-edg-caching-status"] == "hit"
        assert cached == body
        assert origin.hits["/page"] == 1
