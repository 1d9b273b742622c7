"""A TCP relay that puts a `NetworkProfile` between the browser and the proxy (netprofile.py).

    with NetworkShaper("http://127.0.0.1:8080", PROFILES["4g"]) as shaper:
        ...  # give the browser shaper.address as its proxy

It forwards bytes unchanged (plain HTTP, CONNECT and TLS alike), paced by the profile's two links,
which every connection of the shaper shares: one shaper is one visitor's network. A connection
that does not start with CONNECT first pays a round trip, the TCP handshake a direct connection
to a distant edge costs; through CONNECT that round trip is the CONNECT exchange itself, and a
TLS handshake pays its own. Runs its own asyncio loop in a daemon thread, so the synchronous
drivers can use it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from prefetch_lab.audit.gather.netprofile import Link, NetworkProfile

logger = logging.getLogger(__name__)
READ_SIZE = 64 * 1024


class NetworkShaper:
    def __init__(self, upstream: str, profile: NetworkProfile) -> None:
        parts = urlsplit(upstream if "://" in upstream else f"http://{upstream}")
        if parts.hostname is None or parts.port is None:
            raise ValueError(f"the shaper needs the proxy's host and port, got {upstream!r}")
        self.upstream = (parts.hostname, parts.port)
        self.profile = profile
        self.down, self.up = profile.links()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="network-shaper", daemon=True)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> NetworkShaper:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, "127.0.0.1", 0), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if not self._thread.is_alive():
            return

        async def stop() -> None:
            if self._server is not None:
                self._server.close()
            relays = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in relays:
                task.cancel()
            await asyncio.gather(*relays, return_exceptions=True)  # their writers close in the loop

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    # ---- one connection --------------------------------------------------------------------

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        opened = self._loop.time()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.upstream)
        except OSError as error:
            logger.warning(f"network shaper: the proxy at {self.upstream} refused a connection: {error}")
            client_writer.close()
            return
        handshake_until = opened + self.profile.rtt_ms / 1000
        pumps = asyncio.gather(
            self._pump(client_reader, upstream_writer, self.up, handshake_until),
            self._pump(upstream_reader, client_writer, self.down, None),
        )
        try:
            await pumps
        except asyncio.CancelledError:
            # The shaper closes. Cancelled, the pumps' gather still holds their CancelledError
            # (read it, or asyncio logs it), and a connection task that ends cancelled is logged too.
            pumps.cancel()
            await asyncio.gather(pumps, return_exceptions=True)
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: Link,
                    handshake_until: float | None) -> None:
        """Copy reader to writer across `link`: each slice is written when it would arrive."""
        loop = self._loop
        arrives = loop.time()
        try:
            while data := await reader.read(READ_SIZE):
                if handshake_until is not None:
                    if not data.startswith(b"CONNECT "):
                        await asyncio.sleep(max(0.0, handshake_until - loop.time()))
                    handshake_until = None
                step = link.slice_size()
                now = loop.time()
                for offset in range(0, len(data), step):
                    piece = data[offset:offset + step]
                    sent, arrives = link.send(now, len(piece))
                    loop.call_at(arrives, _write, writer, piece)
                    await asyncio.sleep(max(0.0, sent - loop.time()))  # the pipe is busy until then
                    # The next slice was ready when this one ended: a late wake-up is no idle pipe.
                    now = sent
        except (ConnectionError, OSError):
            pass
        # The end (or a reset) arrives after the last byte did.
        await asyncio.sleep(max(0.0, arrives - loop.time()))
        if not writer.is_closing():
            try:
                writer.write_eof()
            except (OSError, RuntimeError):
                writer.close()


def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    if not writer.is_closing():
        writer.write(data)


@contextmanager
def shaped(proxy_server: str, profile: NetworkProfile | None) -> Iterator[str]:
    """The proxy address to give the browser: `proxy_server` itself, or one visitor's network
    (a fresh shaper) in front of it."""
    if profile is None:
        yield proxy_server
        return
    with NetworkShaper(proxy_server, profile) as shaper:
        yield shaper.address
