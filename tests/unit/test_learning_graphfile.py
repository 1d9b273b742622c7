"""The traversal graph's file (graphfile.py): switching files, and writes that land in order."""

import json

from prefetch_lab.learn.graph_file import GraphFile
from prefetch_lab.learn.traversal import TraversalGraph


def graph_with(page: str) -> TraversalGraph:
    graph = TraversalGraph()
    graph.observe("shop.test", "/", page, 0.0)
    return graph


def test_an_older_snapshot_never_replaces_a_newer_one(tmp_path):
    file = GraphFile()
    file.path = tmp_path / "graph.json"
    older = file._snapshot(graph_with("/old"))
    newer = file._snapshot(graph_with("/new"))
    file._write(*newer)
    file._write(*older)  # e.g. a periodic write from a thread that finished late
    assert "/new" in json.loads(file.path.read_text())["hosts"]["shop.test"]["pages"]["/"]["next"]


def test_switching_files_writes_the_old_one_first_and_keeps_the_graph_when_the_new_one_is_absent(tmp_path):
    file = GraphFile()
    graph = file.use(str(tmp_path / "first.json"), graph_with("/a"))
    file.changed()
    kept = file.use(str(tmp_path / "second.json"), graph)
    assert kept is graph and not (tmp_path / "second.json").exists()
    assert "/a" in json.loads((tmp_path / "first.json").read_text())["hosts"]["shop.test"]["pages"]["/"]["next"]
    assert file.use("", graph) is graph and file.path is None
    assert "not set" in file.save(graph)
