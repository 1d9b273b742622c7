#!/usr/bin/env python3
"""What Prefetch Lab costs and what prefetching buys, side by side with plain mitmdump.

    .venv/bin/python scripts/bench.py            # full run, a few minutes
    .venv/bin/python scripts/bench.py --quick    # about a minute, every figure with small counts
    .venv/bin/python scripts/bench.py --smoke    # the test suite's: every figure, the fewest counts (no use as figures)
    .venv/bin/python scripts/bench.py --json out.json

Everything runs on 127.0.0.1 in one run: an origin process (scripts/bench_origin.py), plain
`mitmdump` (the baseline), `mitmdump -s addon/prefetch.py`, and mitmproxy's floor
(scripts/bench_floor.py, a fixed response made in the `request` hook). Variants are interleaved
in rounds, and the table's ratios compare figures taken in the same run, which is what survives a
noisy machine. Budgets are reported, never asserted. The table is also written as JSON
(default: bench-results.json in the current directory).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def use_project_venv() -> None:
    """On a fresh machine `python scripts/bench.py` sets up .venv (and Debian's chromium) with
    scripts/setup.sh, then runs again with the venv's python: mitmdump must sit beside it."""
    if (Path(sys.executable).parent / "mitmdump").exists():
        return
    subprocess.run([str(SCRIPTS / "setup.sh"), "--browser", "--extras", "audit"], check=True)  # Playwright
    venv_python = ROOT / ".venv" / "bin" / "python"
    os.execv(venv_python, [str(venv_python), str(Path(__file__).resolve()), *sys.argv[1:]])


if __name__ == "__main__":
    use_project_venv()  # before the imports below, which need the venv's packages

for entry in (ROOT, ROOT / "addon", SCRIPTS):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from tests.harness import Mitmdump  # noqa: E402

import bench_browser  # noqa: E402
import bench_micro  # noqa: E402
import bench_stream  # noqa: E402
from bench_load import Load, Stats, burst, compare, cycle, ratio, rounds, unique  # noqa: E402
from bench_origin import PAGE_SIZES  # noqa: E402

# The same flags for every variant: no per-flow printing (it would cost alike everywhere but add noise).
COMMON_OPTIONS = {"flow_detail": "0"}
FLOOR_SCRIPT = SCRIPTS / "bench_floor.py"
STREAM_FLOOR_SCRIPT = SCRIPTS / "bench_stream_floor.py"  # mitmdump streaming every body, nothing else
ADDON_SCRIPT = ROOT / "addon" / "prefetch.py"
ASSETS = ("/asset/app.js", "/asset/style.css", "/asset/logo.png")


@dataclass(frozen=True)
class Settings:
    """How much of everything: the full run and --quick differ only in counts and durations."""

    name: str
    rounds: int
    burst_seconds: float  # per variant per round
    burst_requests: int
    concurrency: tuple[int, ...]
    html_seconds: float
    memory_urls: int
    memory_cache_mb: int
    memory_samples: int
    browser_trials: int
    flush_trials: int

    @property
    def quick(self) -> bool:
        return self.name in ("quick", "smoke")


FULL = Settings("full", rounds=4, burst_seconds=2.0, burst_requests=20_000, concurrency=(1, 8, 64),
                html_seconds=1.2, memory_urls=10_000, memory_cache_mb=64, memory_samples=10, browser_trials=5,
                flush_trials=9)
QUICK = Settings("quick", rounds=2, burst_seconds=0.3, burst_requests=2_000, concurrency=(1, 8, 64),
                 html_seconds=0.3, memory_urls=1_600, memory_cache_mb=8, memory_samples=8, browser_trials=1,
                 flush_trials=3)
# Only that the benchmark runs and produces every figure (tests/e2e/test_bench_smoke.py): one round,
# one trial, short bursts (still long enough that mitmdump's CPU time, counted in 10 ms ticks, is
# never 0, which would leave the cpu figures empty); its figures are too noisy to read.
SMOKE = Settings("smoke", rounds=1, burst_seconds=0.2, burst_requests=500, concurrency=(1, 8, 64),
                 html_seconds=0.15, memory_urls=400, memory_cache_mb=8, memory_samples=4, browser_trials=1,
                 flush_trials=1)


# ------------------------------------------------------------------ processes


@contextmanager
def origin_process() -> Iterator[str]:
    """scripts/bench_origin.py in its own process; yields its base URL."""
    proc = subprocess.Popen([sys.executable, str(SCRIPTS / "bench_origin.py")], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("port "):
            raise RuntimeError(f"origin did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def origin_count(origin: str) -> int:
    """Requests the origin has seen (asked directly, not through a proxy)."""
    with urlopen(f"{origin}/__count", timeout=10) as response:
        return json.load(response)["requests"]


def start_proxy(stack: ExitStack, tmp: Path, name: str, script: Path | None, **options: str) -> Mitmdump:
    confdir = tmp / f"conf-{name}"
    confdir.mkdir(exist_ok=True)
    return stack.enter_context(Mitmdump(confdir, {**COMMON_OPTIONS, **options}, script=script))


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MiB, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) / 1024
    return {"rss_mb": fields["VmRSS"], "peak_mb": fields["VmHWM"]}


# ------------------------------------------------------------------ cases


def case_passthrough(s: Settings, origin: str, baseline: Mitmdump, addon: Mitmdump) -> dict:
    """1. Non-HTML assets the edge may not keep (`no-store`): the addon still matches rules, builds
    the key, looks the cache up and decides not to store, on every request."""
    load = Load(cycle([origin + path for path in ASSETS]))
    result = {}
    for clients in s.concurrency:
        pooled = rounds({"baseline": (baseline, load), "addon": (addon, load)}, clients,
                        s.rounds, s.burst_requests, s.burst_seconds)
        result[f"c{clients}"] = summarise(pooled, "baseline")
    return result


def case_html(s: Settings, origin: str, baseline: Mitmdump, addon: Mitmdump) -> dict:
    """2. HTML pages (no-store, so every one is forwarded and injected), plain and gzip."""
    result: dict = {}
    for size in PAGE_SIZES:
        for encoding in ("plain", "gzip"):
            path = f"/html/{size}" + ("-gzip" if encoding == "gzip" else "")
            load = Load(cycle([origin + path]), headers={"accept-encoding": "gzip"})
            seconds = s.html_seconds * (2 if size == "2m" else 1)  # fewer, slower requests
            pooled = rounds({"baseline": (baseline, load), "addon": (addon, load)}, 1,
                            s.rounds, s.burst_requests, seconds)
            result[f"{size}_{encoding}"] = summarise(pooled, "baseline")
    return result


def case_edge_cache(s: Settings, origin: str, baseline: Mitmdump, addon: Mitmdump, floor: Mitmdump) -> dict:
    """3. The same 20 KB page: from the edge cache, forwarded (plain mitmdump, and the addon when
    the origin says no-store), and mitmproxy's floor."""
    page = origin + "/edge/page"
    status, headers, _ = addon.request("GET", page)  # fills the edge
    status, headers, _ = addon.request("GET", page)
    if headers.get("x-edg-caching-status") != "hit":
        raise RuntimeError(f"edge page not served from cache: {status} {headers}")
    variants = {
        "forwarded_baseline": (baseline, Load(cycle([page]))),
        "forwarded_addon": (addon, Load(cycle([origin + "/html/20k"]))),
        "hit": (addon, Load(cycle([page]))),
        "floor": (floor, Load(cycle([page]))),
    }
    pooled = rounds(variants, 1, s.rounds, s.burst_requests, s.burst_seconds)
    result = {name: stats.summary() for name, stats in pooled.items()}
    result["ratio"] = {
        "hit_vs_floor": compare(pooled["hit"], pooled["floor"]),
        "hit_vs_forwarded": compare(pooled["hit"], pooled["forwarded_baseline"]),
        "floor_vs_forwarded": compare(pooled["floor"], pooled["forwarded_baseline"]),
        "forwarded_addon_vs_baseline": compare(pooled["forwarded_addon"], pooled["forwarded_baseline"]),
    }
    return result


def case_refusals(s: Settings, origin: str, addon: Mitmdump) -> dict:
    """4. Prefetches of never-cached URLs (unique query, edgio_prefetch=1): refused by the edge,
    never seen by the origin; compared with prefetch hits of the warm page, 8 clients."""
    refusals = Load(unique(origin + "/edge/page?cold={n}&edgio_dt_pf=1&edgio_prefetch=1"), ok_statuses=(412,))
    hits = Load(cycle([origin + "/edge/page?edgio_dt_pf=1&edgio_prefetch=1"]))
    seen_before = origin_count(origin)
    pooled = rounds({"refusal": (addon, refusals), "prefetch_hit": (addon, hits)}, 8,
                    s.rounds, s.burst_requests, s.burst_seconds)
    origin_requests = origin_count(origin) - seen_before
    result = {name: stats.summary() for name, stats in pooled.items()}
    result["refusals_per_s"] = pooled["refusal"].rps
    result["origin_requests"] = origin_requests
    result["ratio"] = {"refusal_vs_hit": compare(pooled["refusal"], pooled["prefetch_hit"])}
    return result


def case_memory(s: Settings, tmp: Path, origin: str) -> dict:
    """6. Peak RSS while distinct cacheable pages pass through, addon (with a cache budget) vs
    plain mitmdump, each a fresh process; RSS sampled as the URLs go through."""
    result: dict = {"urls": s.memory_urls, "cache_mb": s.memory_cache_mb}
    batch = max(1, s.memory_urls // s.memory_samples)
    for name, script, options in (
        ("baseline", None, {}),
        ("addon", ADDON_SCRIPT, {"prefetch_cache_mb": str(s.memory_cache_mb)}),
    ):
        with ExitStack() as stack:
            proxy = start_proxy(stack, tmp, f"mem-{name}", script, **options)
            idle = memory_mb(proxy.proc.pid)
            load = Load(unique(origin + f"/mem?i={{n}}&v={name}"))
            samples, sent, stats = [], 0, Stats()
            while sent < s.memory_urls:
                done = burst(proxy, load, 8, min(batch, s.memory_urls - sent), max_seconds=300)
                stats.add(done)
                sent += len(done.latencies) + done.errors
                samples.append({"urls": sent, **memory_mb(proxy.proc.pid)})
            result[name] = {
                "idle_rss_mb": idle["rss_mb"],
                "peak_rss_mb": samples[-1]["peak_mb"],
                "final_rss_mb": samples[-1]["rss_mb"],
                "samples": samples,
                "errors": stats.errors,
                "error_sample": stats.error_sample or None,
            }
    # Once the cache is full (well before half of the URLs), RSS should stop growing; mitmproxy
    # itself still grows a little early on, so the baseline's growth over the same URLs is shown too.
    for name in ("baseline", "addon"):
        samples = result[name]["samples"]
        half = len(samples) // 2
        result[f"{name}_growth_second_half_mb"] = samples[-1]["rss_mb"] - samples[half - 1]["rss_mb"]
    result["peak_over_baseline_mb"] = result["addon"]["peak_rss_mb"] - result["baseline"]["peak_rss_mb"]
    return result


def summarise(pooled: dict[str, Stats], reference: str) -> dict:
    result = {name: stats.summary() for name, stats in pooled.items()}
    for name, stats in pooled.items():
        if name != reference:
            result[f"ratio_{name}"] = compare(stats, pooled[reference])
    return result


# ------------------------------------------------------------------ budgets and output


def budgets(r: dict) -> list[dict]:
    """Each budget: what it compares, the target, the measured value, whether it holds."""
    def row(name: str, value: float | None, target: float, lower_is_better: bool = True, unit: str = "") -> dict:
        holds = None if value is None else (value <= target if lower_is_better else value >= target)
        return {"budget": name, "value": value, "target": target,
                "comparison": "<=" if lower_is_better else ">=", "unit": unit, "holds": holds}

    levels = [r["passthrough"][f"c{c}"] for c in r["meta"]["settings"]["concurrency"]]
    html = r["html_injection"]
    flush = r["early_flush"]
    rules = r["rule_matching"]
    mem = r["memory"]
    rows = [
        row("pass-through p50 latency, addon/baseline (worst of 1/8/64 clients)",
            max(level["ratio_addon"]["p50"] for level in levels), 1.05),
        row("pass-through req/s, addon/baseline (worst of 1/8/64 clients)",
            min(level["ratio_addon"]["rps"] for level in levels), 0.95, lower_is_better=False),
        row("pass-through proxy CPU per request, addon/baseline (worst of 1/8/64 clients)",
            max(level["ratio_addon"]["cpu"] for level in levels), 1.05),
        *[row(f"HTML injection p50, addon/baseline, {size} {enc}", html[f"{size}_{enc}"]["ratio_addon"]["p50"], 1.10)
          for size in ("200k", "2m") for enc in ("plain", "gzip")],
        *[row(f"HTML injection proxy CPU, addon/baseline, {size} plain", html[f"{size}_plain"]["ratio_addon"]["cpu"], 1.10)
          for size in ("200k", "2m")],
        *[row(f"HTML injection proxy CPU, addon / floor (baseline + decode and re-encode once), {size} gzip",
              gzip_vs_floor(html, size), 1.20) for size in ("200k", "2m")],
        *[row(f"early flush: first body byte, addon minus the origin's own, {enc}",
              flush[enc]["addon"]["first_byte_ms"] - flush[enc]["direct"]["first_byte_ms"], 5, unit="ms")
          for enc in ("plain", "gzip")],
        *[row(f"early flush: first body byte, addon minus mitmdump streaming everything (its floor), {enc}",
              flush[enc]["addon"]["first_byte_ms"] - flush[enc]["stream_floor"]["first_byte_ms"], 5, unit="ms")
          for enc in ("plain", "gzip")],
        row("early flush: Chromium FCP, through the addon / direct",
            ratio(flush["chromium"]["addon"]["fcp_ms"], flush["chromium"]["direct"]["fcp_ms"]), 1.10),
        row("early flush: Chromium FCP, through the addon / through mitmdump streaming everything (its floor)",
            ratio(flush["chromium"]["addon"]["fcp_ms"], flush["chromium"]["stream_floor"]["fcp_ms"]), 1.10),
        row("50 MB response: RSS growth of the addon", r["big_response"]["addon"]["growth_mb"], 10, unit="MB"),
        row("inject_script throughput, default placement (slowest page size)",
            min(html["inject_mb_s"]["body"].values()), 500, lower_is_better=False, unit="MB/s"),
        row("cache hit p50 / mitmproxy floor p50", r["edge_cache"]["ratio"]["hit_vs_floor"]["p50"], 1.10),
        row("cache hit CPU / mitmproxy floor CPU, per request", r["edge_cache"]["ratio"]["hit_vs_floor"]["cpu"], 1.10),
        row("prefetch refusal p50 / prefetch hit p50 (8 clients)",
            r["refusals"]["ratio"]["refusal_vs_hit"]["p50"], 1.0),
        row("prefetch refusal CPU / prefetch hit CPU, per request",
            r["refusals"]["ratio"]["refusal_vs_hit"]["cpu"], 1.0),
        row("origin requests caused by refused prefetches", r["refusals"]["origin_requests"], 0, unit="requests"),
        row("rule matching, 1,000 - 1 rules, indexed rules", rules["indexed"]["1000"] - rules["indexed"]["1"], 20,
            unit="µs"),
        row("rule matching, 1,000 - 1 rules, unindexed rules (worst case)",
            rules["unindexed"]["1000"] - rules["unindexed"]["1"], 20, unit="µs"),
        row(f"peak RSS over baseline (budget: cache {mem['cache_mb']} MB + 50 MB)",
            mem["peak_over_baseline_mb"], mem["cache_mb"] + 50, unit="MB"),
        row("RSS growth over the second half of the URLs (cache full), addon minus baseline: "
            "flat = within 10 % of the cache budget",
            mem["addon_growth_second_half_mb"] - mem["baseline_growth_second_half_mb"], mem["cache_mb"] * 0.10,
            unit="MB"),
    ]
    for path, result in r["browser"].items():
        if result.get("error"):
            rows.append(row(f"prefetched navigation ({path}): not measured, {result['error']}", None, 0.10))
            continue
        rows.append(row(f"prefetched/cold responseStart ({path})", result["ratio"]["response_start"], 0.10))
        rows.append(row(f"prefetched/cold LCP ({path})", result["ratio"]["lcp"], 0.25))
    return rows


def gzip_vs_floor(html: dict, size: str) -> float | None:
    """Addon CPU per request over the floor: plain mitmdump's CPU plus decoding and re-encoding
    the page once (measured in-process), what no rewriting proxy can avoid."""
    res = html[f"{size}_gzip"]
    floor = res["baseline"]["cpu_ms_per_request"] + html["codec_floor_ms"][size]
    return ratio(res["addon"]["cpu_ms_per_request"], floor)


def machine(settings: Settings) -> dict:
    import mitmproxy.version

    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    return {
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "mitmproxy": mitmproxy.version.VERSION,
        "load_average_start": os.getloadavg(),
        "settings": settings.__dict__,
    }


def fmt(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(r: dict) -> str:
    """The results as a Markdown table: absolute figures, then ratios, then budgets."""
    lines = ["| case | figure | baseline | addon | ratio |", "|---|---|---|---|---|"]

    def add(case: str, figure: str, base: float | None, value: float | None, rat: float | None) -> None:
        lines.append(f"| {case} | {figure} | {fmt(base)} | {fmt(value)} | {fmt(rat)} |")

    for level, res in r["passthrough"].items():
        b, a, q = res["baseline"], res["addon"], res["ratio_addon"]
        case = f"1 pass-through, {level[1:]} client(s)"
        add(case, "p50 ms", b["p50_ms"], a["p50_ms"], q["p50"])
        add(case, "p99 ms", b["p99_ms"], a["p99_ms"], q["p99"])
        add(case, "req/s", b["rps"], a["rps"], q["rps"])
        add(case, "proxy CPU ms/request", b["cpu_ms_per_request"], a["cpu_ms_per_request"], q["cpu"])
    for page, res in r["html_injection"].items():
        if page in ("inject_mb_s", "codec_floor_ms"):
            continue
        b, a, q = res["baseline"], res["addon"], res["ratio_addon"]
        add(f"2 HTML {page.replace('_', ' ')}", "p50 ms", b["p50_ms"], a["p50_ms"], q["p50"])
        add(f"2 HTML {page.replace('_', ' ')}", "proxy CPU ms/request", b["cpu_ms_per_request"],
            a["cpu_ms_per_request"], q["cpu"])
    for size in ("200k", "2m"):
        add(f"2 HTML {size} gzip", "floor CPU ms/request (baseline + decode/re-encode once) / addon / ratio",
            r["html_injection"][f"{size}_gzip"]["baseline"]["cpu_ms_per_request"] + r["html_injection"]["codec_floor_ms"][size],
            r["html_injection"][f"{size}_gzip"]["addon"]["cpu_ms_per_request"], gzip_vs_floor(r["html_injection"], size))
    for placement, sizes in r["html_injection"]["inject_mb_s"].items():
        for size, mbs in sizes.items():
            add("2 inject_script (pure)", f"MB/s, {size}, placement {placement}", None, mbs, None)
    edge = r["edge_cache"]
    for name in ("forwarded_baseline", "forwarded_addon", "hit", "floor"):
        add("3 20 KB page, 1 client", f"{name.replace('_', ' ')}: p50 ms / CPU ms per request", None,
            edge[name]["p50_ms"], edge[name]["cpu_ms_per_request"])
    for name, q in edge["ratio"].items():
        add("3 20 KB page, 1 client", f"{name.replace('_', ' ')}: p50 ratio / CPU ratio", None, q["p50"], q["cpu"])
    ref = r["refusals"]
    add("4 refusals, 8 clients", "refusals/s (hits/s as baseline)", ref["prefetch_hit"]["rps"], ref["refusals_per_s"],
        ref["ratio"]["refusal_vs_hit"]["rps"])
    add("4 refusals, 8 clients", "p50 ms (hit as baseline)", ref["prefetch_hit"]["p50_ms"], ref["refusal"]["p50_ms"],
        ref["ratio"]["refusal_vs_hit"]["p50"])
    add("4 refusals", "origin requests", None, ref["origin_requests"], None)
    for shape, counts in r["rule_matching"].items():
        for count, micros in counts.items():
            add(f"5 rule matching, {shape}", f"µs/request, {count} rules", None, micros, None)
    mem = r["memory"]
    add(f"6 memory, {mem['urls']:,} URLs, cache {mem['cache_mb']} MB", "peak RSS MB",
        mem["baseline"]["peak_rss_mb"], mem["addon"]["peak_rss_mb"], ratio(mem["addon"]["peak_rss_mb"], mem["baseline"]["peak_rss_mb"]))
    add("6 memory", "RSS growth over the 2nd half of the URLs, MB", mem["baseline_growth_second_half_mb"],
        mem["addon_growth_second_half_mb"], None)
    for path, res in r["browser"].items():
        if res.get("error"):
            lines.append(f"| 7 Chromium, {path} | not measured | — | — | {res['error']} |")
            continue
        for figure in ("response_start", "lcp"):
            add(f"7 Chromium, {path} (cold as baseline)", f"{figure} ms, median",
                res["cold"][figure], res["prefetched"][figure], res["ratio"][figure])
    flush = r["early_flush"]
    for enc in ("plain", "gzip"):
        f = flush[enc]
        add(f"8 early flush, 200 KB {enc}", "first body byte ms (direct as baseline)", f["direct"]["first_byte_ms"],
            f["addon"]["first_byte_ms"], ratio(f["addon"]["first_byte_ms"], f["direct"]["first_byte_ms"]))
        add(f"8 early flush, 200 KB {enc}", "first body byte ms, plain mitmdump (direct as baseline)",
            f["direct"]["first_byte_ms"], f["baseline"]["first_byte_ms"], None)
        add(f"8 early flush, 200 KB {enc}", "first body byte ms, mitmdump streaming everything (direct as baseline)",
            f["direct"]["first_byte_ms"], f["stream_floor"]["first_byte_ms"], None)
    fcp = flush["chromium"]
    add("8 early flush, Chromium", "FCP ms, median (direct as baseline)", fcp["direct"]["fcp_ms"], fcp["addon"]["fcp_ms"],
        ratio(fcp["addon"]["fcp_ms"], fcp["direct"]["fcp_ms"]))
    add("8 early flush, Chromium", "FCP ms, plain mitmdump (direct as baseline)", fcp["direct"]["fcp_ms"],
        fcp["baseline"]["fcp_ms"], ratio(fcp["baseline"]["fcp_ms"], fcp["direct"]["fcp_ms"]))
    add("8 early flush, Chromium", "FCP ms, mitmdump streaming everything (direct as baseline)", fcp["direct"]["fcp_ms"],
        fcp["stream_floor"]["fcp_ms"], ratio(fcp["stream_floor"]["fcp_ms"], fcp["direct"]["fcp_ms"]))
    big = r["big_response"]
    add("9 50 MB response (cache 64 MB)", "RSS growth MB", big["baseline"]["growth_mb"], big["addon"]["growth_mb"], None)
    add("9 50 MB response (cache 64 MB)", "first body byte ms", big["baseline"]["first_byte_ms"],
        big["addon"]["first_byte_ms"], ratio(big["addon"]["first_byte_ms"], big["baseline"]["first_byte_ms"]))
    lines += ["", "| budget | target | measured | holds |", "|---|---|---|---|"]
    for b in r["budgets"]:
        held = {True: "yes", False: "**no**", None: "—"}[b["holds"]]
        lines.append(f"| {b['budget']} | {b['comparison']} {fmt(b['target'])} {b['unit']} | {fmt(b['value'])} | {held} |")
    return "\n".join(lines)


def run(settings: Settings) -> dict:
    results: dict = {"meta": machine(settings)}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="prefetch-bench-") as tmp_name, origin_process() as origin:
        tmp = Path(tmp_name)
        with ExitStack() as stack:
            baseline = start_proxy(stack, tmp, "baseline", None)
            addon = start_proxy(stack, tmp, "addon", ADDON_SCRIPT)
            floor = start_proxy(stack, tmp, "floor", FLOOR_SCRIPT)
            progress("1 pass-through", started)
            results["passthrough"] = case_passthrough(settings, origin, baseline, addon)
            progress("2 HTML injection", started)
            results["html_injection"] = case_html(settings, origin, baseline, addon)
            results["html_injection"]["inject_mb_s"] = bench_micro.injection_throughput(settings.quick)
            progress("3 edge cache vs floor", started)
            results["edge_cache"] = case_edge_cache(settings, origin, baseline, addon, floor)
            progress("4 refusals", started)
            results["refusals"] = case_refusals(settings, origin, addon)
            progress("8 early flush", started)
            stream_floor = start_proxy(stack, tmp, "stream-floor", STREAM_FLOOR_SCRIPT)
            results["early_flush"] = bench_stream.early_flush(
                settings.flush_trials, {"direct": None, "baseline": baseline, "stream_floor": stream_floor, "addon": addon})
            results["early_flush"]["chromium"] = bench_stream.chromium_fcp(
                settings.browser_trials, {"direct": None, "baseline": baseline, "stream_floor": stream_floor, "addon": addon})
        results["html_injection"]["codec_floor_ms"] = {
            size: bench_stream.codec_floor_ms(PAGE_SIZES[size]) for size in ("200k", "2m")}
        progress("9 50 MB response", started)
        results["big_response"] = bench_stream.big_response_memory(
            tmp, origin, lambda stack, tmp, name, script, **options: start_proxy(
                stack, tmp, name, ADDON_SCRIPT if script else None, **options), memory_mb)
        progress("5 rule matching", started)
        results["rule_matching"] = bench_micro.rule_matching(settings.quick)
        progress("6 memory", started)
        results["memory"] = case_memory(settings, tmp, origin)
    progress("7 Chromium", started)
    with tempfile.TemporaryDirectory(prefix="prefetch-bench-browser-") as tmp_name:
        results["browser"] = bench_browser.run(settings.browser_trials, Path(tmp_name))
    results["meta"]["load_average_end"] = os.getloadavg()
    results["meta"]["seconds"] = round(time.monotonic() - started, 1)
    results["meta"]["errors"] = list(errors_in(results))
    results["budgets"] = budgets(results)
    return results


def errors_in(node: object, where: str = "") -> Iterator[str]:
    """Every failed request of the run (a figure measured over failures would mean nothing)."""
    if isinstance(node, dict):
        if node.get("errors"):
            yield f"{where}: {node['errors']} failed requests, e.g. {node.get('error_sample')}"
        for key, value in node.items():
            if key != "meta":
                yield from errors_in(value, f"{where}.{key}".strip("."))


def progress(step: str, started: float) -> None:
    print(f"[{time.monotonic() - started:6.1f}s] {step}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about a minute: every figure, small counts")
    parser.add_argument("--smoke", action="store_true", help="every figure with the fewest counts: checks that it runs")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="where to write the results")
    args = parser.parse_args(argv)
    results = run(SMOKE if args.smoke else QUICK if args.quick else FULL)
    meta = results["meta"]
    print(f"\nPrefetch Lab benchmark ({meta['settings']['name']}, {meta['seconds']} s): {meta['nproc']} × {meta['cpu']}, "
          f"Python {meta['python']}, mitmproxy {meta['mitmproxy']}, load average {meta['load_average_start'][0]:.2f} "
          f"at start\n")
    print(table(results))
    for error in meta["errors"]:
        print(f"WARNING: {error}", file=sys.stderr)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
