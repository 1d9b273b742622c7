from __future__ import annotations

import json

import pytest

from prefetch_lab import edgefiles
from prefetch_lab.edgefiles import EdgeFiles, is_edge_path
from prefetch_lab.rules import load_rules_text

RULES = load_rules_text(
    "rules:\n"
    "  - match: {path: /pages/:id}\n    caching: {max_age: 1h, service_worker_max_age: 1h}\n"
    "  - match: {host: other.test, path: /only-there}\n    caching: {max_age: 1h, service_worker_max_age: 1h}\n",
    "site.yaml",
)


@pytest.fixture()
def files() -> EdgeFiles:
    edge = EdgeFiles()
    edge.rules_changed(RULES)
    return edge


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/__edgio__/prefetch/install.js", True),
        ("/__edgio__service_worker_v7.13.13.js", True),
        ("/__edgio__", False),
        ("/__edgio__x/install.js", False),
        ("/pages/__edgio__/", False),
    ],
)
def test_edge_paths(path, expected):
    assert is_edge_path(path) is expected


def test_install_js_is_the_shared_evaluator_then_the_window_code(files):
    status, headers, body = files.respond("/__edgio__/prefetch/install.js", "shop.test", "http", "conservative", None)
    parts = [(edgefiles.STATIC / name).read_bytes() for name in edgefiles.BUNDLES["install"]]
    assert status == 200 and headers["content-type"].startswith("text/javascript")
    assert body.index(parts[0]) < body.index(parts[1])
    assert headers["cache-control"] == "no-cache"
    versioned = files.respond("/__edgio__/prefetch/v7.13.13/install.js", "shop.test", "http", "conservative", None)
    assert versioned[2] == body


def test_service_worker_may_control_the_whole_site(files):
    for path in ("/__edgio__/prefetch/service-worker.js", "/__edgio__service_worker_v7.13.13.js"):
        status, headers, body = files.respond(path, "shop.test", "http", "conservative", None)
        assert status == 200 and headers["service-worker-allowed"] == "/"
        assert (edgefiles.STATIC / "service-worker.js").read_bytes() in body


def test_matching_etag_gets_304(files):
    _, headers, _ = files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", None)
    status, _, body = files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", f'W/{headers["etag"]}')
    assert (status, body) == (304, b"")


def test_manifest_and_speculation_rules_are_per_host(files):
    _, _, here = files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", None)
    _, _, there = files.respond("/__edgio__/cache-manifest.js", "other.test", "http", "conservative", None)
    assert b"/only-there" not in here and b"/only-there" in there
    status, headers, body = files.respond("/__edgio__/speculation-rules.json", "shop.test", "http", "moderate", None)
    assert headers["content-type"] == "application/speculationrules+json"
    assert json.loads(body)["prefetch"][0]["eagerness"] == "moderate"


def test_new_rules_replace_memoised_answers(files):
    assert files.has_speculation_rules("shop.test", "http", "conservative")
    files.rules_changed(load_rules_text("rules: []\n", "empty.yaml"))
    assert not files.has_speculation_rules("shop.test", "http", "conservative")
    _, _, body = files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", None)
    assert b"/pages/:id" not in body


def test_unknown_edge_path_is_a_local_404(files):
    assert files.respond("/__edgio__/nope", "shop.test", "http", "conservative", None)[0] == 404
