"""The audit's `--throttle` network (netshaper.py) with real sockets: an origin on 127.0.0.1 and
HTTP clients through the shaper. Lower bounds only: the profile's delays are imposed, so a
transfer can never be faster than the profile allows (an upper bound would time the machine)."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from prefetch_lab.audit.gather.netprofile import NetworkProfile
from prefetch_lab.audit.gather.netshaper import NetworkShaper, shaped
from tests.harness import Origin, Reply

BODY = bytes(range(256)) * 400  # 100 KB
SLOW = NetworkProfile("test", rtt_ms=100, down_kbps=4000, up_kbps=4000)  # 500 KB/s: 100 KB in 0.2 s


def get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> tuple[bytes, float]:
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    started = time.monotonic()
    conn.request("GET", path)
    body = conn.getresponse().read()
    return body, time.monotonic() - started


@pytest.fixture
def origin():
    with Origin({"/big": Reply(200, {"content-type": "application/octet-stream"}, BODY),
                 "/small": Reply(200, {"content-type": "text/plain"}, b"ok")}) as origin:
        yield origin


def test_bytes_pass_unchanged_and_pay_the_round_trips_and_the_bandwidth(origin):
    with NetworkShaper(origin.base, SLOW) as shaper:
        conn = http.client.HTTPConnection("127.0.0.1", shaper.port, timeout=10)
        body, first = get(shaper.port, "/big", conn)
        assert body == BODY
        # A new plain connection: the TCP handshake's round trip, the request's, 100 KB at 500 KB/s.
        assert first >= 0.1 + 0.1 + 0.2
        _, again = get(shaper.port, "/small", conn)
        assert again >= 0.1  # the same connection: one round trip


def test_concurrent_transfers_share_one_visitors_bandwidth(origin):
    with NetworkShaper(origin.base, SLOW) as shaper:
        took: list[float] = []
        threads = [threading.Thread(target=lambda: took.append(get(shaper.port, "/big")[1])) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # 300 KB through one 500 KB/s pipe: the last of the three ends 0.6 s after it started.
        assert len(took) == 3 and max(took) >= 0.2 + 0.6


def test_no_profile_means_the_proxy_address_itself():
    with shaped("http://127.0.0.1:9", None) as address:
        assert address == "http://127.0.0.1:9"


def test_a_refused_upstream_closes_the_client_connection():
    with NetworkShaper("http://127.0.0.1:9", SLOW) as shaper:  # the discard port: nothing listens
        conn = http.client.HTTPConnection("127.0.0.1", shaper.port, timeout=10)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            get(shaper.port, "/", conn)


def test_closing_with_connections_open_is_quiet(origin, caplog, monkeypatch):
    """The audit closes a visitor's shaper while Chromium still holds connections, one of them
    mid-transfer."""
    import gc
    import socket
    import sys

    unraisable: list = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    shaper = NetworkShaper(origin.base, SLOW).__enter__()
    held = socket.create_connection(("127.0.0.1", shaper.port))
    held.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
    busy = socket.create_connection(("127.0.0.1", shaper.port))
    busy.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
    for connection in (held, busy):  # /small is answered, /big has begun: bytes came back on each
        connection.settimeout(30)
        assert connection.recv(1024)
    shaper.close()
    held.close()
    busy.close()
    del shaper
    gc.collect()  # a relay left pending would be finalised (and complain) now
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert not unraisable, [(u.exc_value, u.object) for u in unraisable]
