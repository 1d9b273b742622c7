"""Surrogate-Capability (W3C Edge Architecture 1.0): requests the edge sends to the origin say
it is a surrogate, so the origin can target Surrogate-Control directives at it
(`max-age=60;prefetch-lab`; cachepolicy reads them). After every stage that may answer a request
in the route, so it sees only requests that do go to the origin.
"""

from __future__ import annotations

from mitmproxy import http

from prefetch_lab.edge import headers as header_reads
from prefetch_lab.http.cachepolicy import SURROGATE_TOKEN

CAPABILITY = f'{SURROGATE_TOKEN}="Surrogate/1.0"'


class SurrogateCapability:
    name = "prefetch.surrogate"

    def request(self, flow: http.HTTPFlow) -> None:
        if flow.response is None and flow.error is None:
            theirs = header_reads.get(flow.request.headers, b"surrogate-capability")  # from a surrogate in front of us
            if theirs and CAPABILITY in theirs:
                return  # the edge's own fetch copies a request that already has it
            header_reads.set(flow.request.headers, b"surrogate-capability", f"{theirs}, {CAPABILITY}" if theirs else CAPABILITY)
