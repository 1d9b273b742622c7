"""The edge (the shim's stages) in mitmproxy's test context: hooks, options, commands (no network)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import brotli
import pytest
from mitmproxy import exceptions, http
from mitmproxy.test import tflow

from prefetch_lab.rules.model import RuleSet
from tests.addon.route import Route, route_context

INSTALL = b'<script src="/__edgio__/prefetch/install.js" defer'
STREAM_CHUNK = 16  # small, so that every test also splits its bodies
PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>hello</p></body></html>"


class Edge(Route):
    """The edge's stages in a test context, plus a tiny origin that counts what reaches it."""

    def __init__(self, tctx, shim) -> None:
        super().__init__(tctx, shim)
        self.origin_hits: list[str] = []

    def fetch(self, url: str, origin: http.Response | None = None, method: str = "GET", **headers) -> http.HTTPFlow:
        """What mitmproxy does for one request: request hooks; the origin answers unless the
        edge already did; then the response hooks (which also run for the edge's own answers)."""
        flow = tflow.tflow()
        flow.request = http.Request.make(method, url, b"", headers)
        flow.response = None
        self.request(flow)
        if flow.response is None:
            self.origin_hits.append(flow.request.url)
            flow.response = (origin or html_response()).copy()
        self.responseheaders(flow)
        stream = flow.response.stream
        if callable(stream):
            # As mitmproxy streams: each chunk through the callable, then b""; `response` runs with
            # the body absent. The test then sees what the client received.
            raw, flow.response.raw_content = flow.response.raw_content or b"", None
            sent = []
            for piece in [raw[i:i + STREAM_CHUNK] for i in range(0, len(raw), STREAM_CHUNK)] + [b""]:
                sent += stream(piece)
            self.response(flow)
            flow.response.raw_content = b"".join(sent)
        else:
            self.response(flow)
        return flow


def html_response(body: bytes = PAGE, status: int = 200, **headers: str) -> http.Response:
    """An origin response; `body` goes on the wire as given (already encoded if content_encoding is set)."""
    fields = {"content-type": "text/html; charset=utf-8", **{k.replace("_", "-"): v for k, v in headers.items()}}
    response = http.Response.make(status, b"", fields)
    response.raw_content = body
    response.headers["content-length"] = str(len(body))
    return response


@pytest.fixture()
def edge(tmp_path):
    with route_context(Edge, prefetch_audit_file=str(tmp_path / "audit.jsonl")) as route:
        yield route


def audit(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


# ---- options -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("prefetch_refusal_status", 200, "4xx or 5xx"),
        ("prefetch_force_ratio", "1.5", "from 0 to 1"),
        ("prefetch_force_ratio", "half", "from 0 to 1"),
        ("prefetch_cache_mb", -1, "0 or more"),
        ("prefetch_rules", "/no/such/rules.yaml", "no such file"),
        ("prefetch_audit_file", "/no/such/dir/audit.jsonl", "cannot open"),
    ],
)
def test_bad_option_values_are_refused_with_a_reason(option, value, message):
    with route_context() as route:
        with pytest.raises(exceptions.OptionsError, match=message):
            route.configure(**{option: value})


def test_choice_options_reject_unknown_values():
    with route_context() as route:
        with pytest.raises(exceptions.OptionsError):
            route.configure(prefetch_inject="sometimes")


def test_a_broken_rules_file_at_start_names_file_and_line(tmp_path):
    rules = tmp_path / "broken.yaml"
    rules.write_text("rules:\n  - match:\n      path: /a\n    caching:\n      max_age: soon\n")
    with route_context() as route:
        with pytest.raises(exceptions.OptionsError, match=r"broken\.yaml:5"):
            route.configure(prefetch_rules=str(rules))


def test_a_broken_edit_keeps_the_last_good_rules(tmp_path):
    rules = tmp_path / "site.yaml"
    rules.write_text("rules:\n  - match: {path: /a}\n    caching: {max_age: 1h, service_worker_max_age: 1h}\n")
    with route_context(prefetch_rules=str(rules), prefetch_audit_file=str(tmp_path / "audit.jsonl")) as route:
        rules.write_text("rules:\n  - match: {path: /a\n")
        route.stage("prefetch.rules").reload_rules()
        assert len(route.context.rules.rules) == 1
        rules.write_text("rules:\n  - match: {path: /b}\n    caching: {max_age: 1h, service_worker_max_age: 1h}\n")
        route.stage("prefetch.rules").reload_rules()
        assert route.context.rules.rules[0].paths == ("/b",)
    events = [r["event"] for r in audit(tmp_path)]
    assert events == ["rules-loaded", "rules-error", "rules-loaded"]


