"""scripts/bench.py completes and produces every figure (their values are not checked:
the benchmark reports budgets, it does not assert them). It runs with --smoke, the same cases and
code as --quick with the fewest counts (one round, one trial, shorter bursts): what is checked here,
that every figure is a number, the budgets are judged and the table printed, depends on no count."""

from __future__ import annotations

import json
import subprocess
import sys
from numbers import Real

import pytest

from tests.harness import ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

LEVELS = ("c1", "c8", "c64")
PAGES = [f"{size}_{encoding}" for size in ("20k", "200k", "2m") for encoding in ("plain", "gzip")]
LOAD_FIGURES = ("p50_ms", "p99_ms", "rps", "cpu_ms_per_request")
RATIO_FIGURES = ("p50", "p99", "rps", "cpu")


def figure_paths() -> list[str]:
    paths: list[str] = []
    for level in LEVELS:
        paths += [f"passthrough.{level}.{v}.{f}" for v in ("baseline", "addon") for f in LOAD_FIGURES]
        paths += [f"passthrough.{level}.ratio_addon.{f}" for f in RATIO_FIGURES]
    for page in PAGES:
        paths += [f"html_injection.{page}.{v}.{f}" for v in ("baseline", "addon") for f in LOAD_FIGURES]
        paths += [f"html_injection.{page}.ratio_addon.{f}" for f in RATIO_FIGURES]
    paths += [f"html_injection.inject_mb_s.{p}.{s}" for p in ("body", "head") for s in ("20k", "200k", "2m")]
    paths += [f"edge_cache.{v}.{f}" for v in ("forwarded_baseline", "forwarded_addon", "hit", "floor")
              for f in LOAD_FIGURES]
    paths += [f"edge_cache.ratio.{r}.{f}" for r in ("hit_vs_floor", "hit_vs_forwarded", "floor_vs_forwarded",
                                                   "forwarded_addon_vs_baseline") for f in RATIO_FIGURES]
    paths += [f"refusals.{v}.{f}" for v in ("refusal", "prefetch_hit") for f in LOAD_FIGURES]
    paths += ["refusals.refusals_per_s", "refusals.origin_requests"]
    paths += [f"refusals.ratio.refusal_vs_hit.{f}" for f in RATIO_FIGURES]
    paths += [f"rule_matching.{shape}.{n}" for shape in ("indexed", "unindexed") for n in ("1", "100", "1000")]
    paths += [f"memory.{v}.{f}" for v in ("baseline", "addon") for f in ("idle_rss_mb", "peak_rss_mb", "final_rss_mb")]
    paths += ["memory.addon_growth_second_half_mb", "memory.baseline_growth_second_half_mb",
              "memory.peak_over_baseline_mb"]
    for path in ("speculation", "edgio"):
        paths += [f"browser.{path}.{kind}.{f}" for kind in ("prefetched", "cold") for f in ("response_start", "lcp")]
        paths += [f"browser.{path}.ratio.{f}" for f in ("response_start", "lcp")]
    for enc in ("plain", "gzip"):
        paths += [f"early_flush.{enc}.{v}.{f}" for v in ("direct", "baseline", "stream_floor", "addon")
                  for f in ("first_byte_ms", "complete_ms")]
    paths += [f"early_flush.chromium.{v}.fcp_ms" for v in ("direct", "baseline", "stream_floor", "addon")]
    paths += [f"html_injection.codec_floor_ms.{size}" for size in ("200k", "2m")]
    paths += [f"big_response.{v}.{f}" for v in ("baseline", "addon") for f in ("growth_mb", "first_byte_ms")]
    return paths


def lookup(results: dict, dotted: str):
    node = results
    for key in dotted.split("."):
        assert isinstance(node, dict) and key in node, f"missing {dotted} (at {key})"
        node = node[key]
    return node


def test_the_benchmark_produces_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench.py"), "--smoke", "--json", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=240,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = json.loads(out.read_text())

    missing = [p for p in figure_paths() if not _is_number(lookup(results, p))]
    assert missing == [], f"figures that are not numbers: {missing}"
    assert results["meta"]["errors"] == [], "failed requests during the run"
    assert len(results["memory"]["addon"]["samples"]) >= 2
    assert results["budgets"] and all(
        _is_number(b["value"]) and b["holds"] in (True, False) for b in results["budgets"]
    ), results["budgets"]
    assert "| budget |" in run.stdout, "the table was not printed"


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)
