"""The traversal graph: counting, decay, smoothing, caps and eviction, persistence."""

from __future__ import annotations

import json
import os

import pytest

from prefetch_lab.learn.traversal import (
    FORMAT,
    VERSION,
    TraversalGraph,
    normalise_host,
    page_key,
    site_of,
)

HOST = "shop.example"
DAY = 86_400.0
T0 = 1_700_000_000.0


def views(graph: TraversalGraph, path: str, count: int, source: str | None = None, now: float = T0) -> None:
    for _ in range(count):
        graph.observe(HOST, source, path, now)


def test_page_key_normalises_as_the_cache_key_does():
    assert page_key("https://Shop.example/a/b?x=1&edgio_prefetch=1&edgio_dt_pf=1#top") == "/a/b?x=1"
    assert page_key("/a?edgio_prefetch=1") == "/a"
    assert page_key("https://shop.example") == "/"
    assert page_key("/A/b?y=2&x=1") == "/A/b?y=2&x=1"  # paths and query order kept, as the cache key does
    # A path starting with "//" is refused: a browser would read it as another host.
    assert page_key("https://shop.example//evil.example/x") is None
    assert page_key("//evil.example/x") == "/x" and site_of("//evil.example/x") == "evil.example"
    assert page_key("relative/path") is None
    assert site_of("https://Shop.Example:443/x") == "shop.example"
    assert site_of("http://127.0.0.1:8080/x") == "127.0.0.1:8080"
    assert normalise_host("::1", 8080, "http") == "[::1]:8080"


def test_each_observation_is_one_page_view_and_one_click():
    graph = TraversalGraph()
    assert graph.observe(HOST, None, "/", T0)
    assert graph.observe(HOST, "https://shop.example/", "https://shop.example/p/1", T0)
    node = graph.hosts[HOST].pages
    assert node["/"].views.weight == 1 and node["/p/1"].views.weight == 1
    assert {k: e.weight for k, e in node["/"].next.items()} == {"/p/1": 1}
    assert graph.next_pages(HOST, "/", T0) == [("/p/1", pytest.approx(1 / 3))]


def test_fragments_and_edgio_params_are_the_same_page_and_a_reload_is_no_click():
    graph = TraversalGraph()
    views(graph, "/", 1)
    graph.observe(HOST, "/#top", "/p/1?edgio_prefetch=1#reviews", T0)
    graph.observe(HOST, "/p/1", "/p/1#again", T0)  # a reload: a view, not a transition
    assert graph.next_pages(HOST, "/", T0) == [("/p/1", pytest.approx(1 / 3))]
    assert graph.next_pages(HOST, "/p/1", T0) == []
    assert graph.hosts[HOST].pages["/p/1"].views.weight == 2


def test_other_hosts_referrers_count_the_view_without_a_click():
    graph = TraversalGraph()
    assert graph.observe(HOST, "https://search.example/?q=shop", "https://shop.example/p/1", T0)
    assert not graph.observe(HOST, None, "https://elsewhere.example/p/1", T0)
    assert graph.hosts[HOST].pages["/p/1"].views.weight == 1
    assert all(not node.next for node in graph.hosts[HOST].pages.values())


def test_smoothing_keeps_sparse_evidence_modest_and_probabilities_sum_below_one():
    graph = TraversalGraph(prior=2)
    views(graph, "/", 1)
    views(graph, "/a", 1, source="/")
    assert graph.next_pages(HOST, "/", T0) == [("/a", pytest.approx(1 / 3))]  # one click: not prerender
    views(graph, "/", 9)
    views(graph, "/a", 7, source="/")
    views(graph, "/b", 2, source="/")
    # 10 views of "/": 8 went to /a, 2 to /b, 0 left; p = clicks / (views + prior)
    assert graph.next_pages(HOST, "/", T0) == [("/a", pytest.approx(8 / 12)), ("/b", pytest.approx(2 / 12))]
    assert graph.other_probability(HOST, "/", T0) == pytest.approx(2 / 12)
    [first, _] = graph.explain(HOST, "/", T0)
    assert "8.00 of 10.00 views" in first.explain() and "prior 2" in first.explain()


