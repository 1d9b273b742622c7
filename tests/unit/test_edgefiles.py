from __future__ import annotations

import json
import os

import pytest

from prefetch_lab.client import edge_files as edgefiles
from prefetch_lab.client.edge_files import EdgeFiles, is_edge_path
from prefetch_lab.rules.rule_file import load_rules_text

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


# ---------------------------------------------------------------- prefetch_client=DIR


def edgio_package(tmp_path, version: str = "7.13.13"):
    """A stand-in for an installed @edgio/prefetch (the real one is fetched by the browser test)."""
    package = tmp_path / "node_modules" / "@edgio" / "prefetch"
    cdn = package / "cdn"
    cdn.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": "@edgio/prefetch", "version": version}))
    (cdn / "install.js").write_text("/* edgio install */ window.Edgio = {};\n")
    (cdn / "service-worker.js").write_text("/* edgio sw */ self.skipWaiting();\n")
    return package, cdn


@pytest.mark.parametrize("value", ["ours", "OURS", " ours ", ""])
def test_client_ours_is_no_folder(value):
    assert edgefiles.client_folder(value) is None


def test_client_folder_is_the_cdn_folder_or_the_package(tmp_path):
    package, cdn = edgio_package(tmp_path)
    assert edgefiles.client_folder(str(cdn)) == cdn.resolve()
    assert edgefiles.client_folder(str(package)) == cdn.resolve()
    assert edgefiles.client_version(cdn) == "7.13.13"
    assert edgefiles.client_version(tmp_path) is None


def test_client_folder_problems_are_named(tmp_path):
    with pytest.raises(ValueError, match="no such folder"):
        edgefiles.client_folder(str(tmp_path / "missing"))
    _, cdn = edgio_package(tmp_path)
    (cdn / "service-worker.js").unlink()
    with pytest.raises(ValueError, match="has no service-worker.js"):
        edgefiles.client_folder(str(cdn))


def test_edgio_client_files_are_served_as_they_are_with_our_manifest(files, tmp_path):
    _, cdn = edgio_package(tmp_path)
    ours_manifest = files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", None)
    files.use_client(edgefiles.client_folder(str(cdn)))
    for path in ("/__edgio__/prefetch/install.js", "/__edgio__/prefetch/v7.13.13/install.js"):
        status, headers, body = files.respond(path, "shop.test", "http", "conservative", None)
        assert (status, body) == (200, (cdn / "install.js").read_bytes())
        assert headers["content-type"].startswith("text/javascript") and headers["cache-control"] == "no-cache"
    for path in ("/__edgio__service_worker_v7.13.13.js", "/__edgio__/prefetch/service-worker.js"):
        status, headers, body = files.respond(path, "shop.test", "http", "conservative", None)
        assert (status, body) == (200, (cdn / "service-worker.js").read_bytes())
        assert headers["service-worker-allowed"] == "/"
    assert files.respond("/__edgio__/cache-manifest.js", "shop.test", "http", "conservative", None) == ours_manifest


def test_edgio_client_files_are_reread_when_edited_and_ours_come_back(files, tmp_path):
    _, cdn = edgio_package(tmp_path)
    files.use_client(cdn)
    first = files.respond("/__edgio__/prefetch/install.js", "shop.test", "http", "conservative", None)
    (cdn / "install.js").write_text("/* edited, longer */ window.Edgio = {v: 2};\n")
    os.utime(cdn / "install.js", ns=(1, 10**18))  # a different mtime whatever the clock's resolution
    second = files.respond("/__edgio__/prefetch/install.js", "shop.test", "http", "conservative", None)
    assert second[2] == (cdn / "install.js").read_bytes() and second[1]["etag"] != first[1]["etag"]
    (cdn / "install.js").unlink()
    assert files.respond("/__edgio__/prefetch/install.js", "shop.test", "http", "conservative", None)[0] == 404
    files.use_client(None)
    status, _, body = files.respond("/__edgio__/prefetch/install.js", "shop.test", "http", "conservative", None)
    assert status == 200 and (edgefiles.STATIC / "manifest-eval.js").read_bytes() in body


def test_per_host_documents_are_bounded_least_recently_used_first():
    files = edgefiles.EdgeFiles()
    files.respond("/__edgio__/cache-manifest.js", "keep.test", "https", "conservative", None)
    for n in range(edgefiles.MAX_HOSTS_KEPT + 50):
        files.respond("/__edgio__/cache-manifest.js", f"h{n}.test", "https", "conservative", None)
        if n % 100 == 0:  # one host in steady use stays
            files.respond("/__edgio__/cache-manifest.js", "keep.test", "https", "conservative", None)
    assert len(files._per_host) == edgefiles.MAX_HOSTS_KEPT
    assert ("manifest", "keep.test") in files._per_host and ("manifest", "h0.test") not in files._per_host
