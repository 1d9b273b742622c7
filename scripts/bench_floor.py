"""mitmproxy's floor for the benchmark: answer every request in the `request` hook with a fixed
response (the same 20 KB page the edge-cache case serves), so nothing is forwarded and nothing is
looked up. An edge-cache hit cannot be cheaper than this: it is the proxy's own cost.

    mitmdump -s scripts/bench_floor.py
"""

from __future__ import annotations

from mitmproxy import http

from bench_origin import HTML, PAGE_SIZES, make_page  # scripts/ is on sys.path: mitmproxy adds the script's folder


class Floor:
    def __init__(self) -> None:
        self.body = make_page(PAGE_SIZES["20k"])

    def request(self, flow: http.HTTPFlow) -> None:
        flow.response = http.Response.make(200, self.body, {"content-type": HTML})


addons = [Floor()]