# ---- injection -----------------------------------------------------------------------------


def test_gzip_page_is_injected_and_stays_gzip(edge):
    origin = html_response(gzip.compress(PAGE), content_encoding="gzip")
    flow = edge.fetch("http://shop.test/", origin)
    assert flow.response.headers["content-encoding"] == "gzip"
    body = gzip.decompress(flow.response.raw_content)
    assert body.count(INSTALL) == 1
    assert body.replace(body[body.index(INSTALL) : body.index(b"</script>") + 9], b"", 1) == PAGE
    assert int(flow.response.headers["content-length"]) == len(flow.response.raw_content)
    assert flow.marked and "injected" in flow.comment


def test_streamed_gzip_page_is_injected_stays_gzip_and_is_chunked(edge):
    origin = html_response(gzip.compress(PAGE), content_encoding="gzip", transfer_encoding="chunked")
    del origin.headers["content-length"]  # a page flushed as it is made: its length is not known
    flow = edge.fetch("http://shop.test/", origin)
    body = gzip.decompress(flow.response.raw_content)
    assert body.count(INSTALL) == 1
    assert body.replace(body[body.index(INSTALL) : body.index(b"</script>") + 9], b"", 1) == PAGE
    assert "content-length" not in flow.response.headers and flow.response.headers["transfer-encoding"] == "chunked"
    assert flow.marked and "injected" in flow.comment
    hit = edge.fetch("http://shop.test/")
    assert hit.response.headers["x-edg-caching-status"] == "hit" and hit.response.content == body


def test_brotli_page_is_injected_and_stays_brotli(edge):
    flow = edge.fetch("http://shop.test/", html_response(brotli.compress(PAGE), content_encoding="br"))
    assert flow.response.headers["content-encoding"] == "br"
    assert brotli.decompress(flow.response.raw_content).count(INSTALL) == 1


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("<html><head><title>café</title></head><body>é</body></html>".encode("latin-1"), "text/html; charset=iso-8859-1"),
        ("<html><head><title>café</title></head><body>日本</body></html>".encode("utf-8"), "text/html"),
    ],
    ids=["latin-1", "utf-8-undeclared"],
)
def test_any_charset_survives_byte_exact(edge, body, content_type):
    flow = edge.fetch("http://shop.test/", http.Response.make(200, body, {"content-type": content_type}))
    out = flow.response.raw_content
    start = out.index(INSTALL)
    end = out.index(b"</script>", start) + len(b"</script>")
    assert out[:start] + out[end:] == body


def test_page_already_carrying_install_js_is_not_injected_twice(edge, tmp_path):
    page = PAGE.replace(b"</head>", b'<script src="/__edgio__/prefetch/install.js" defer></script></head>')
    flow = edge.fetch("http://shop.test/", html_response(page))
    assert flow.response.raw_content == page
    skipped = [r for r in audit(tmp_path) if r["event"] == "inject-skipped"]
    assert skipped[-1]["reason"] == "already-present"


def test_csp_nonce_is_copied_onto_the_tag(edge):
    origin = html_response(content_security_policy="script-src 'nonce-r4nd0m' 'strict-dynamic'")
    flow = edge.fetch("http://shop.test/", origin)
    assert b'nonce="r4nd0m"' in flow.response.raw_content
    assert flow.response.headers["content-security-policy"] == "script-src 'nonce-r4nd0m' 'strict-dynamic'"


def test_csp_without_nonce_blocks_injection_and_says_why(edge, tmp_path):
    policy = "script-src 'sha256-abc=' 'strict-dynamic'"
    flow = edge.fetch("http://shop.test/", html_response(content_security_policy=policy))
    assert flow.response.raw_content == PAGE
    assert flow.response.headers["content-security-policy"] == policy
    skipped = [r for r in audit(tmp_path) if r["event"] == "inject-skipped"]
    assert "csp" in skipped[-1]["reason"]