def test_views_where_the_visitor_left_lower_the_probability():
    graph = TraversalGraph(prior=0)
    views(graph, "/", 10)
    views(graph, "/a", 5, source="/")
    assert graph.next_pages(HOST, "/", T0) == [("/a", pytest.approx(0.5))]


def test_probabilities_never_sum_above_one_even_without_the_page_views():
    graph = TraversalGraph(prior=0)
    for target in ("/a", "/b", "/c"):
        graph.observe(HOST, "/", target, T0)  # "/" itself was never viewed (e.g. before a restart)
    assert sum(p for _, p in graph.next_pages(HOST, "/", T0)) == pytest.approx(1.0)


def test_decay_halves_weights_per_half_life_and_follows_a_changed_site():
    graph = TraversalGraph(half_life_s=DAY)
    views(graph, "/", 20)
    views(graph, "/old", 20, source="/")
    assert graph.next_pages(HOST, "/", T0) == [("/old", pytest.approx(20 / 22))]
    # Two half-lives later the evidence is a quarter: less confident, same page.
    assert graph.next_pages(HOST, "/", T0 + 2 * DAY) == [("/old", pytest.approx(5 / 7))]
    # The link moved: a day of the new behaviour outweighs the faded old one.
    later = T0 + 3 * DAY
    views(graph, "/", 10, now=later)
    views(graph, "/new", 10, source="/", now=later)
    [(best, p_new), (second, p_old)] = graph.next_pages(HOST, "/", later)
    assert (best, second) == ("/new", "/old")
    assert p_new == pytest.approx(10 / 14.5) and p_old == pytest.approx(2.5 / 14.5)


def test_edges_beyond_the_cap_evict_the_weakest_and_its_weight_becomes_other():
    graph = TraversalGraph(max_edges_per_node=2, prior=0)
    views(graph, "/", 6)
    views(graph, "/a", 3, source="/")
    views(graph, "/b", 2, source="/")
    views(graph, "/c", 1, source="/")  # a new next page always gets in: the weakest edge, /b, goes
    node = graph.hosts[HOST].pages["/"]
    assert set(node.next) == {"/a", "/c"}
    assert graph.stats()["evicted"]["edges"] == 1
    # /b's two clicks stay in the views: they are "other" now, not shared out among the rest.
    assert graph.next_pages(HOST, "/", T0) == [("/a", pytest.approx(3 / 6)), ("/c", pytest.approx(1 / 6))]


def test_pages_beyond_the_cap_evict_the_least_viewed_but_never_the_pair_being_counted():
    graph = TraversalGraph(max_nodes_per_host=3)
    views(graph, "/", 5)
    views(graph, "/a", 3)
    views(graph, "/b", 1)
    graph.observe(HOST, "/b", "/c", T0)  # /b is the weakest but is the source of this click
    assert set(graph.hosts[HOST].pages) == {"/", "/b", "/c"}
    assert graph.next_pages(HOST, "/b", T0) == [("/c", pytest.approx(1 / 3))]
    assert graph.stats()["pages"] == 3 and graph.stats()["evicted"]["pages"] == 1


def test_old_pages_lose_to_new_ones_by_decayed_weight():
    graph = TraversalGraph(max_nodes_per_host=2, half_life_s=DAY)
    views(graph, "/old", 8)
    views(graph, "/", 4, now=T0 + 4 * DAY)  # /old is worth 0.5 now
    views(graph, "/new", 1, now=T0 + 4 * DAY)
    assert set(graph.hosts[HOST].pages) == {"/", "/new"}


def test_hosts_beyond_the_cap_evict_the_least_visited():
    graph = TraversalGraph(max_hosts=2)
    for host, count in (("a.example", 3), ("b.example", 1), ("c.example", 1)):
        for _ in range(count):
            graph.observe(host, None, "/", T0)
    assert set(graph.hosts) == {"a.example", "c.example"}
    assert graph.stats()["hosts"] == 2


