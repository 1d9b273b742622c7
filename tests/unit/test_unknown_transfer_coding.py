"""edge/compat.py's reading of a response in a transfer coding mitmproxy does not know (the wrapper,
installed here as mitmdump installs it, changes nothing else for the tests after these)."""

import pytest
from mitmproxy import http
from mitmproxy.net.http import http1

from prefetch_lab.edge import compat


def response(*headers: tuple[str, str], status: int = 200, version: str = "HTTP/1.1") -> http.Response:
    made = http.Response.make(status, b"")
    made.headers.pop("content-length", None)  # only the fields given
    for name, value in headers:
        made.headers.add(name, value)
    made.http_version = version
    return made


@pytest.mark.parametrize("coding", ["x-custom", "chunked, x-custom", "gzip, x-custom"])
def test_an_unknown_final_coding_is_read_until_close(coding):
    compat.read_unknown_codings_until_close()
    compat.read_unknown_codings_until_close()  # twice (a script reload): wrapped once
    target = response(("transfer-encoding", coding))
    assert compat.unknown_transfer_coding(target)
    assert http1.expected_http_body_size(http.Request.make("GET", "http://x/"), target) == -1


@pytest.mark.parametrize("target", [
    response(("transfer-encoding", "chunked")),
    response(("transfer-encoding", "gzip")),
    response(("transfer-encoding", "x-custom, chunked")),  # chunked last: a chunked body in an unknown coding
    response(("transfer-encoding", "x-custom"), ("content-length", "3")),
    response(("transfer-encoding", "x-custom"), ("transfer-encoding", "x-other")),
    response(("transfer-encoding", "x-custom"), status=204),
    response(("transfer-encoding", "x-custom"), version="HTTP/1.0"),
])
def test_anything_else_keeps_mitmproxy_s_reading(target):
    assert not compat.unknown_transfer_coding(target)


def test_a_request_in_an_unknown_coding_is_still_refused():
    compat.read_unknown_codings_until_close()
    request = http.Request.make("POST", "http://x/", b"", {"transfer-encoding": "x-custom"})
    with pytest.raises(ValueError):
        http1.expected_http_body_size(request)