def test_inject_off_keeps_the_page_and_the_gate(edge):
    edge.configure(prefetch_inject="off")
    flow = edge.fetch("http://shop.test/a", html_response())
    assert flow.response.raw_content == PAGE
    assert "speculation-rules" not in flow.response.headers
    assert edge.fetch("http://shop.test/b?edgio_prefetch=1").response.status_code == 412


def test_existing_speculation_rules_header_is_kept_and_ours_appended(edge):
    flow = edge.fetch("http://shop.test/", html_response(speculation_rules='"/their-rules.json"'))
    assert flow.response.headers["speculation-rules"] == '"/their-rules.json", "/__edgio__/speculation-rules.json"'


def test_include_cache_misses_and_force_ratio_reach_the_tag(edge):
    edge.configure(prefetch_include_cache_misses=True, prefetch_force_ratio="0.5", prefetch_inject_at="head")
    body = edge.fetch("http://shop.test/", html_response()).response.raw_content
    assert b'data-include-cache-misses="true"' in body and b'data-force-prefetch-ratio="0.5"' in body
    assert body.index(INSTALL) < body.index(b"</head>")


def test_streamed_response_gets_edge_headers_in_responseheaders(edge):
    flow = tflow.tflow()
    flow.request = http.Request.make("GET", "http://shop.test/big.html")
    edge.request(flow)
    flow.response = html_response()
    flow.response.stream = True
    edge.responseheaders(flow)
    assert flow.response.headers["x-edg-caching-status"] == "body-too-big"
    assert flow.response.headers["speculation-rules"] == '"/__edgio__/speculation-rules.json"'


# ---- cache and gate ------------------------------------------------------------------------


def test_prefetch_gate_refuses_then_serves_from_cache(edge):
    refused = edge.fetch("http://shop.test/p/1?edgio_dt_pf=1&edgio_prefetch=1")
    assert refused.response.status_code == 412 and refused.response.content == b""
    assert refused.response.headers["vary"] == "Sec-Purpose"
    assert edge.origin_hits == []
    edge.fetch("http://shop.test/p/1")
    hit = edge.fetch("http://shop.test/p/1", **{"Sec-Purpose": "prefetch"})
    assert hit.response.status_code == 200 and hit.response.headers["x-edg-caching-status"] == "hit"
    assert edge.origin_hits == ["http://shop.test/p/1"]
    assert hit.is_replay == "response"


def test_refusal_status_option_gives_503_without_retry_after(edge):
    edge.configure(prefetch_refusal_status=503)
    flow = edge.fetch("http://shop.test/x", **{"Sec-Purpose": "prefetch"})
    assert flow.response.status_code == 503 and "retry-after" not in flow.response.headers


def test_site_own_speculations_pass_through(edge):
    flow = edge.fetch("http://shop.test/x", **{"Sec-Purpose": "prefetch", "Sec-Speculation-Tags": "null"})
    assert flow.response.status_code == 200 and edge.origin_hits == ["http://shop.test/x"]
    ours = edge.fetch("http://shop.test/y", **{"Sec-Purpose": "prefetch", "Sec-Speculation-Tags": '"prefetch-lab"'})
    assert ours.response.status_code == 412


def test_cached_204_is_never_a_prefetch_answer(edge):
    edge.fetch("http://shop.test/empty", http.Response.make(204, b"", {"cache-control": "max-age=60"}))
    flow = edge.fetch("http://shop.test/empty?edgio_prefetch=1")
    assert flow.response.status_code == 412


def test_head_is_answered_from_the_get_entry(edge):
    first = edge.fetch("http://shop.test/page")
    flow = edge.fetch("http://shop.test/page", method="HEAD")
    assert flow.response.status_code == 200 and flow.response.raw_content == b""
    assert flow.response.headers["content-length"] == str(len(first.response.raw_content))
    assert len(edge.origin_hits) == 1


def test_conditional_request_gets_304_from_a_fresh_entry(edge):
    edge.fetch("http://shop.test/e", html_response(etag='"v1"'))
    flow = edge.fetch("http://shop.test/e", **{"If-None-Match": '"v1"'})
    assert flow.response.status_code == 304 and flow.response.headers["etag"] == '"v1"'
    assert len(edge.origin_hits) == 1


def test_client_validators_on_a_miss_do_not_stop_the_edge_filling(edge):
    flow = edge.fetch("http://shop.test/v", html_response(etag='"v1"'), **{"If-None-Match": '"v1"'})
    assert flow.response.status_code == 304
    assert edge.fetch("http://shop.test/v?edgio_prefetch=1").response.status_code == 200


