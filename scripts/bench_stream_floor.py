"""mitmproxy's own floor for streamed responses, for the benchmark's early-flush case: plain
mitmdump that streams every response body (`flow.response.stream = True`) and does nothing else.

    mitmdump -s scripts/bench_stream_floor.py
"""

from __future__ import annotations

from mitmproxy import http


class StreamEverything:
    def responseheaders(self, flow: http.HTTPFlow) -> None:
        flow.response.stream = True


addons = [StreamEverything()]
