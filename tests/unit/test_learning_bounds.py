"""The learning bounds (issue 22): who a visitor is, the per-visitor rate limit and its bounded
memory, distinct visitors per link and the bands they allow, the admission of new entries into
a full graph, graph files with and without visitor records, and the options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import tflow

from prefetch_lab.learn.learned_rules import Thresholds, build_learned_document
from prefetch_lab.learn.traversal import TraversalGraph
from prefetch_lab.learn.view_bounds import (
    MAX_VISITORS_KEPT,
    Admission,
    MinVisitors,
    RateLimiter,
    parse_min_visitors,
    visitor_count,
    visitor_hash,
    visitor_id,
    with_visitor,
)
from prefetch_lab.rules.rule_file import load_rules
from tests.addon.route import route_context

ROOT = Path(__file__).resolve().parents[2]
RULES = load_rules([ROOT / "rules" / "default.yaml"])
HOST = "shop.example"
T0 = 1_700_000_000.0
NAVIGATE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"}


def v(name: str) -> bytes:
    return visitor_hash(visitor_id(None, name))


# ---- who a visitor is ------------------------------------------------------------------


def test_a_visitor_is_its_address_or_the_trusted_headers_last_value():
    assert visitor_id("203.0.113.7") == "ip:203.0.113.7"
    assert visitor_id("203.0.113.7", "") == "ip:203.0.113.7"  # header named but absent or empty
    assert visitor_id("203.0.113.7", "forged, 198.51.100.2") == "h:198.51.100.2"  # the nearest proxy's
    assert visitor_id("127.0.0.1", "train-3") == "h:train-3"
    # One IPv6 host holds a /64: rotating addresses within it is still one visitor.
    assert visitor_id("2001:db8:1:2::1") == visitor_id("2001:db8:1:2:ffff::9") == "ip:2001:db8:1:2::/64"
    assert visitor_id("2001:db8:1:3::1") != visitor_id("2001:db8:1:2::1")
    assert visitor_id("::ffff:192.0.2.1") == "ip:192.0.2.1"
    assert visitor_id(None) == "ip:?"
    assert len(visitor_hash("ip:192.0.2.1")) == 2 and visitor_hash("ip:192.0.2.1") == visitor_hash("ip:192.0.2.1")


def test_an_edge_keeps_distinct_visitors_up_to_its_cap():
    seen = b""
    for name in ("a", "b", "a", "c", "b"):
        seen = with_visitor(seen, v(name))
    assert visitor_count(seen) == 3
    for index in range(40):
        seen = with_visitor(seen, v(f"x{index}"))
    assert visitor_count(seen) == MAX_VISITORS_KEPT


# ---- the rate limit --------------------------------------------------------------------


def test_the_rate_limit_is_a_token_bucket_per_visitor():
    limiter = RateLimiter(per_minute=3)
    assert [limiter.allow("a", T0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", T0)  # another visitor has its own bucket
    assert not limiter.allow("a", T0 + 10)  # 10 s refill half a view
    assert limiter.allow("a", T0 + 20) and not limiter.allow("a", T0 + 20)  # 20 s: one view
    assert [limiter.allow("a", T0 + 600) for _ in range(4)] == [True, True, True, False]  # full, not more


def test_no_limit_at_zero_and_memory_bounded_by_the_least_recently_seen():
    unlimited = RateLimiter(per_minute=0)
    assert all(unlimited.allow("a", T0) for _ in range(1000)) and len(unlimited) == 0
    limiter = RateLimiter(per_minute=1, max_clients=2)
    assert limiter.allow("a", T0) and limiter.allow("b", T0) and not limiter.allow("a", T0)  # a: most recent
    assert limiter.allow("c", T0)  # forgets b, the least recently seen
    assert len(limiter) == 2
    assert not limiter.allow("a", T0)  # a was kept, its bucket empty
    assert limiter.allow("b", T0)  # b comes back with a full bucket
    with pytest.raises(ValueError):
        RateLimiter(per_minute=-1)


# ---- distinct visitors and the bands ---------------------------------------------------


def build(predictions, visitors, **bounds):
    return build_learned_document("https://shop.example/", predictions, RULES, lambda url: True,
                                  Thresholds(**bounds), visitors)


def bands(learned) -> dict[str, str]:
    return {d.url: d.action for d in learned.decisions}


def test_a_link_too_few_visitors_took_is_demoted_not_dropped():
    predictions = [("/sure", 0.9), ("/likely", 0.6), ("/maybe", 0.3)]
    learned = build(predictions, {"/sure": 1, "/likely": 3, "/maybe": 1}, min_visitors_prerender=3)
    assert bands(learned) == {"/sure": "prefetch-moderate", "/likely": "prerender-moderate", "/maybe": "prefetch-moderate"}
    [sure] = [d for d in learned.decisions if d.url == "/sure"]
    assert sure.reason == "1 distinct visitors < 3 for a prerender; p 0.900 >= 0.2"
    assert learned.document["prerender"] == [{"source": "list", "urls": ["/likely"], "eagerness": "moderate"}]
    # A prefetch minimum too: one visitor's links get only the fallback rule.
    learned = build(predictions, {"/sure": 1, "/likely": 3, "/maybe": 2}, min_visitors_prerender=3, min_visitors_prefetch=2)
    assert bands(learned) == {"/sure": "fallback", "/likely": "prerender-moderate", "/maybe": "prefetch-moderate"}


def test_a_minimum_of_one_and_no_visitor_record_are_no_bound():
    predictions = [("/sure", 0.9)]
    assert bands(build(predictions, {"/sure": 0})) == {"/sure": "prerender-immediate"}  # an old file: 0 recorded
    assert bands(build(predictions, None, min_visitors_prerender=3)) == {"/sure": "prerender-immediate"}
    assert bands(build(predictions, {}, min_visitors_prerender=3)) == {"/sure": "prefetch-moderate"}


def test_the_min_visitors_syntax():
    assert parse_min_visitors("prerender=3,prefetch=1") == MinVisitors(3, 1)
    assert parse_min_visitors("prerender=4") == MinVisitors(4, 1) and parse_min_visitors("") == MinVisitors(1, 1)
    for text, problem in (("prerender=0", "from 1 to 8"), ("prerender=9", "from 1 to 8"), ("prefetch=2", "must not need more"),
                          ("prerender=2.5", "whole number"), ("prerender=3,prerender=3", "twice"), ("eager=1", "name=value")):
        with pytest.raises(ValueError, match=problem):
            parse_min_visitors(text)


# ---- a full graph admits what two visitors asked for ------------------------------------


def test_one_client_cannot_evict_real_pages_from_a_full_graph():
    graph = TraversalGraph(max_nodes_per_host=4)
    for name in ("a", "b", "c"):  # three visitors taught / -> /real and /other
        graph.observe(HOST, None, "/", T0, v(name))
        graph.observe(HOST, "/", "/real", T0, v(name))
        graph.observe(HOST, "/real", "/other", T0, v(name))
    graph.observe(HOST, None, "/rare", T0, v("a"))  # the weakest real page, one view: full now
    real = set(graph.hosts[HOST].pages)
    for index in range(200):  # the flood: new pages, one visitor
        assert not graph.observe(HOST, "/", f"/spam{index}", T0, v("attacker"))
    assert set(graph.hosts[HOST].pages) == real and graph.evictions["pages"] == 0
    assert graph.admission.refused == 200
    # A page two visitors ask for gets in, displacing the weakest.
    assert not graph.observe(HOST, None, "/new", T0, v("a"))
    assert graph.observe(HOST, None, "/new", T0, v("b"))
    assert "/new" in graph.hosts[HOST].pages and "/rare" not in graph.hosts[HOST].pages


def test_one_client_cannot_evict_real_links_or_hosts_either():
    graph = TraversalGraph(max_edges_per_node=2, max_hosts=1)
    for name in ("a", "b"):
        for target in ("/x", "/y", "/z"):
            graph.observe(HOST, None, target, T0, v(name))
        graph.observe(HOST, "/", "/x", T0, v(name))
        graph.observe(HOST, "/", "/y", T0, v(name))
    for _ in range(50):  # a link to an existing page: the view counts, the link waits
        assert graph.observe(HOST, "/", "/z", T0, v("attacker"))
    assert set(graph.hosts[HOST].pages["/"].next) == {"/x", "/y"}
    assert graph.hosts[HOST].pages["/z"].views.weight == 52
    assert not graph.observe("other.example", None, "/", T0, v("attacker"))
    assert list(graph.hosts) == [HOST]
    # Without a visitor (the caller's own feeding) everything is admitted, as before issue 22.
    assert graph.observe(HOST, "/", "/z", T0) and "/z" in graph.hosts[HOST].pages["/"].next


def test_the_admission_doorkeeper_is_bounded():
    doorkeeper = Admission(max_pending=3)
    for index in range(10):
        assert not doorkeeper.admit(("page", index), v("a"))
    assert len(doorkeeper) == 3
    assert not doorkeeper.admit(("page", 0), v("b"))  # forgotten: b is its first visitor now
    assert doorkeeper.admit(("page", 9), v("b")) and len(doorkeeper) == 2  # remembered: admitted, dropped
    assert doorkeeper.admit(("page", 5), None)


# ---- the graph file ----------------------------------------------------------------------


def test_visitors_are_saved_and_a_file_from_before_them_still_loads(tmp_path):
    graph = TraversalGraph()
    for name in ("a", "b", "c"):
        graph.observe(HOST, "/", "/x", T0, v(name))
    path = tmp_path / "graph.json"
    graph.save(path, T0)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and data["hosts"][HOST]["pages"]["/"]["next"] == {"/x": 3.0}
    loaded, error = TraversalGraph.load(path)
    assert error is None and [p.visitors for p in loaded.explain(HOST, "/", T0)] == [3]
    # A file written before issue 22: no "visitors" keys. It loads; its links have no visitor
    # recorded, so a minimum above 1 keeps them out of the prerender bands until relearned.
    del data["hosts"][HOST]["pages"]["/"]["visitors"]
    path.write_text(json.dumps(data))
    old, error = TraversalGraph.load(path)
    assert error is None and [(p.url, p.visitors) for p in old.explain(HOST, "/", T0)] == [("/x", 0)]
    data["hosts"][HOST]["pages"]["/"]["visitors"] = {"/x": "zz"}
    path.write_text(json.dumps(data))
    _, error = TraversalGraph.load(path)
    assert "visitors: expected a hex string" in error


# ---- the stage ---------------------------------------------------------------------------


@pytest.fixture
def learning():
    with route_context() as route:
        yield route.tctx, route.stage("prefetch.learning")


def view_from(stage, address: str, url: str, headers: dict[str, str] | None = None) -> None:
    flow = tflow.tflow(resp=True)
    flow.client_conn.peername = (address, 50000)
    flow.request = http.Request.make("GET", url, b"", {**NAVIGATE, **(headers or {})})
    flow.response = http.Response.make(200, b"<p>page</p>", {"content-type": "text/html"})
    stage.response(flow)


@pytest.mark.parametrize("name, value, problem", [
    ("prefetch_learn_views_per_minute", -1, "0 \\(no limit\\) or more"),
    ("prefetch_learned_min_visitors", "prerender=1,prefetch=3", "must not need more"),
    ("prefetch_learn_visitor_header", "x visitor", "not a header name"),
])
def test_bad_bound_options_are_refused(learning, name, value, problem):
    tctx, stage = learning
    with pytest.raises(exceptions.OptionsError, match=f"{name}.*{problem}"):
        tctx.configure(stage, **{name: value})


def test_views_over_a_visitors_rate_are_not_counted_and_others_are(learning):
    tctx, stage = learning
    tctx.configure(stage, prefetch_learn_views_per_minute=5)
    for _ in range(20):
        view_from(stage, "192.0.2.1", "http://shop.test/a")
    view_from(stage, "192.0.2.2", "http://shop.test/a")
    assert stage.views == 6 and stage.limited == 15
    assert stage.graph.hosts["shop.test"].pages["/a"].views.weight == pytest.approx(6, abs=0.01)


def test_the_trusted_header_tells_visitors_apart_from_one_address(learning):
    tctx, stage = learning
    tctx.configure(stage, prefetch_learn_visitor_header="X-Visitor", prefetch_learn_views_per_minute=2)
    for index in range(4):
        for _ in range(3):  # the third view of each is over its rate
            view_from(stage, "127.0.0.1", "http://shop.test/b", {"x-visitor": f"walk-{index}", "referer": "http://shop.test/"})
    assert stage.views == 8 and stage.limited == 4
    [prediction] = stage.graph.explain("shop.test", "/", T0)
    assert prediction.visitors == 4


# ---- the audit's training proxy ------------------------------------------------------------


def test_only_the_audits_training_proxy_trusts_the_visitor_header():
    from prefetch_lab.audit.run import Audit
    from prefetch_lab.audit.settings import TRAINING_VISITOR_HEADER, AuditSettings

    audit = Audit(AuditSettings(url="http://127.0.0.1:9/", out=Path("/tmp/prefetch-lab-unit-audit"),
                                arms=["control", "learned"], train=2))
    assert audit.proxy_options(None, "train")["prefetch_learn_visitor_header"] == TRAINING_VISITOR_HEADER
    for arm in ("learned", "control"):  # the measured proxies keep the default: the address
        assert "prefetch_learn_visitor_header" not in audit.proxy_options(arm, f"{arm}-run0")
