"""Load generation for bench.py: client-side latency over persistent keep-alive connections.

One thread per concurrent client, each with its own http.client connection to the proxy, sending
absolute-form URLs (as a browser does to a forward proxy). Every burst is bounded in requests and
in time. Variants are run in rounds (A B C, B C A, ...) so that drift on a noisy machine hits all
of them alike; results are pooled per variant over the rounds.
"""

from __future__ import annotations

import http.client
import itertools
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.harness import Mitmdump  # first: it puts addon/ on sys.path

from prefetch_lab.stats import percentile

# url_for(client_index, request_index) -> absolute URL
UrlFor = Callable[[int, int], str]


@dataclass
class Load:
    """What to send: URLs, headers, the statuses that count as success."""

    url_for: UrlFor
    headers: dict[str, str] = field(default_factory=dict)
    ok_statuses: tuple[int, ...] = (200,)


@dataclass
class Stats:
    """Pooled over rounds: every latency sample, requests completed, and wall time spent."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    proxy_cpu: float = 0.0  # seconds of CPU the proxy process used meanwhile (user + system)
    errors: int = 0
    error_sample: str = ""

    def add(self, other: "Stats") -> None:
        self.latencies += other.latencies
        self.elapsed += other.elapsed
        self.proxy_cpu += other.proxy_cpu
        self.errors += other.errors
        self.error_sample = self.error_sample or other.error_sample

    def percentile_ms(self, q: float) -> float | None:
        """The q-quantile (0.5, 0.99) of the latencies in ms, as the audit computes its percentiles."""
        value = percentile(self.latencies, round(q * 100))
        return None if value is None else value * 1000

    @property
    def rps(self) -> float | None:
        return len(self.latencies) / self.elapsed if self.elapsed else None

    @property
    def cpu_ms_per_request(self) -> float | None:
        """The proxy's own CPU per request: far less disturbed by other work on the machine
        than wall-clock latency (which includes waiting for a core)."""
        return self.proxy_cpu * 1000 / len(self.latencies) if self.latencies and self.proxy_cpu else None

    def summary(self) -> dict:
        return {
            "p50_ms": self.percentile_ms(0.50),
            "p99_ms": self.percentile_ms(0.99),
            "rps": self.rps,
            "cpu_ms_per_request": self.cpu_ms_per_request,
            "requests": len(self.latencies),
            "errors": self.errors,
            "error_sample": self.error_sample or None,
        }


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def burst(proxy: Mitmdump, load: Load, clients: int, max_requests: int, max_seconds: float) -> Stats:
    """`clients` connections in parallel until `max_requests` in all or `max_seconds` pass."""
    proxy_port = proxy.port
    per_client = max(1, max_requests // clients)
    ready = threading.Barrier(clients + 1)
    results: list[Stats] = [Stats() for _ in range(clients)]
    window: dict[str, float] = {}

    def client(index: int) -> None:
        stats = results[index]
        conn = http.client.HTTPConnection("127.0.0.1", proxy_port, timeout=30)
        try:
            _one(conn, load, index, -1, stats)  # warm-up: connection set up on both sides
            ready.wait()
            deadline = time.perf_counter() + max_seconds
            for n in range(per_client):
                if time.perf_counter() >= deadline:
                    break
                _one(conn, load, index, n, stats, record=True)
        except threading.BrokenBarrierError:
            pass
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait(timeout=60)
    window["start"] = time.perf_counter()
    cpu_before = process_cpu_seconds(proxy.proc.pid)
    for thread in threads:
        thread.join(timeout=max_seconds + 60)
    total = Stats()
    for stats in results:
        total.add(stats)
    total.elapsed = time.perf_counter() - window["start"]
    total.proxy_cpu = process_cpu_seconds(proxy.proc.pid) - cpu_before
    return total


def _one(conn: http.client.HTTPConnection, load: Load, client: int, n: int, stats: Stats,
         record: bool = False) -> None:
    url = load.url_for(client, n)
    started = time.perf_counter()
    try:
        conn.request("GET", url, headers=load.headers)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (OSError, http.client.HTTPException) as e:
        stats.errors += 1
        stats.error_sample = stats.error_sample or f"{url}: {e!r}"
        conn.close()  # http.client reconnects on the next request
        return
    took = time.perf_counter() - started
    if status not in load.ok_statuses:
        stats.errors += 1
        stats.error_sample = stats.error_sample or f"{url}: status {status}"
    elif record:
        stats.latencies.append(took)


def rounds(
    variants: dict[str, tuple[Mitmdump, Load]], clients: int, rounds_count: int, max_requests: int, max_seconds: float
) -> dict[str, Stats]:
    """Run every variant (name -> (proxy, load)) once per round, rotating the order."""
    pooled = {name: Stats() for name in variants}
    names = list(variants)
    for r in range(rounds_count):
        order = names[r % len(names):] + names[: r % len(names)]
        for name in order:
            proxy, load = variants[name]
            pooled[name].add(burst(proxy, load, clients, max_requests, max_seconds))
    return pooled


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def compare(stats: Stats, baseline: Stats) -> dict:
    """Latency ratios (higher = slower) and the throughput ratio (lower = slower)."""
    return {
        "p50": ratio(stats.percentile_ms(0.5), baseline.percentile_ms(0.5)),
        "p99": ratio(stats.percentile_ms(0.99), baseline.percentile_ms(0.99)),
        "rps": ratio(stats.rps, baseline.rps),
        "cpu": ratio(stats.cpu_ms_per_request, baseline.cpu_ms_per_request),
    }


def cycle(urls: Sequence[str]) -> UrlFor:
    """The same few URLs over and over, each client starting at a different one."""
    return lambda client, n: urls[(client + n) % len(urls)]


def unique(template: str) -> UrlFor:
    """A URL never sent before in this run: `template` with `{n}` from one shared counter
    (itertools.count's `next` is atomic under the GIL, so threads never share a number)."""
    counter = itertools.count()
    return lambda client, n: template.format(n=next(counter))
