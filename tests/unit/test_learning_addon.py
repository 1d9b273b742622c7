"""The Learning addon in mitmproxy's test context: option validation, the commands, the
periodic save (no network; the proxy itself is tested in tests/e2e/test_learned_proxy.py)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import taddons, tflow

from prefetch_lab.edge.context import EdgeContext
from prefetch_lab.learn.learned_rules import Thresholds
from prefetch_lab.edge.stages.learning import Learning
from tests.addon.route import route_context

NAVIGATE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"}


@pytest.fixture
def addons():
    with route_context() as route:  # the whole edge, default rules
        yield route.tctx, route.stage("prefetch.learning"), route.context


def navigation(url: str, referer: str | None = None) -> http.HTTPFlow:
    flow = tflow.tflow(resp=True)
    flow.request = http.Request.make("GET", url, b"", {**NAVIGATE, **({"referer": referer} if referer else {})})
    flow.response = http.Response.make(200, b"<p>page</p>", {"content-type": "text/html"})
    return flow


def view(learning: Learning, url: str, referer: str | None = None) -> None:
    learning.response(navigation(url, referer))


@pytest.mark.parametrize("name, value, problem", [
    ("prefetch_speculation", "smart", "fixed, learned"),
    ("prefetch_learned_thresholds", "prefetch=0.9", "prefetch <= prerender"),
    ("prefetch_learned_thresholds", "eager=0.1", "expected name=value"),
])
def test_bad_values_are_refused(addons, name, value, problem):
    tctx, learning, _ = addons
    with pytest.raises(exceptions.OptionsError, match=problem):
        tctx.configure(learning, **{name: value})


def test_thresholds_and_serving_mode_take_effect(addons):
    tctx, learning, lab = addons
    tctx.configure(learning, prefetch_learned_thresholds="immediate=0.9,prerender=0.6,prefetch=0.3")
    assert learning.thresholds == Thresholds(immediate=0.9, prerender=0.6, prefetch=0.3)
    assert lab.edge_files.speculation_rules_url("/a?b=1") == "/__edgio__/speculation-rules.json"
    tctx.configure(learning, prefetch_speculation="learned")
    assert lab.edge_files.speculation_rules_url("/a?b=1") == "/__edgio__/speculation-rules.json?page=%2Fa%3Fb%3D1"
    tctx.configure(learning, prefetch_speculation="fixed")
    assert lab.edge_files.speculation_rules_url("/a?b=1") == "/__edgio__/speculation-rules.json"


def test_prefetch_learn_off_counts_nothing(addons):
    tctx, learning, _ = addons
    tctx.configure(learning, prefetch_learn=False)
    view(learning, "http://shop.test/a", "http://shop.test/")
    assert learning.graph.stats()["pages"] == 0 and not learning.file.dirty


def test_explain_gives_each_prediction_its_arithmetic_and_its_band(addons):
    _, learning, _ = addons
    for _ in range(4):
        view(learning, "http://shop.test/")
        view(learning, "http://shop.test/a", "http://shop.test/")
    text = learning.explain("http://shop.test/")
    assert "/a: 4.00 of 4.00 views went there; p = 4.00 / (4.00 + prior 2) = 0.667" in text
    assert "other (left, reloaded, untracked): p = 0.333" in text
    assert "/a: excluded (the edge does not hold it)" in text  # nothing was cached here
    assert learning.explain("http://shop.test/nowhere") == "http://shop.test/nowhere: no next pages seen"
    assert "absolute URL" in learning.explain("/a")


def test_save_writes_the_file_and_a_new_file_is_loaded(addons, tmp_path):
    tctx, learning, _ = addons
    assert "not set" in learning.save()
    first = tmp_path / "first.json"
    tctx.configure(learning, prefetch_traversal_file=str(first))
    view(learning, "http://shop.test/a", "http://shop.test/")
    assert learning.file.dirty
    assert learning.save() == f"saved to {first}"
    assert not learning.file.dirty
    assert json.loads(first.read_text())["hosts"]["shop.test"]["pages"]["/"]["next"] == {"/a": pytest.approx(1.0)}
    # Another file: the new one's graph replaces the one in memory.
    other = tmp_path / "other.json"
    other.write_text(first.read_text().replace('"/a"', '"/b"'))
    tctx.configure(learning, prefetch_traversal_file=str(other))
    assert [p for p, _ in learning.graph.next_pages("shop.test", "/", 0)] == ["/b"]


def test_a_changed_graph_is_saved_periodically_off_the_event_loop(tmp_path):
    path = tmp_path / "graph.json"

    async def scenario() -> dict:
        learning = Learning(EdgeContext())
        learning.file.path, learning.save_interval_s = path, 0.05
        learning.running()
        try:
            await asyncio.sleep(0.2)
            assert not path.exists()  # nothing learned: nothing written
            view(learning, "http://shop.test/a", "http://shop.test/")
            for _ in range(600):  # a generous bound: the saver thread may be slow to get a turn
                if path.exists():
                    break
                await asyncio.sleep(0.05)
            assert not learning.file.dirty
            return json.loads(path.read_text())
        finally:
            learning._saver.cancel()

    # A loop of its own in a thread: Playwright's sync API (browser tests in the same run) keeps
    # one running in the main thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        saved = pool.submit(asyncio.run, scenario()).result(timeout=30)
    assert "/a" in saved["hosts"]["shop.test"]["pages"]["/"]["next"]