def test_save_and_load_round_trip(tmp_path):
    graph = TraversalGraph()
    views(graph, "/", 4)
    views(graph, "/a?x=1", 3, source="/")
    graph.observe("other.example:8080", "/", "/z", T0)
    path = tmp_path / "graph.json"
    graph.save(path, T0 + DAY)
    data = json.loads(path.read_text())
    assert data["format"] == FORMAT and data["version"] == VERSION
    assert [p.name for p in tmp_path.iterdir()] == ["graph.json"]  # no temporary file left behind
    loaded, error = TraversalGraph.load(path)
    assert error is None
    for host, url in ((HOST, "/"), ("other.example:8080", "/")):
        later = T0 + 2 * DAY
        expected = graph.next_pages(host, url, later)
        assert expected and [u for u, _ in loaded.next_pages(host, url, later)] == [u for u, _ in expected]
        assert [p for _, p in loaded.next_pages(host, url, later)] == pytest.approx([p for _, p in expected])
    assert loaded.stats()["edges"] == graph.stats()["edges"] == 2


def test_load_applies_todays_caps(tmp_path):
    graph = TraversalGraph()
    views(graph, "/", 20)
    for i in range(5):
        views(graph, f"/p/{i}", i + 1, source="/")
    path = tmp_path / "graph.json"
    graph.save(path, T0)
    loaded, error = TraversalGraph.load(path, max_edges_per_node=2, max_nodes_per_host=4)
    assert error is None
    assert [url for url, _ in loaded.next_pages(HOST, "/", T0)] == ["/p/4", "/p/3"]
    assert len(loaded.hosts[HOST].pages) == 4


def test_a_missing_file_is_a_fresh_graph_without_error(tmp_path):
    graph, error = TraversalGraph.load(tmp_path / "none.json", half_life_s=60)
    assert error is None and graph.stats()["pages"] == 0 and graph.half_life_s == 60


@pytest.mark.parametrize("content, problem", [
    (b"{not json", "Expecting property name"),
    (b"[]", "not a traversal graph file"),
    (json.dumps({"format": FORMAT, "version": 99}).encode(), "format version 99"),
    (json.dumps({"format": FORMAT, "version": VERSION, "saved_at": 1, "hosts": {"h": {"views": 1}}}).encode(), "pages"),
    (json.dumps({"format": FORMAT, "version": VERSION, "saved_at": 1,
                 "hosts": {"h": {"views": 1, "pages": {"/": {"views": -1, "next": {}}}}}}).encode(), "non-negative"),
    (json.dumps({"format": FORMAT, "version": VERSION, "saved_at": 1,
                 "hosts": {"h": {"views": 1, "pages": {"//x": {"views": 1, "next": {}}}}}}).encode(), "not a page key"),
    (b"\xff\xfe", "cannot read it"),
])
def test_a_corrupt_file_gives_a_clear_error_and_a_fresh_graph(tmp_path, content, problem):
    path = tmp_path / "graph.json"
    path.write_bytes(content)
    graph, error = TraversalGraph.load(path)
    assert error is not None and problem in error and str(path) in error and "empty graph" in error
    assert graph.stats()["pages"] == 0 and graph.hosts == {}


def test_an_unreadable_file_gives_a_clear_error(tmp_path):
    graph, error = TraversalGraph.load(tmp_path)  # a folder: reading fails
    assert error is not None and "cannot read it" in error and graph.hosts == {}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "graph.json"
    TraversalGraph().save(path, T0)
    before = path.read_bytes()

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    graph = TraversalGraph()
    views(graph, "/", 1)
    with pytest.raises(OSError, match="disk full"):
        graph.save(path, T0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["graph.json"]


def test_invalid_parameters_are_refused():
    for options in ({"half_life_s": 0}, {"max_nodes_per_host": 0}, {"prior": -1}):
        with pytest.raises(ValueError):
            TraversalGraph(**options)