def test_multiple_set_cookie_responses_are_not_cached_and_keep_every_cookie(edge):
    origin = html_response()
    origin.headers.add("set-cookie", "a=1")
    origin.headers.add("set-cookie", "b=2")
    flow = edge.fetch("http://shop.test/login-free", origin)
    assert flow.response.headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert flow.response.headers["x-edg-caching-status"] == "set-cookie"
    assert edge.fetch("http://shop.test/login-free?edgio_prefetch=1").response.status_code == 412


def test_vary_accept_encoding_keeps_br_from_clients_without_br(edge):
    origin = html_response(brotli.compress(b"body"), content_type="text/javascript", content_encoding="br",
                           vary="Accept-Encoding")
    edge.fetch("http://shop.test/app.js", origin, **{"Accept-Encoding": "br"})
    other = edge.fetch("http://shop.test/app.js", http.Response.make(200, b"body", {"content-type": "text/javascript"}),
                       **{"Accept-Encoding": "gzip"})
    assert "content-encoding" not in other.response.headers
    assert other.response.raw_content == b"body"
    assert len(edge.origin_hits) == 2


def test_edgio_params_never_reach_the_origin(edge):
    edge.fetch("http://shop.test/q?a=1&edgio_dt_pf=1&b=2&edgio_prefetch_ttl=60")
    assert edge.origin_hits == ["http://shop.test/q?a=1&b=2"]


def test_rfc_mode_follows_the_origin_headers_alone(edge):
    edge.configure(prefetch_rules="none")
    edge.fetch("http://shop.test/plain")
    assert edge.fetch("http://shop.test/plain?edgio_prefetch=1").response.status_code == 412
    edge.fetch("http://shop.test/fresh", html_response(cache_control="max-age=60"))
    assert edge.fetch("http://shop.test/fresh?edgio_prefetch=1").response.status_code == 200


def test_cache_commands(edge):
    edge.fetch("http://shop.test/s")
    assert "entries=1" in edge.stage("prefetch.store").cache_stats()
    edge.stage("prefetch.store").clear_cache()
    assert "entries=0" in edge.stage("prefetch.store").cache_stats()


# ---- edge files ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, content_type",
    [
        ("/__edgio__/prefetch/install.js", "text/javascript"),
        ("/__edgio__/prefetch/v7.13.13/install.js", "text/javascript"),
        ("/__edgio__/prefetch/service-worker.js", "text/javascript"),
        ("/__edgio__/cache-manifest.js", "text/javascript"),
        ("/__edgio__/speculation-rules.json", "application/speculationrules+json"),
    ],
)
def test_edge_files_are_answered_locally(edge, path, content_type):
    flow = edge.fetch(f"http://shop.test{path}")
    assert flow.response.status_code == 200
    assert flow.response.headers["content-type"].startswith(content_type)
    assert edge.origin_hits == []


def test_client_reports_land_in_the_audit(edge, tmp_path):
    flow = edge.fetch("http://shop.test/__edgio__/lab/report", method="POST")
    assert flow.response.status_code == 204
    assert [r for r in audit(tmp_path) if r["event"] == "client-report"]


def test_csp_forbidding_workers_is_passed_to_install_js_and_audited(edge, tmp_path):
    policy = "script-src 'nonce-abc'; worker-src 'none'"
    flow = edge.fetch("http://shop.test/", html_response(content_security_policy=policy))
    assert b'nonce="abc"' in flow.response.raw_content
    assert b'data-service-worker="false"' in flow.response.raw_content
    injected = [r for r in audit(tmp_path) if r["event"] == "injected"]
    assert "worker" in injected[-1]["service_worker"]


# ---- regressions from review: odd input never forwards a prefetch, never crashes a hook ----


def test_non_utf8_header_bytes_survive_the_cache_and_prefetch_hits(edge):
    origin = html_response()
    origin.headers.fields += ((b"content-disposition", b'inline; filename="caf\xe9.html"'),)
    edge.fetch("http://shop.test/doc", origin)
    hit = edge.fetch("http://shop.test/doc?edgio_prefetch=1")
    assert hit.response.status_code == 200 and len(edge.origin_hits) == 1
    assert (b"content-disposition", b'inline; filename="caf\xe9.html"') in hit.response.headers.fields


