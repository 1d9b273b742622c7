"""The mitmproxy internals the edge relies on beyond the addon API, in one place to re-check for
each mitmproxy release pyproject.toml allows (checked: 11.0.2; compared with the 12.2 source).

- Cutting a hung origin connection: the proxy server's per-client handler and its
  `server_event` with a `DataReceived` (the bytes of the edge's own 504, as if the origin had
  sent them) or a `ConnectionClosed` (edge/origin_fetches.py says why).
- Background fetches: the `replay.client` command and the `client_replay_concurrency` option.
- The option check: `Options.deferred`, where mitmproxy keeps `--set` values of options no addon
  had registered yet (stages/option_check.py).
- The proxy server's listen addresses (`listen_addrs`), for the option check's warning.
- The stages' commands, registered with the command manager by EdgeRoute (mitmproxy collects
  only the commands of the addons it sees).
- A response in an unknown transfer coding: mitmproxy's two framing checks (`http1`'s
  `expected_http_body_size`, the HTTP layer's `validate_headers`) wrapped for it.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterator

from mitmproxy import ctx, http
from mitmproxy.net.http import http1, validate
from mitmproxy.net.http.http1 import assemble_response
from mitmproxy.proxy import events
from mitmproxy.proxy.layers import http as http_layer

_tasks: set[asyncio.Future] = set()


def replay_in_background(flow: http.HTTPFlow) -> None:
    """Send a copy of a flow to its origin through the proxy's own client replay."""
    ctx.master.commands.call("replay.client", [flow])


def unqueue_replays() -> None:
    """Replays side by side: mitmproxy's default replays one flow at a time."""
    if ctx.options.client_replay_concurrency == 1:
        ctx.options.update(client_replay_concurrency=-1)


def cut_origin_connection(flow: http.HTTPFlow, response: http.Response) -> bool:
    """Give the flow's server connection `response` as the origin's answer (an open plain-HTTP/1
    connection: True) or close it as if the origin had hung up (TLS, not yet open: False).
    Raises when this mitmproxy has no such handler."""
    handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
    server = flow.server_conn
    if server.connected and not server.tls:
        event: events.Event = events.DataReceived(server, assemble_response(response))
        answered = True
    else:
        event, answered = events.ConnectionClosed(server), False
    task = asyncio.ensure_future(handler.server_event(event))
    _tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(_tasks.discard)
    return answered


def deferred_options(options) -> Iterator[tuple[str, list[str]]]:
    """The `--set` values mitmproxy has not applied yet: (name, its values as given)."""
    for name, value in list(options.deferred.items()):
        yield name, [str(v) for v in getattr(value, "val", [value])]


def forget_deferred(options, name: str) -> None:
    """Applied, or reported: a deferred value that mitmproxy must not parse again."""
    options.deferred.pop(name, None)


def non_loopback_listen_addresses() -> list[str]:
    """The addresses the proxy server listens on that are not loopback ones (an unspecified
    address, 0.0.0.0 or ::, means every interface)."""
    server = ctx.master.addons.get("proxyserver")
    if server is None:
        return []
    exposed = []
    for address in server.listen_addrs():
        host = address[0]
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            exposed.append(f"[{host}]:{address[1]}" if ":" in host else f"{host}:{address[1]}")
    return exposed


def register_commands(loader, addon) -> None:
    loader.master.commands.collect_commands(addon)


def read_unknown_codings_until_close() -> None:
    """RFC 9112 6.3: a response whose Transfer-Encoding does not end in `chunked` is read until the
    origin closes. mitmproxy 11 refuses one in a coding it does not know (`Transfer-Encoding: foo`)
    and the client gets its 502; wrapped, such a response (one field, no Content-Length, HTTP/1.1)
    is read until close and checked as if the field were absent. Requests keep mitmproxy's checks."""
    if getattr(http1.expected_http_body_size, "edge_wrapped", False):
        return
    size, check = http1.expected_http_body_size, http_layer.validate_headers

    def expected_http_body_size(request, response=None):
        try:
            return size(request, response)
        except ValueError:
            if response is None or not unknown_transfer_coding(response):
                raise
            return -1

    def validate_headers(message) -> None:
        try:
            check(message)
        except ValueError:
            if not (isinstance(message, http.Response) and unknown_transfer_coding(message)):
                raise
            plain = message.copy()
            del plain.headers["transfer-encoding"]
            check(plain)

    expected_http_body_size.edge_wrapped = True
    http1.expected_http_body_size = http_layer.expected_http_body_size = expected_http_body_size
    http_layer.validate_headers = validate_headers


def unknown_transfer_coding(response: http.Response) -> bool:
    """One Transfer-Encoding field in a coding mitmproxy does not know, nothing else wrong with it."""
    codings = response.headers.get_all("transfer-encoding")
    if len(codings) != 1 or codings[0].rsplit(",", 1)[-1].strip().lower() == "chunked" or "content-length" in response.headers or not response.is_http11:
        return False
    if 100 <= response.status_code < 200 or response.status_code == 204:
        return False
    try:
        validate.parse_transfer_encoding(codings[0])
    except ValueError:
        return codings[0].isascii()
    return False
