"""Learned speculation through a real mitmdump: the graph is fed by document navigations only,
each HTML page names its own rules document, that document has the bands the graph implies (the
rules' exclusions and what the edge holds win), and the graph survives a restart (or a corrupt
file, with an error in the log)."""

from __future__ import annotations

import json
import shutil
from urllib.parse import quote

import pytest

from prefetch_lab.learn.learned_rules import rules_url
from tests.e2e.test_option_check import start_output
from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

HTML = {"content-type": "text/html; charset=utf-8"}
PAGES = ("/", "/a", "/b", "/c", "/logout")
NAVIGATE = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate", "sec-fetch-site": "same-origin"}
# Every request here comes from 127.0.0.1: the visitors are told apart by a trusted header, as
# the audit's training does (the bounds themselves: tests/e2e/test_learning_bounds_proxy.py).
VISITOR = "x-visitor"
LEARNED = {"prefetch_speculation": "learned", "prefetch_inject": "speculation", "prefetch_learn_visitor_header": VISITOR}
# The walks: 10 visitors open / then /a; from /a, 7 go on to /b and 3 to /c; from /b all 7 sign
# out; the 3 on /c open /nostore, which the edge may not store.
WALKS = [["/", "/a", "/b", "/logout"]] * 7 + [["/", "/a", "/c", "/nostore"]] * 3


def page(name: str) -> bytes:
    return f"<!doctype html><title>{name}</title><link rel=stylesheet href=/style.css><p>{name}</p>".encode()


@pytest.fixture(scope="module")
def origin():
    routes = {path: Reply(200, HTML, page(path)) for path in PAGES}
    routes["/nostore"] = Reply(200, {**HTML, "cache-control": "no-store"}, page("nostore"))
    routes["/cold"] = Reply(200, HTML, page("cold"))
    routes["/own"] = Reply(200, {**HTML, "speculation-rules": '"/theirs.json"'}, page("own"))
    routes["/style.css"] = Reply(200, {"content-type": "text/css"}, b"p{color:teal}")
    with Origin(routes) as server:
        yield server


def navigate(proxy: Mitmdump, url: str, referer: str | None = None, visitor: str = "v"):
    return proxy.request("GET", url, {**NAVIGATE, VISITOR: visitor, **({"referer": referer} if referer else {})})


def rules_for(proxy: Mitmdump, origin: Origin, page_key: str) -> tuple[int, dict, dict]:
    status, headers, body = proxy.request("GET", origin.base + rules_url(page_key))
    return status, headers, json.loads(body) if status == 200 else {}


def bands(document: dict) -> dict[str, list[str]]:
    found = {f"{kind}-{rule['eagerness']}": rule["urls"]
             for kind in ("prerender", "prefetch") for rule in document.get(kind, []) if rule["source"] == "list"}
    return found