class ExplodingRules(RuleSet):
    def match(self, request):
        raise RuntimeError("boom")


def test_an_edge_failure_refuses_prefetches_instead_of_forwarding_them(edge):
    edge.context.use_rules(ExplodingRules([], []))
    edge.expect_addon_errors = True  # the classification raises; mitmproxy logs it, the gate still refuses
    assert edge.fetch("http://shop.test/x?edgio_prefetch=1").response.status_code == 412
    assert edge.fetch("http://shop.test/x", **{"Sec-Purpose": "prefetch"}).response.status_code == 412
    assert edge.origin_hits == []
    assert edge.fetch("http://shop.test/x").response.status_code == 200  # ordinary requests still flow


def test_binary_report_beacon_is_audited_not_forwarded(edge, tmp_path):
    flow = tflow.tflow()
    flow.request = http.Request.make("POST", "http://shop.test/__edgio__/lab/report", b"\xff\xfe\x00binary")
    edge.request(flow)
    assert flow.response.status_code == 204
    assert [r for r in audit(tmp_path) if r["event"] == "client-report"]


def test_undecodable_url_bytes_are_audited_without_crashing(edge, tmp_path):
    flow = tflow.tflow()
    flow.request = http.Request.make("GET", "http://shop.test/")
    flow.request.path = b"/caf\xe9?edgio_prefetch=1"
    edge.request(flow)
    assert flow.response.status_code == 412
    assert [r for r in audit(tmp_path) if r["event"] == "prefetch-refused"]


def test_streamed_prefetch_and_edge_requests_are_buffered_for_the_edge(edge):
    for url, headers in (("http://shop.test/p?edgio_prefetch=1", {}), ("http://shop.test/__edgio__/cache-manifest.js", {}),
                         ("http://shop.test/p", {"Sec-Purpose": "prefetch"})):
        flow = tflow.tflow()
        flow.request = http.Request.make("GET", url, b"", headers)
        flow.request.stream = True
        edge.requestheaders(flow)
        assert flow.request.stream is False
    upload = tflow.tflow()
    upload.request = http.Request.make("POST", "http://shop.test/upload")
    upload.request.stream = True
    edge.requestheaders(upload)
    assert upload.request.stream is True


def test_cache_budget_zero_disables_the_cache_and_the_proxy_still_runs(edge):
    edge.configure(prefetch_cache_mb=0)
    assert edge.fetch("http://shop.test/z").response.headers["x-edg-caching-status"] == "bypassed"
    refused = edge.fetch("http://shop.test/z?edgio_prefetch=1")
    assert refused.response.status_code == 412 and "cache-disabled" in refused.response.headers["x-prefetch-lab-refused"]
    edge.configure(prefetch_cache_mb=8)
    edge.fetch("http://shop.test/z")
    assert edge.fetch("http://shop.test/z?edgio_prefetch=1").response.status_code == 200


def test_flows_stay_serialisable_for_saving(edge):
    from mitmproxy.io import tnetstring

    for flow in (edge.fetch("http://shop.test/s"), edge.fetch("http://shop.test/s?edgio_prefetch=1"),
                 edge.fetch("http://shop.test/__edgio__/cache-manifest.js")):
        assert tnetstring.dumps(flow.get_state())
        assert flow.metadata["prefetch_lab"]["served_by_edge"] in (True, False)


def test_head_of_an_edge_file_has_no_body(edge):
    flow = edge.fetch("http://shop.test/__edgio__/cache-manifest.js", method="HEAD")
    assert flow.response.raw_content == b"" and int(flow.response.headers["content-length"]) > 0


def test_ipv6_origin_pages_are_injected(edge):
    flow = edge.fetch("http://[::1]:8000/", html_response())
    assert flow.response.raw_content.count(INSTALL) == 1


def test_uncacheable_answers_to_held_back_validators_are_not_turned_into_304(edge):
    origin = html_response(etag='"v1"')
    origin.headers.add("set-cookie", "session=new")
    flow = edge.fetch("http://shop.test/me", origin, **{"If-None-Match": '"v1"'})
    assert flow.response.status_code == 200
    assert flow.response.headers.get_all("set-cookie") == ["session=new"]


