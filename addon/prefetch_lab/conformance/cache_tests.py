"""Run the HTTP Caching Tests (npm `http-cache-tests`, the suite behind cache-tests.fyi) against
the edge in RFC mode, and count the results the way cache-tests.fyi does.

    python -m prefetch_lab.conformance.cache_tests [--json OUT] [--id TEST_ID]

The suite is installed with npm into ~/.cache/prefetch-lab/npm (never into the repo). Its origin
server listens on every interface by itself; it is started with `listen` pinned to 127.0.0.1.
The proxy is `mitmdump -s addon/prefetch.py --set prefetch_rules=none --set prefetch_inject=off
--mode reverse:http://127.0.0.1:PORT`.

Counting (checked against the suite's own results/squid.json, 122 pass / 22 fail, and nginx.json,
94 / 45): the required tests are those of kind `required` (or no kind) that are not browser-only;
a test whose `depends_on` did not pass is a dependency failure, not a conformance failure; a
`Setup` result is a setup failure.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from prefetch_lab.audit.gather.proxy_process import ProxyProcess

PACKAGE = "http-cache-tests"
VERSION = "0.4.5"
CACHE_DIR = Path(os.environ.get("PREFETCH_LAB_NPM_CACHE", Path.home() / ".cache" / "prefetch-lab" / "npm"))
PASS_TYPES = ("pass", "yes")

# Node snippets: the suite's server with listen() pinned to loopback, and the test metadata.
_SERVE = """
import http from 'http'
const listen = http.Server.prototype.listen
http.Server.prototype.listen = function (port, ...rest) { return listen.call(this, port, '127.0.0.1', ...rest) }
await import('./server/server.mjs')
"""
_META = """
const tests = (await import('./tests/index.mjs')).default
tests.push((await import('./tests/surrogate-control.mjs')).default)
const out = []
for (const suite of tests) for (const t of suite.tests) {
  out.push({ suite: suite.id, id: t.id, name: t.name, kind: t.kind || 'required',
             depends_on: t.depends_on || [], browser_only: !!t.browser_only })
}
console.log(JSON.stringify(out))
"""


def suite_dir(cache_dir: Path = CACHE_DIR) -> Path:
    """Install the exact version once (npm's own client); the package directory."""
    package = cache_dir / "node_modules" / PACKAGE
    manifest = package / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text()).get("version") != VERSION:
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache_dir),
                        f"{PACKAGE}@{VERSION}"], check=True, stdout=subprocess.DEVNULL)
    return package


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Summary:
    required: int
    counts: Counter
    failures: list[str]  # conformance failures: required tests that ran and failed

    @property
    def passed(self) -> int:
        return self.counts["pass"]

    def text(self) -> str:
        others = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if k not in ("pass", "fail"))
        lines = [f"http-cache-tests {VERSION}: {self.passed}/{self.required} required pass, "
                 f"{len(self.failures)} conformance failures ({others or 'nothing else'})"]
        lines += [f"  fail: {test_id}" for test_id in self.failures]
        return "\n".join(lines)


def summarise(meta: list[dict], results: dict) -> Summary:
    by_id = {test["id"]: test for test in meta}

    def outcome(test_id: str) -> str:  # lib/display.mjs determineTestResult
        test, result = by_id[test_id], results.get(test_id)
        if result is None:
            return "untested"
        if any(outcome(dep) not in PASS_TYPES for dep in test["depends_on"]):
            return "dependency_fail"
        if isinstance(result, list) and result and result[0] == "Setup":
            return "retry" if result[1] == "retry" else "setup_fail"
        if result is False:
            return "harness_fail"
        if test["kind"] == "required":
            return "pass" if result is True else "fail"
        if test["kind"] == "optimal":
            return "pass" if result is True else "optional_fail"
        return "yes" if result is True else "no"

    required = [t["id"] for t in meta if t["kind"] == "required" and not t["browser_only"]]
    outcomes = {test_id: outcome(test_id) for test_id in required}
    return Summary(len(required), Counter(outcomes.values()), [i for i, o in outcomes.items() if o == "fail"])


def metadata(package: Path) -> list[dict]:
    """Every test's id, kind, depends_on and browser_only, from the suite's own modules."""
    return json.loads(subprocess.run(["node", "--input-type=module", "-e", _META], cwd=package,
                                     check=True, capture_output=True, text=True).stdout)


def run(test_id: str = "", proxy_options: dict[str, str] | None = None) -> tuple[Summary, dict, list[dict]]:
    package = suite_dir()
    meta = metadata(package)
    origin_port = _free_port()
    env = {**os.environ, "npm_config_protocol": "http", "npm_config_port": str(origin_port),
           "npm_config_pidfile": os.devnull}
    origin = subprocess.Popen(["node", "--input-type=module", "-e", _SERVE], cwd=package, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert origin.stdout is not None
        line = origin.stdout.readline()
        if "Listening" not in line:
            raise RuntimeError(f"the suite's origin did not start: {line}")
        options = {"prefetch_rules": "none", "prefetch_inject": "off", **(proxy_options or {})}
        with tempfile.TemporaryDirectory() as confdir, ProxyProcess(
            Path(confdir), options, extra_args=["--mode", f"reverse:http://127.0.0.1:{origin_port}"]
        ) as proxy:
            started = time.monotonic()
            cli_env = {**os.environ, "npm_config_base": f"http://127.0.0.1:{proxy.port}", "npm_config_id": test_id,
                       "npm_package_config_id": test_id}  # cli.mjs runs all tests only when the id is ''
            done = subprocess.run(["node", "--no-warnings", "cli.mjs"], cwd=package, env=cli_env,
                                  capture_output=True, text=True, timeout=900)
            if test_id:
                print(done.stdout, done.stderr, file=sys.stderr)
                return summarise(meta, {}), {}, meta
            try:
                results = json.loads(done.stdout)
            except json.JSONDecodeError as e:
                raise RuntimeError(f"the suite printed no results ({e}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
            print(f"(suite ran in {time.monotonic() - started:.0f}s)", file=sys.stderr)
    finally:
        origin.terminate()
        origin.wait(10)
    return summarise(meta, results), results, meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the suite's raw results here")
    parser.add_argument("--id", default="", help="run one test and show its details")
    args = parser.parse_args(argv)
    summary, results, _ = run(args.id)
    if args.id:
        return 0
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(summary.text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
