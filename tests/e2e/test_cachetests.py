"""The HTTP Caching Tests (npm http-cache-tests 0.4.5) against a real mitmdump in RFC mode.

One run of the suite (about 20 s) serves both tests. The goal is issue 23's measured figure,
157 of the 165 required tests passing and 1 conformance failure (README "Cache semantics" says
why for each other one), minus a margin of 2 tests and 1 failure for a timing-dependent test on a
loaded machine: at least 155 pass and at most 2 fail (squid 5.7: 122 / 22).
"""

from __future__ import annotations

import shutil

import pytest

from prefetch_lab.conformance import cache_tests as cachetests

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("node") is None or shutil.which("npm") is None, reason="needs node and npm")]

GOAL_PASS, GOAL_FAIL = 155, 2


@pytest.fixture(scope="module")
def summary():
    summary, results, _ = cachetests.run()
    print(summary.text())
    return summary, results


def test_the_suite_ran_every_required_test(summary):
    summary, results = summary
    assert summary.required == 165
    assert sum(summary.counts.values()) == 165 and summary.counts["untested"] == 0
    assert len(results) > 165  # optional and check tests ran too


def test_conformance_goal(summary):
    summary, _ = summary
    assert summary.passed >= GOAL_PASS and len(summary.failures) <= GOAL_FAIL, summary.text()


@pytest.mark.parametrize("published, passed, failed", [("squid.json", 122, 22), ("nginx.json", 94, 45)])
def test_counting_matches_the_published_figures(published, passed, failed):
    import json

    package = cachetests.suite_dir()
    summary = cachetests.summarise(cachetests.metadata(package), json.loads((package / "results" / published).read_text()))
    assert (summary.passed, len(summary.failures)) == (passed, failed)
