"""The benchmark's streaming cases: early flush (first byte, Chromium FCP), the compressed floor,
a 50 MB response's memory. Imported by bench.py (which puts scripts/ and the repo on sys.path)."""

from __future__ import annotations

import gzip
import http.client
import time
import zlib
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

from bench_origin import make_page
from tests.harness import Mitmdump, launch_chromium  # before prefetch_lab: it puts addon/ on sys.path
from tests.streaming_origin import Flush, FlushingOrigin

from prefetch_lab.stats import median

KB = 1024
LATE = 0.8  # seconds between the early flush and the rest of the page
EARLY = (b"<!doctype html><html><head><meta charset=utf-8><title>early flush</title>"
         b"<style>h1{font:48px sans-serif}</style></head>\n<body><h1>Visible at once</h1>\n")


def early_flush_routes() -> dict[str, Flush]:
    """A 200 KB page: head and a visible h1 at once, the rest LATE seconds later; plain and gzip."""
    page = make_page(200 * KB)
    rest = page[page.index(b"<body>") + len(b"<body>\n"):]
    html = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
    gz = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    gz_parts = [gz.compress(EARLY) + gz.flush(zlib.Z_SYNC_FLUSH), gz.compress(rest) + gz.flush()]
    return {
        "/early/plain": Flush([(0, EARLY), (LATE, rest)], html, chunked=True),
        "/early/gzip": Flush([(0, gz_parts[0]), (LATE, gz_parts[1])], {**html, "content-encoding": "gzip"},
                             chunked=True),
    }


def first_byte(proxy: Mitmdump | None, url: str) -> tuple[float, float]:
    """(ms to the first body byte, ms to the whole body) for one GET, direct when proxy is None."""
    host, port = ("127.0.0.1", proxy.port) if proxy else ("127.0.0.1", int(url.split(":")[2].split("/")[0]))
    conn = http.client.HTTPConnection(host, port, timeout=30)
    started = time.perf_counter()
    conn.request("GET", url if proxy else "/" + url.split("/", 3)[3], headers={"accept-encoding": "gzip"})
    resp = conn.getresponse()
    first = None
    while chunk := resp.read1(65536):
        if first is None:
            first = time.perf_counter()
    done = time.perf_counter()
    conn.close()
    return (first - started) * 1000, (done - started) * 1000


def early_flush(trials: int, proxies: dict[str, Mitmdump | None]) -> dict:
    """First body byte through each proxy vs the origin's own (direct), p50 of `trials`."""
    result: dict = {}
    with FlushingOrigin(early_flush_routes()) as origin:
        for encoding in ("plain", "gzip"):
            url = f"{origin.base}/early/{encoding}"
            samples: dict[str, list[tuple[float, float]]] = {name: [] for name in proxies}
            for trial in range(trials):
                names = list(proxies)
                for name in names[trial % len(names):] + names[:trial % len(names)]:  # take turns
                    samples[name].append(first_byte(proxies[name], url))
            result[encoding] = {
                name: {"first_byte_ms": median([s[0] for s in values]),
                       "complete_ms": median([s[1] for s in values])}
                for name, values in samples.items()
            }
    return result


FCP_SCRIPT = """() => new Promise(resolve => {
  const seen = performance.getEntriesByName('first-contentful-paint');
  if (seen.length) return resolve(seen[0].startTime);
  new PerformanceObserver(list => {
    for (const e of list.getEntries()) if (e.name === 'first-contentful-paint') resolve(e.startTime);
  }).observe({type: 'paint', buffered: true});
})"""


def chromium_fcp(trials: int, proxies: dict[str, Mitmdump | None]) -> dict:
    """Chromium's first contentful paint of the early-flushing page, direct and through proxies
    (one browser each, the variants taking turns in every trial, so drift affects them alike)."""
    fcps: dict[str, list[float]] = {name: [] for name in proxies}
    with FlushingOrigin(early_flush_routes()) as origin, ExitStack() as browsers:
        url = f"{origin.base}/early/plain"
        launched = {}
        for name, proxy in proxies.items():
            launched[name] = launch_chromium(**({"proxy": {"server": proxy.address}} if proxy else {}))
            browsers.callback(launched[name].close)
        for _ in range(trials):
            for name, browser in launched.items():
                context = browser.new_context()
                page = context.new_page()
                page.goto(url, wait_until="commit")
                fcps[name].append(page.evaluate(FCP_SCRIPT))
                page.wait_for_load_state("load")
                context.close()
    return {name: {"fcp_ms": median(values)} for name, values in fcps.items()}


def codec_floor_ms(size: int, repeats: int = 5) -> float:
    """The unavoidable extra work of rewriting a gzip page: decode it and encode it once (gzip
    level 1, as the edge re-encodes), in ms, best of `repeats`."""
    compressed = gzip.compress(make_page(size), compresslevel=6)
    best = float("inf")
    for _ in range(repeats):
        started = time.process_time()
        gzip.compress(gzip.decompress(compressed), compresslevel=1)
        best = min(best, time.process_time() - started)
    return best * 1000


def big_response_memory(tmp: Path, origin: str, start: Callable[..., Mitmdump], memory_mb: Callable) -> dict:
    """RSS of a fresh mitmdump while one 50 MB response passes through (read by the client in
    64 KB pieces), addon (cache 64 MB: objects over 8 MB are not kept) vs plain mitmdump."""
    result: dict = {}
    for name, script, options in (("baseline", None, {}),
                                  ("addon", True, {"prefetch_cache_mb": "64"})):
        with ExitStack() as stack:
            proxy = start(stack, tmp, f"big-{name}", script, **options)
            proxy.request("GET", origin + "/asset/app.js")  # warm: imports and first-flow allocations
            idle = memory_mb(proxy.proc.pid)
            conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=120)
            started = time.perf_counter()
            conn.request("GET", origin + "/big/50m")
            resp = conn.getresponse()
            received, first_ms = 0, None
            while chunk := resp.read1(65536):
                if first_ms is None:
                    first_ms = (time.perf_counter() - started) * 1000
                received += len(chunk)
            conn.close()
            peak = memory_mb(proxy.proc.pid)["peak_mb"]
            result[name] = {"idle_rss_mb": idle["rss_mb"], "peak_rss_mb": peak, "growth_mb": peak - idle["rss_mb"],
                            "received_mb": received / 2**20, "first_byte_ms": first_ms,
                            "seconds": time.perf_counter() - started}
    return result