def test_a_flow_replayed_by_the_user_is_decided_anew(edge):
    edge.fetch("http://shop.test/r")
    hit = edge.fetch("http://shop.test/r")
    assert hit.response.headers["x-edg-caching-status"] == "hit"
    edge.stage("prefetch.store").clear_cache()
    hit.response = None
    edge.request(hit)
    assert hit.response is None  # to the origin now, and stored again on its way back
    hit.response = html_response()
    edge.response(hit)
    assert hit.response.headers["x-edg-caching-status"] == "cached"


def test_refusals_are_not_stored_by_browsers_and_carry_no_rule_headers(edge, tmp_path):
    rules = tmp_path / "headers.yaml"
    rules.write_text("rules:\n  - headers: {set_response_headers: {x-site: one}}\n")
    edge.configure(prefetch_rules=str(rules))
    refused = edge.fetch("http://shop.test/n?edgio_prefetch=1")
    assert refused.response.headers["cache-control"] == "private, no-store"
    assert "x-site" not in refused.response.headers
    assert edge.fetch("http://shop.test/n").response.headers["x-site"] == "one"


def test_websocket_handshakes_are_never_answered_from_cache(edge):
    edge.fetch("http://shop.test/live")
    upgrade = edge.fetch("http://shop.test/live", **{"Upgrade": "websocket", "Connection": "Upgrade"})
    assert upgrade.response.headers["x-edg-caching-status"] != "hit"
    assert len(edge.origin_hits) == 2


def test_flow_metadata_summarises_the_decision(edge):
    refused = edge.fetch("http://shop.test/m?edgio_prefetch=1")
    assert refused.metadata["prefetch_lab"]["cache_key"].endswith("/m")
    assert refused.metadata["prefetch_lab"]["gated"] is True
    stored = edge.fetch("http://shop.test/m")
    assert stored.metadata["prefetch_lab"]["caching_status"] == "cached"


@pytest.mark.parametrize("value", [-1, -30])
def test_origin_timeout_must_be_zero_or_more(value):
    with route_context() as route:
        with pytest.raises(exceptions.OptionsError, match="prefetch_origin_timeout"):
            route.configure(prefetch_origin_timeout=value)


def test_a_streamed_page_over_the_object_limit_is_not_cached(tmp_path):
    with route_context(Edge, prefetch_audit_file=str(tmp_path / "audit.jsonl"), prefetch_cache_mb=1) as edge:
        big = PAGE.replace(b"<p>hello</p>", b"<p>x</p>" * 40000)  # 320 KB > 1 MiB / 8
        origin = html_response(big, transfer_encoding="chunked")
        del origin.headers["content-length"]
        flow = edge.fetch("http://shop.test/big", origin)
        assert flow.response.raw_content.count(INSTALL) == 1
        assert edge.fetch("http://shop.test/big", origin).response.headers["x-edg-caching-status"] != "hit"
    bypass = [r for r in audit(tmp_path) if r["event"] == "cache-bypass"]
    assert bypass[0]["caching_status"] == "body-too-big"


# ---- revalidation (RFC 9111 4.3; revalidate.py) ---------------------------------------------


def test_a_304_to_a_revalidation_freshens_the_entry_and_serves_the_stored_body(edge, monkeypatch):
    edge.configure(prefetch_rules="none")
    clock = [1_000_000.0]
    monkeypatch.setattr("time.time", lambda: clock[0])
    url = "http://example.com/doc"
    origin_200 = html_response(PAGE, cache_control="max-age=10", etag='"v1"')
    assert edge.fetch(url, origin_200).response.headers["x-edg-caching-status"] == "cached"
    clock[0] += 20  # expired: kept, because it has an ETag
    not_modified = http.Response.make(304, b"", {"etag": '"v1"', "cache-control": "max-age=10", "x-new": "1"})
    flow = edge.fetch(url, not_modified, **{"if-none-match": '"other"'})
    assert edge.origin_hits == [url, url]
    assert flow.request.headers["if-none-match"] == '"other"'  # the client's, put back to be answered
    assert (flow.response.status_code, flow.response.headers["x-edg-caching-status"]) == (200, "revalidated")
    assert flow.response.headers["x-new"] == "1" and INSTALL in flow.response.content
    flow = edge.fetch(url)
    assert flow.response.headers["x-edg-caching-status"] == "hit" and flow.response.headers["x-new"] == "1"
    assert len(edge.origin_hits) == 2
