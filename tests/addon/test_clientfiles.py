"""prefetch_client (the edge files stage) and how the edge classifies Edgio's own client's prefetches."""

from __future__ import annotations

import pytest
from mitmproxy import exceptions

from tests.addon.route import route_context
from tests.addon.test_addon import Edge, audit
from tests.unit.test_edgefiles import edgio_package


@pytest.fixture()
def lab(tmp_path):
    with route_context(Edge, prefetch_audit_file=str(tmp_path / "audit.jsonl"), prefetch_client="ours") as edge:
        yield edge.tctx, edge.stage("prefetch.edgefiles"), edge


def test_prefetch_client_serves_edgio_files_and_keeps_our_manifest(lab, tmp_path):
    tctx, client, edge = lab
    _, cdn = edgio_package(tmp_path)
    ours = edge.fetch("http://shop.test/__edgio__/prefetch/install.js").response.content
    assert b"PrefetchLabRules" in ours
    tctx.configure(client, prefetch_client=str(cdn))
    install = edge.fetch("http://shop.test/__edgio__/prefetch/install.js").response
    worker = edge.fetch("http://shop.test/__edgio__service_worker_v7.13.13.js").response
    assert install.content == (cdn / "install.js").read_bytes()
    assert worker.content == (cdn / "service-worker.js").read_bytes()
    assert edge.fetch("http://shop.test/__edgio__/cache-manifest.js").response.content.startswith(b"self.__EDGIO_CACHE_MANIFEST__")
    assert edge.origin_hits == []
    tctx.configure(client, prefetch_client="ours")
    assert edge.fetch("http://shop.test/__edgio__/prefetch/install.js").response.content == ours


def test_prefetch_client_rejects_a_folder_without_edgio_files(lab, tmp_path):
    tctx, client, _ = lab
    with pytest.raises(exceptions.OptionsError, match="prefetch_client: .*no such folder"):
        tctx.configure(client, prefetch_client=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(exceptions.OptionsError, match="has no install.js or service-worker.js"):
        tctx.configure(client, prefetch_client=str(tmp_path / "empty"))


def test_edgio_params_decide_before_sec_purpose(lab, tmp_path):
    """Edgio's client prefetches with <link rel=prefetch as=fetch>: Sec-Purpose: prefetch plus
    its params. Without edgio_prefetch (include cache misses) a real Edgio edge forwards it."""
    _, _, edge = lab
    link = {"Sec-Purpose": "prefetch"}
    forwarded = edge.fetch("http://shop.test/p/1?edgio_dt_pf=1", **link)
    assert forwarded.response.status_code == 200 and edge.origin_hits == ["http://shop.test/p/1"]
    refused = edge.fetch("http://shop.test/p/2?edgio_dt_pf=1&edgio_prefetch=1", **link)
    assert refused.response.status_code == 412 and refused.response.headers["x-edg-p"] == "1"
    speculation = edge.fetch("http://shop.test/p/3", **link)
    assert speculation.response.status_code == 412
    assert edge.origin_hits == ["http://shop.test/p/1"]
    records = [r for r in audit(tmp_path) if r["event"].startswith("prefetch-")]
    assert [(r["event"], r["prefetch"], r.get("reason"), r["url"].split("/")[-1]) for r in records] == [
        ("prefetch-forwarded", "edgio", "include-cache-misses", "1?edgio_dt_pf=1"),
        ("prefetch-refused", "edgio", "not-cached", "2?edgio_dt_pf=1&edgio_prefetch=1"),
        ("prefetch-refused", "speculation", "not-cached", "3"),
    ]