def read_trail(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def trained(origin, tmp_path_factory):
    """A learned-speculation proxy trained on WALKS, plus requests that must not count; stopped
    (so its graph file is written) after the module's tests that use it."""
    folder = tmp_path_factory.mktemp("learned")
    graph_file, trail = folder / "graph.json", folder / "trail.jsonl"
    proxy = Mitmdump(folder, {**LEARNED, "prefetch_traversal_file": str(graph_file),
                              "prefetch_audit_file": str(trail), "prefetch_warm_on_refusal": "true"})
    base = origin.base
    for visitor, walk in enumerate(WALKS):  # each walk another visitor
        previous = None
        for path in walk:
            status, _, _ = navigate(proxy, base + path, previous and base + previous, f"v{visitor}")
            assert status == 200
            previous = path
    # None of these is a page view: a prefetch and a prerender of a held page, a subresource, a
    # HEAD, a plain request (no Sec-Fetch-*), an edge file, and a refused prerender whose
    # background warm fetch (no Sec-Purpose, same Referer) is the edge's own.
    referer = {"referer": base + "/"}
    proxy.request("GET", base + "/a", {**NAVIGATE, **referer, "sec-purpose": "prefetch"})
    proxy.request("GET", base + "/a", {**NAVIGATE, **referer, "sec-purpose": "prefetch;prerender"})
    proxy.request("GET", base + "/style.css", {"sec-fetch-dest": "style", "sec-fetch-mode": "no-cors", **referer})
    proxy.request("HEAD", base + "/a", {**NAVIGATE, **referer})
    proxy.request("GET", base + "/b", referer)
    proxy.request("GET", base + rules_url("/"), {**NAVIGATE, **referer})
    assert proxy.request("GET", base + "/cold", {**NAVIGATE, **referer, "sec-purpose": "prefetch;prerender"})[0] == 503
    assert wait_until(lambda: any(r.path == "/cold" for r in origin.seen))  # the warm fetch
    assert wait_until(lambda: any(r.get("event") == "warmed" for r in read_trail(trail)))
    yield proxy, graph_file, trail
    proxy.stop()


def test_each_html_page_names_its_own_rules_document(trained, origin):
    proxy, _, _ = trained
    for path, key in (("/", "/"), ("/a?x=1&edgio_dt_pf=1", "/a?x=1")):  # keyed as the cache keys it
        _, headers, _ = proxy.request("GET", origin.base + path)
        assert headers["speculation-rules"] == f'"/__edgio__/speculation-rules.json?page={quote(key, safe="")}"'


def test_the_origins_own_speculation_rules_are_kept_and_the_pages_document_added(trained, origin):
    proxy, _, _ = trained
    _, headers, _ = proxy.request("GET", origin.base + "/own")
    assert headers["speculation-rules"] == '"/theirs.json", "/__edgio__/speculation-rules.json?page=%2Fown"'


def test_the_document_has_the_bands_the_walks_imply(trained, origin):
    proxy, _, trail = trained
    # / -> /a 10 of 10 views: p = 10 / (10 + prior 2) = 0.83, prerendered at once.
    status, headers, document = rules_for(proxy, origin, "/")
    assert status == 200
    assert headers["content-type"] == "application/speculationrules+json"
    assert headers["cache-control"] == "public, max-age=30"
    assert bands(document) == {"prerender-immediate": ["/a"]}
    assert document["prefetch"][-1]["source"] == "document"  # the fixed rule stays the fallback
    # /a -> /b 7/12 = 0.58 prerender on hover, /a -> /c 3/12 = 0.25 prefetch on hover.
    _, _, document = rules_for(proxy, origin, "/a")
    assert bands(document) == {"prerender-moderate": ["/b"], "prefetch-moderate": ["/c"]}
    # /b -> /logout 7/9 = 0.78: the rules exclude it, whatever its probability.
    # /c -> /nostore 3/5 = 0.6: the edge does not hold it (no-store), so it is not offered.
    for source, excluded, reason in (("/b", "/logout", "the rules do not make it prefetchable"),
                                     ("/c", "/nostore", "the edge does not hold it")):
        _, _, document = rules_for(proxy, origin, source)
        assert bands(document) == {}
        assert excluded not in json.dumps(document)
        record = [r for r in read_trail(trail) if r["event"] == "learned-rules" and r["page"] == source][-1]
        assert record["excluded"] == {excluded: reason}
    offered = [r for r in read_trail(trail) if r["event"] == "learned-rules" and r["page"] == "/a"][-1]
    assert (offered["prerender"], offered["prerender_immediate"], offered["prefetch"]) == (["/b"], [], ["/c"])


def test_a_conditional_request_for_the_document_gets_304(trained, origin):
    proxy, _, _ = trained
    _, headers, _ = rules_for(proxy, origin, "/")
    status, _, body = proxy.request("GET", origin.base + rules_url("/"), {"if-none-match": headers["etag"]})
    assert (status, body) == (304, b"")


@pytest.mark.parametrize("query", [
    "page=http%3A%2F%2Fevil.test%2F",  # another host
    "page=%2F%2Fevil.test%2F",  # '//host' is another host to a browser
    "page=%2F&page=%2Fa",
    "page=%2Fa%3Fedgio_prefetch%3D1",  # not a page key: the cache key has no edgio_* params
    "other=1",
])
def test_a_malformed_page_parameter_gets_400(trained, origin, query):
    proxy, _, _ = trained
    status, _, body = proxy.request("GET", f"{origin.base}/__edgio__/speculation-rules.json?{query}")
    assert status == 400 and b"page" in body


def test_the_fixed_file_is_still_served_without_a_page(trained, origin):
    proxy, _, _ = trained
    status, _, body = proxy.request("GET", origin.base + "/__edgio__/speculation-rules.json")
    document = json.loads(body)
    assert status == 200 and "prerender" not in document and [r["source"] for r in document["prefetch"]] == ["document"]


def test_only_navigations_were_counted_and_a_restart_serves_the_same_predictions(trained, origin, tmp_path):
    proxy, graph_file, _ = trained
    expected = {key: rules_for(proxy, origin, key)[2] for key in ("/", "/a")}
    assert proxy.stop() == 0  # writes the graph at exit
    saved = json.loads(graph_file.read_text())
    [pages] = [host["pages"] for host in saved["hosts"].values()]
    counts = {key: (round(node["views"], 2), {k: round(v, 2) for k, v in node["next"].items()})
              for key, node in pages.items()}
    # Weights decay by a day's half-life: a minute of test leaves them within 0.1 % of the counts.
    assert counts == {"/": (10.0, {"/a": 10.0}), "/a": (10.0, {"/b": 7.0, "/c": 3.0}),
                      "/b": (7.0, {"/logout": 7.0}), "/c": (3.0, {"/nostore": 3.0}),
                      "/logout": (7.0, {}), "/nostore": (3.0, {})}

    copy = tmp_path / "graph.json"
    shutil.copy(graph_file, copy)
    with Mitmdump(tmp_path, {**LEARNED, "prefetch_traversal_file": str(copy)}) as second:
        for path in ("/a", "/b", "/c"):  # a new edge is cold: warm it as visitors would
            assert second.request("GET", origin.base + path)[0] == 200
        for key, document in expected.items():
            assert rules_for(second, origin, key)[2] == document
        assert "traversal graph" in second.log() and "6 pages, 5 links" in second.log()


def test_a_corrupt_graph_file_is_logged_set_aside_and_the_proxy_starts_fresh(origin, tmp_path):
    graph_file = tmp_path / "graph.json"
    graph_file.write_text('{"format": "prefetch-lab-traversal", "version": 1, "hosts": ')
    with Mitmdump(tmp_path, {**LEARNED, "prefetch_traversal_file": str(graph_file)}) as proxy:
        assert wait_until(lambda: f"traversal graph {graph_file}" in proxy.log())
        assert "starting with an empty graph" in proxy.log()
        assert (tmp_path / "graph.json.corrupt").exists()
        navigate(proxy, origin.base + "/")
        assert navigate(proxy, origin.base + "/a", origin.base + "/")[0] == 200
        # What it learned since the start alone: 1 of 1 views, p = 1 / (1 + prior 2) = 0.33.
        assert bands(rules_for(proxy, origin, "/")[2]) == {"prefetch-moderate": ["/a"]}
    assert json.loads(graph_file.read_text())["format"] == "prefetch-lab-traversal"  # a fresh file at exit


def test_in_reverse_proxy_mode_the_browsers_same_origin_referer_names_the_proxy(origin, tmp_path):
    """The browser sees the proxy's address; the flows name the origin's. Sec-Fetch-Site tells
    that the Referer is the same site all the same."""
    with Mitmdump(tmp_path, LEARNED, extra_args=[f"--mode=reverse:{origin.base}"]) as proxy:
        site = proxy.address
        for visitor in ("v1", "v2", "v3"):
            assert navigate(proxy, site + "/", visitor=visitor)[0] == 200
            assert navigate(proxy, site + "/a", site + "/", visitor)[0] == 200
        _, headers, _ = proxy.request("GET", site + "/")
        assert headers["speculation-rules"] == '"/__edgio__/speculation-rules.json?page=%2F"'
        _, _, body = proxy.request("GET", site + rules_url("/"))
        assert bands(json.loads(body)) == {"prerender-moderate": ["/a"]}  # 3 / (3 + 2) = 0.6


@pytest.mark.parametrize("name, value", [("prefetch_learned_thresholds", "prefetch=0.9"),
                                         ("prefetch_speculation", "smart"), ("prefetch_edgio_predicted", "all")])
def test_a_bad_value_stops_the_proxy_at_start_naming_the_option(tmp_path, name, value):
    status, output = start_output(tmp_path, {name: value})
    assert status == 1 and f"OptionsError: {name}" in output, output
