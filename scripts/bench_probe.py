#!/usr/bin/env python3
"""An interleaved A/B probe of proxy CPU per request: several mitmdump variants, one case.

    .venv/bin/python scripts/bench_probe.py --case pass --variants baseline,addon
    .venv/bin/python scripts/bench_probe.py --case pass --variants baseline,old=/tmp/old/addon/prefetch.py,addon
    .venv/bin/python scripts/bench_probe.py --case hit --variants floor=scripts/bench_floor.py,addon
    .venv/bin/python scripts/bench_probe.py --case html200k --variants baseline,floor=scripts/bench_stream_floor.py,addon

A variant is `name` (`baseline`: plain mitmdump; `addon`: addon/prefetch.py) or `name=script`
(any mitmdump script, e.g. an older checkout's shim, for a before/after in the same process set).
The variants take turns in rounds, as in bench.py; ratios are against the first variant.
`--py-spy NAME,...` records those variants with py-spy (raw format, /tmp/bench-probe-NAME.txt).
`--trail`: the addon variants write an audit trail, as the audit's proxies do (its records' cost).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (ROOT, ROOT / "addon", ROOT / "scripts"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

import bench  # noqa: E402
from bench_load import Load, compare, cycle, rounds  # noqa: E402

CASES = {  # paths on scripts/bench_origin.py and request headers, as bench.py's cases use them
    "pass": (list(bench.ASSETS), {}),
    "hit": (["/edge/page"], {}),
    **{f"html{size}": ([f"/html/{size}"], {"accept-encoding": "gzip"}) for size in ("20k", "200k", "2m")},
    **{f"html{size}gz": ([f"/html/{size}-gzip"], {"accept-encoding": "gzip"}) for size in ("20k", "200k", "2m")},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--case", choices=sorted(CASES), default="pass")
    parser.add_argument("--variants", default="baseline,addon")
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=1.5, help="per variant per round")
    parser.add_argument("--requests", type=int, default=5000, help="at most, per variant per round")
    parser.add_argument("--py-spy", default="", help="variants to record with py-spy")
    parser.add_argument("--trail", action="store_true",
                        help="the addon variants record an audit trail (prefetch_audit_file), as an audit's proxies do")
    args = parser.parse_args()
    paths, headers = CASES[args.case]
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        origin = stack.enter_context(bench.origin_process())
        urls = [origin + path for path in paths]
        variants = {}
        for spec in args.variants.split(","):
            name, _, script = spec.partition("=")
            path = None if name == "baseline" and not script else Path(script) if script else bench.ADDON_SCRIPT
            trail = {"prefetch_audit_file": str(Path(tmp) / f"{name}.trail.jsonl")} if args.trail and path else {}
            proxy = bench.start_proxy(stack, Path(tmp), name, path.resolve() if path else None, **trail)
            if args.case == "hit":
                proxy.request("GET", urls[0])  # the edge fills (the floor answers anyway)
            variants[name] = (proxy, Load(cycle(urls), headers=headers))
        spies = [
            subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "-r", "500", "--format", "raw",
                              "-o", f"/tmp/bench-probe-{name}.txt", "--pid", str(variants[name][0].proc.pid),
                              "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name in filter(None, args.py_spy.split(","))
        ]
        if spies:
            time.sleep(1)
        pooled = rounds(variants, args.clients, args.rounds, args.requests, args.seconds)
        for spy in spies:
            spy.send_signal(2)
            spy.wait(30)
    first = next(iter(pooled))
    print(f"case {args.case}, {args.clients} client(s), {args.rounds} rounds, load average {os.getloadavg()[0]:.2f} at the end")
    for name, stats in pooled.items():
        if not stats.latencies:
            print(f"{name:12s} no answers: {stats.errors} errors, e.g. {stats.error_sample}")
            continue
        ratio = compare(stats, pooled[first])
        print(f"{name:12s} {len(stats.latencies):6d} requests  CPU {stats.cpu_ms_per_request:.3f} ms/request "
              f"({ratio['cpu']:.3f}x)  p50 {stats.percentile_ms(0.5):.3f} ms ({ratio['p50']:.3f}x)  errors {stats.errors}")


if __name__ == "__main__":
    main()
