"""The audit's analysis on hand-built runs shaped like the driver's: a shop walked in a few arms."""

from __future__ import annotations

import itertools
import json
import math

import pytest

from prefetch_lab.audit.analyze import analyze
from prefetch_lab.audit.findings import advice as auditadvice
from prefetch_lab.audit.findings.advice import top_advice
from prefetch_lab.audit.findings.summary_table import summary_rows
from prefetch_lab.stats import percentile
from prefetch_lab.url_keys import normalize_url

T0 = 1_700_000_000.0
SITE = "https://shop.example"
_ids = itertools.count()


def rec(event, path, at, **fields):
    """A trail record `at` seconds after T0 (negative: the warm-up pass)."""
    return {"ts": T0 + at, "event": event, "flow_id": fields.pop("flow_id", f"f{next(_ids)}"), "method": "GET",
            "url": SITE + path, "cache_key": SITE + path.split("#")[0], **fields}


def doc(event, path, at, **fields):
    return rec(event, path, at, dest="document", **fields)


def edgio_hit(path, at, size=20_000, content_type="text/html; charset=utf-8", **fields):
    sep = "&" if "?" in path else "?"
    return rec("prefetch-hit", f"{path}{sep}edgio_dt_pf=1&edgio_prefetch=1", at, prefetch="edgio", dest="empty",
               status=200, caching_status="hit", size=size, content_type=content_type, **fields)


def edgio_refused(path, at, reason="not-cached", **fields):
    return rec("prefetch-refused", f"{path}?edgio_dt_pf=1&edgio_prefetch=1", at, prefetch="edgio", dest="empty",
               status=412, reason=reason, **fields)


def spec_hit(path, at, size=20_000, stale=False):
    return rec("prefetch-hit", path, at, prefetch="speculation", dest="document", status=200,
               caching_status="stale" if stale else "hit", size=size, content_type="text/html")


def spec_refused(path, at, reason="not-cached", **fields):
    return rec("prefetch-refused", path, at, prefetch="speculation", dest="document", status=503, reason=reason, **fields)


def page(path, at, *, delivery="", response_start=300.0, fcp=450.0, lcp=600.0, load=800.0, activation=0.0,
         resources=(), transfer=12_000):
    """What the driver reads from a page that began navigating `at` s after T0."""
    return {
        "url": SITE + path, "time_origin": (T0 + at) * 1000, "fcp": fcp, "lcp": lcp, "lcp_element": "h1",
        "was_prerendered": activation > 0,
        "nav": {"deliveryType": delivery, "activationStart": activation, "startTime": 0, "requestStart": 5.0,
                "responseStart": response_start, "responseEnd": response_start + 20,
                "domContentLoadedEventEnd": load - 100, "loadEventEnd": load, "transferSize": transfer,
                "encodedBodySize": transfer - 300, "decodedBodySize": transfer * 3, "type": "navigate",
                "nextHopProtocol": "h2"},
        "resources": list(resources),
    }


def resource(path, *, start=100.0, end=250.0, transfer=4_000, delivery="", blocking=False, initiator="img"):
    return {"name": SITE + path, "initiatorType": initiator, "startTime": start, "responseStart": end - 20,
            "responseEnd": end, "transferSize": transfer, "encodedBodySize": transfer, "decodedBodySize": transfer,
            "deliveryType": delivery, "renderBlockingStatus": "blocking" if blocking else "non-blocking"}


def step(n, path, at, trigger="click", headers=None, **page_fields):
    return {"step": n, "url": SITE + path, "trigger": "start" if n == 0 else trigger, "started": T0 + at - 0.35,
            "error": None, "document": {"status": 200, "headers": headers or {}, "from_service_worker": False},
            "page": page(path, at, **page_fields)}


def run(arm, steps, trail, preload=(), index=0, start=T0 - 0.5, end=T0 + 200):
    return {"arm": arm, "run": index, "measure_start": start, "measure_end": end, "trail": list(trail),
            "preload_events": list(preload), "steps": list(steps)}


def cdp(path, at, status, prefetch_status=None, loader="L1"):
    return {"key": {"loaderId": loader, "action": "Prefetch", "url": SITE + path}, "prefetchUrl": SITE + path,
            "status": status, "prefetchStatus": prefetch_status, "requestId": "r1", "initiatingFrameId": "F",
            "ts": T0 + at}


def nav_of(audit, arm, step_no, run_no=0):
    return next(n for n in audit["navigations"] if n["arm"] == arm and n["step"] == step_no and n["run"] == run_no)


def prefetches_of(audit, arm, url_path=None):
    return [p for p in audit["prefetches"] if p["arm"] == arm and (url_path is None or p["url"] == SITE + url_path)]


# ---- a walk in the edgio arm: /, /shoes (from the worker), /bags (edge cold), /hats (origin cookies)

def edgio_walk():
    steps = [
        step(0, "/", 1.0),
        step(1, "/shoes", 10.0, delivery="cache-storage", response_start=8.0, fcp=90.0, lcp=140.0, load=300.0,
             transfer=0, resources=[resource("/img/shoe.png", delivery="cache-storage", transfer=0),
                                    resource("/app.css", end=60.0, blocking=True)]),
        step(2, "/bags", 20.0),
        step(3, "/hats", 30.0),
    ]
    trail = [
        # warm-up (another profile, before measure_start): the edge stores /, /shoes; /hats sets cookies
        doc("cache-store", "/", -30.0, status=200, caching_status="cached", size=30_000),
        doc("cache-store", "/shoes", -29.0, status=200, caching_status="cached", size=20_000),
        doc("cache-bypass", "/hats", -28.0, status=200, caching_status="set-cookie"),
        # step 0: landing page from the edge, then install.js prefetches after load (1.8 s)
        doc("cache-hit", "/", 1.05, status=200, caching_status="hit"),
        rec("injected", "/", 1.06, dest="document"),
        rec("cache-store", "/app.css", 1.2, dest="style", status=200, caching_status="cached", size=2_000),
        edgio_hit("/shoes", 2.0),
        edgio_hit("/img/shoe.png", 2.1, size=50_000, content_type="image/png"),  # deep fetch
        edgio_refused("/bags", 2.2),
        edgio_refused("/hats", 2.3),
        # step 1: /shoes comes from the worker: the edge sees nothing for the document
        # step 2: /bags from the origin
        doc("cache-store", "/bags", 20.1, status=200, caching_status="cached", size=18_000),
        rec("injected", "/bags", 20.11, dest="document"),
        # step 3: /hats from the origin, again not storable
        doc("cache-bypass", "/hats", 30.1, status=200, caching_status="set-cookie"),
    ]
    return run("edgio", steps, trail)


def test_served_from_each_source_and_timings_relative_to_activation():
    steps = [
        step(0, "/", 1.0),  # cache-hit record: edge
        step(1, "/a", 10.0, delivery="navigational-prefetch", response_start=6.0),
        step(2, "/b", 20.0, delivery="cache-storage"),
        step(3, "/c", 30.0, delivery="cache"),
        step(4, "/d", 40.0),  # cache-store record: origin
        step(5, "/e", 50.0, headers={"x-edg-caching-status": "stale"}),  # no record, header says stale
        step(6, "/f", 60.0, activation=100.0, response_start=80.0, fcp=250.0, lcp=400.0, load=900.0),
    ]
    trail = [doc("cache-hit", "/", 1.1, caching_status="hit"), doc("cache-store", "/d", 40.1, caching_status="cached")]
    audit = analyze([run("speculation", steps, trail)])
    got = {n["step"]: n["served_from"] for n in audit["navigations"]}
    assert got == {0: "edge", 1: "prefetch", 2: "service-worker", 3: "http-cache", 4: "origin", 5: "edge", 6: "prerender"}
    prerendered = nav_of(audit, "speculation", 6)
    assert prerendered["activation_start_ms"] == 100.0
    assert prerendered["ttfb_ms"] == 0.0  # responseStart before activation: floored at 0
    assert (prerendered["fcp_ms"], prerendered["lcp_ms"], prerendered["load_ms"]) == (150.0, 300.0, 800.0)
    assert nav_of(audit, "speculation", 5)["edge_caching_status"] == "stale"
    assert nav_of(audit, "speculation", 1)["prefetched"] is True


def test_edgio_walk_credits_the_worker_and_the_deep_fetch():
    audit = analyze([edgio_walk()])
    shoes = nav_of(audit, "edgio", 1)
    assert shoes["served_from"] == "service-worker" and shoes["prefetched"] is True
    assert shoes["delivery_type"] == "cache-storage"
    by_url = {p["url"]: p for p in prefetches_of(audit, "edgio")}
    assert by_url[SITE + "/shoes"]["used"] and by_url[SITE + "/shoes"]["mechanism"] == "edgio"
    assert by_url[SITE + "/img/shoe.png"]["mechanism"] == "deep-fetch" and by_url[SITE + "/img/shoe.png"]["used"]
    assert by_url[SITE + "/bags"]["edge"] == "refused" and by_url[SITE + "/bags"]["edge_reason"] == "not-cached"
    assert by_url[SITE + "/bags"]["bytes"] == 0 and by_url[SITE + "/bags"]["status"] == 412
    # issued by the landing page, 200 ms after its load event ended (time origin 1.0 s + 800 ms)
    assert by_url[SITE + "/shoes"]["step"] == 0
    assert by_url[SITE + "/shoes"]["start_ms_after_load"] == pytest.approx(200.0)
    assert by_url[SITE + "/shoes"]["browser_status"] is None  # CDP reports speculation only


def test_edgio_summary_matches_a_hand_count():
    summary = analyze([edgio_walk()])["summary"]["edgio"]
    assert summary["navigations"] == 3  # steps 1-3: the landing page cannot be prefetched
    assert summary["prefetches"] == 4 and summary["used"] == 2
    assert summary["accuracy"] == 0.5
    assert summary["coverage"] == round(1 / 3, 4)
    assert summary["refused"] == 2 and summary["refused_by_reason"] == {"not-cached": 2}
    # measure window only: app.css, /bags, /hats (the warm-up's three stores are not counted)
    assert summary["origin_requests"] == 3 and summary["origin_requests_for_prefetches"] == 0
    assert summary["wasted_bytes"] == 0  # the two unused prefetches were refusals: no bytes
    assert summary["runs"] == 1


def test_not_prefetched_reasons_tell_a_cold_edge_from_an_uncacheable_page():
    audit = analyze([edgio_walk()])
    bags, hats = nav_of(audit, "edgio", 2), nav_of(audit, "edgio", 3)
    assert (bags["not_prefetched_reason"], bags["not_prefetched_detail"]) == ("edge-cold", None)
    # the warm-up learnt that /hats sets cookies: the cold edge is the origin's doing
    assert (hats["not_prefetched_reason"], hats["not_prefetched_detail"]) == ("origin-uncacheable", "set-cookie")
    assert nav_of(audit, "edgio", 0)["not_prefetched_reason"] is None  # the landing page is never explained
    assert nav_of(audit, "edgio", 1)["not_prefetched_reason"] is None  # prefetched


def test_speculation_used_and_unused_crediting_goes_to_the_latest_prefetch():
    steps = [
        step(0, "/", 1.0),
        step(1, "/a", 10.0, delivery="navigational-prefetch", response_start=5.0),
        step(2, "/b", 20.0),
    ]
    trail = [
        spec_hit("/a", 5.0, size=10_000),     # hovered earlier, never used (superseded)
        spec_hit("/a", 9.8, size=11_000),     # pointer down: the one the click used
        spec_hit("/b#reviews", 19.8, size=9_000),  # fragment ignored; the click below went to the network
        doc("cache-hit", "/b", 20.1, caching_status="hit"),
    ]
    preload = [cdp("/a", 9.79, "Running", "PrefetchNotFinishedInTime", "L0"),
               cdp("/a", 9.85, "Ready", "PrefetchSuccessfulButNotUsed", "L0"),
               cdp("/a", 10.0, "Success", "PrefetchResponseUsed", "L0"),
               cdp("/b", 19.79, "Running", "PrefetchNotFinishedInTime", "L1"),
               cdp("/b", 20.0, "Failure", "PrefetchNotUsedCookiesChanged", "L1")]
    audit = analyze([run("speculation", steps, trail, preload)])
    a = prefetches_of(audit, "speculation", "/a")
    assert [p["used"] for p in a] == [False, True]
    assert a[1]["browser_status"] == "PrefetchResponseUsed"
    b = prefetches_of(audit, "speculation", "/b")[0]
    assert b["used"] is False and b["browser_status"] == "PrefetchNotUsedCookiesChanged"
    assert b["step"] == 1  # pointer-down on page 1, after step 2's `started`, before its navigation
    summary = audit["summary"]["speculation"]
    assert (summary["prefetches"], summary["used"], summary["wasted_bytes"]) == (3, 1, 19_000)
    assert summary["coverage"] == 0.5
    doubles = audit["double_fetches"]
    assert [(d["url"], d["kind"], d["reason"]) for d in doubles] == [(SITE + "/b", "page", "PrefetchNotUsedCookiesChanged")]
    assert nav_of(audit, "speculation", 2)["not_prefetched_reason"] == "prefetched-not-used"


def test_mechanisms_include_the_sites_own_speculation_and_forwarded_cache_misses():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, delivery="navigational-prefetch")]
    trail = [
        rec("prefetch-forwarded", "/a", 9.7, flow_id="s1", prefetch="speculation", dest="document", reason="site-speculation"),
        rec("cache-store", "/a", 9.75, flow_id="s1", prefetch="speculation", dest="document", status=200,
            caching_status="cached", size=7_000),
        rec("prefetch-forwarded", "/b?edgio_dt_pf=1", 2.0, flow_id="e1", prefetch="edgio", dest="empty",
            reason="include-cache-misses"),
        rec("cache-bypass", "/b?edgio_dt_pf=1", 2.05, flow_id="e1", prefetch="edgio", status=200, caching_status="private"),
    ]
    audit = analyze([run("both", steps, trail)])
    site = prefetches_of(audit, "both", "/a")[0]
    assert (site["mechanism"], site["edge"], site["edge_reason"], site["status"], site["bytes"]) == (
        "site", "forwarded", "site-speculation", 200, 7_000)
    assert site["used"] is True
    edgio = prefetches_of(audit, "both", "/b")[0]
    assert (edgio["mechanism"], edgio["edge"], edgio["bytes"]) == ("edgio", "forwarded", None)
    # forwarded prefetches are origin requests, and are counted as such
    assert audit["summary"]["both"]["origin_requests"] == 2
    assert audit["summary"]["both"]["origin_requests_for_prefetches"] == 2


def test_speculation_chromium_never_sent_reaches_the_prefetches_as_edge_none():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0), step(2, "/b", 20.0)]
    trail = [doc("cache-hit", "/a", 10.1, caching_status="hit"), doc("cache-hit", "/b", 20.1, caching_status="hit")]
    preload = [
        cdp("/a", 9.7, "Pending", None, "L0"),
        cdp("/a", 9.71, "Failure", "PrefetchFailedPerPageLimitExceeded", "L0"),
        cdp("/b", 19.7, "Pending", None, "L1"),  # never left Pending: not a prefetch
        {"event": "prerenderStatusUpdated", "key": {"action": "Prerender", "url": SITE + "/b"}, "status": "Failure",
         "prerenderStatus": "LowEndDevice", "ts": T0 + 19.8},  # prerenders are not prefetches
    ]
    audit = analyze([run("speculation", steps, trail, preload)])
    rows = prefetches_of(audit, "speculation")
    assert len(rows) == 1
    row = rows[0]
    assert (row["url"], row["edge"], row["mechanism"], row["browser_status"], row["step"]) == (
        SITE + "/a", "none", "speculation", "PrefetchFailedPerPageLimitExceeded", 0)
    a = nav_of(audit, "speculation", 1)
    assert (a["not_prefetched_reason"], a["not_prefetched_detail"]) == ("chromium-refused", "PrefetchFailedPerPageLimitExceeded")
    assert nav_of(audit, "speculation", 2)["not_prefetched_reason"] == "not-triggered"
    advice = {item["code"]: item for item in audit["advice"]}
    assert "too many prefetches" in advice["chromium-refused"]["reason"]


def test_refusals_by_reason_and_rule_exclusions_name_the_rule():
    steps = [step(0, "/", 1.0), step(1, "/logout", 10.0), step(2, "/cart", 20.0), step(3, "/x", 30.0)]
    trail = [
        spec_refused("/logout", 9.7, reason="bypassed", rules=["default.yaml#2", "default.yaml#7"]),
        spec_refused("/cart", 19.7, reason="not-cached"),
        doc("cache-bypass", "/cart", -5.0, caching_status="bypassed", rules=["shop.yaml#1"]),  # warm-up
        spec_refused("/x", 29.7, reason="method"),
    ]
    audit = analyze([run("speculation", steps, trail)])
    summary = audit["summary"]["speculation"]
    assert summary["refused"] == 3
    assert summary["refused_by_reason"] == {"bypassed": 1, "not-cached": 1, "method": 1}
    assert nav_of(audit, "speculation", 1)["not_prefetched_detail"] == "default.yaml#2, default.yaml#7"
    assert (nav_of(audit, "speculation", 2)["not_prefetched_reason"], nav_of(audit, "speculation", 2)["not_prefetched_detail"]) == (
        "excluded-by-rule", "shop.yaml#1")
    assert nav_of(audit, "speculation", 3)["not_prefetched_reason"] == "edge-refused"
    remedies = {item["detail"]: item["remedy"] for item in audit["advice"] if item["code"] == "excluded-by-rule"}
    assert "default.yaml#2, default.yaml#7" in remedies["default.yaml#2, default.yaml#7"]


def test_origin_requests_exclude_the_warm_up_and_count_errors():
    trail = [
        doc("cache-store", "/", -20.0, caching_status="cached"),
        doc("cache-bypass", "/a", -19.0, caching_status="private"),
        doc("cache-store", "/", 1.1, caching_status="cached"),
        rec("cache-store", "/app.js", 1.2, dest="script", caching_status="cached"),
        rec("origin-error", "/broken.png", 1.3, dest="image", reason="connection refused"),
        rec("cache-hit", "/logo.png", 1.4, dest="image", caching_status="hit"),  # the edge answered: no origin request
        rec("synthetic", "/__edgio__/prefetch/install.js", 1.5),
        doc("cache-store", "/late", 500.0, caching_status="cached"),  # after measure_end
        # A warm-up request answered after the measured session began (measure_start is T0 - 0.5):
        # the warm-up's, by when it was asked.
        rec("cache-store", "/warm.css", -0.2, dest="style", caching_status="cached", started=T0 - 0.9),
        rec("cache-store", "/asked-in.css", 1.6, dest="style", caching_status="cached", started=T0 - 0.4),
    ]
    audit = analyze([run("control", [step(0, "/", 1.0)], trail)])
    assert audit["summary"]["control"]["origin_requests"] == 4


def test_a_refused_prefetch_whose_client_left_is_no_origin_request():
    trail = [
        doc("cache-store", "/", 1.1, caching_status="cached"),
        edgio_refused("/b", 1.5, flow_id="gone"),
        rec("origin-error", "/b?edgio_dt_pf=1&edgio_prefetch=1", 1.52, flow_id="gone", prefetch="edgio",
            reason="Client disconnected."),
    ]
    audit = analyze([run("edgio", [step(0, "/", 1.0)], trail)])
    assert audit["summary"]["edgio"]["origin_requests"] == 1
    assert audit["summary"]["edgio"]["refused"] == 1


def test_double_fetch_reasons_not_stored_expired_vary_and_resources():
    steps = [
        step(0, "/", 1.0),
        step(1, "/moved", 10.0),
        step(2, "/old", 200.0),
        step(3, "/varies", 210.0, headers={"vary": "Accept-Encoding, User-Agent"}),
        step(4, "/plain", 220.0, resources=[resource("/img/p.png", transfer=30_000)]),
    ]
    trail = [
        edgio_hit("/moved", 2.0) | {"status": 301},                  # a redirect: the worker keeps only 200s
        edgio_hit("/old", 2.1),                                      # 198 s before the click: past 120 s
        edgio_hit("/varies", 205.0),
        edgio_hit("/plain", 215.0),
        edgio_hit("/img/p.png", 215.1, size=30_000, content_type="image/png"),
        doc("cache-hit", "/moved", 10.1, caching_status="hit"),
        doc("cache-hit", "/old", 200.1, caching_status="hit"),
        doc("cache-hit", "/varies", 210.1, caching_status="hit"),
        doc("cache-hit", "/plain", 220.1, caching_status="hit"),
    ]
    audit = analyze([run("edgio", steps, trail, end=T0 + 400)])
    reasons = {(d["url"].removeprefix(SITE), d["kind"]): d["reason"] for d in audit["double_fetches"]}
    assert reasons == {("/old", "page"): "expired", ("/varies", "page"): "vary", ("/plain", "page"): "unknown",
                       ("/img/p.png", "resource"): "unknown"}
    # a 301 prefetch is not "prefetched successfully": not a double fetch, and the advice says why
    moved = nav_of(audit, "edgio", 1)
    assert (moved["not_prefetched_reason"], moved["not_prefetched_detail"]) == ("prefetch-failed", "the prefetch was answered 301")
    assert audit["summary"]["edgio"]["double_fetches"] == 4
    assert audit["summary"]["edgio"]["double_fetches_by_reason"]["unknown"] == 2
    old = nav_of(audit, "edgio", 2)
    assert (old["not_prefetched_reason"], old["not_prefetched_detail"]) == ("prefetched-not-used", "expired")


def test_double_fetch_not_stored_when_a_forwarded_prefetch_got_no_200():
    steps = [step(0, "/", 1.0), step(1, "/p", 10.0)]
    trail = [
        rec("prefetch-forwarded", "/p?edgio_dt_pf=1", 2.0, flow_id="p1", prefetch="edgio", reason="include-cache-misses"),
        rec("cache-bypass", "/p?edgio_dt_pf=1", 2.1, flow_id="p1", prefetch="edgio", status=203, caching_status="code"),
        doc("cache-bypass", "/p", 10.1, status=203, caching_status="code"),
    ]
    audit = analyze([run("edgio", steps, trail)])
    assert [d["reason"] for d in audit["double_fetches"]] == ["not-stored"]


def test_a_prefetch_already_used_is_spent_and_a_revisit_is_no_double_fetch():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, delivery="navigational-prefetch"), step(2, "/", 20.0),
             step(3, "/a", 30.0)]
    trail = [spec_hit("/a", 9.8), doc("cache-hit", "/", 20.1, caching_status="hit"),
             doc("cache-hit", "/a", 30.1, caching_status="hit")]
    audit = analyze([run("speculation", steps, trail)])
    assert audit["double_fetches"] == []
    assert nav_of(audit, "speculation", 3)["not_prefetched_reason"] == "not-triggered"


def test_contention_counts_prefetches_during_the_render_critical_window():
    # page 1 starts at 10 s; LCP 600 ms, FCP 450 ms, a render-blocking stylesheet ends at 700 ms: window 10.0-10.7 s
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, resources=[resource("/a.css", end=700.0, blocking=True)])]
    trail = [
        edgio_hit("/x", 9.9),      # before the page: no
        edgio_hit("/y", 10.2),     # yes
        edgio_refused("/z", 10.69),  # yes (refusals are requests too)
        edgio_hit("/w", 10.8),     # after: no
        doc("cache-hit", "/a", 10.05, caching_status="hit"),
    ]
    audit = analyze([run("edgio", steps, trail)])
    a = nav_of(audit, "edgio", 1)
    assert a["contention"] == 2 and a["contention_window_ms"] == 700.0
    assert nav_of(audit, "edgio", 0)["contention"] == 0  # its window is 1.0-1.6 s
    assert audit["summary"]["edgio"]["contention"] == {"mean": 2.0, "max": 2}


def test_csp_blocked_injection_and_link_not_found_are_explained():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0), step(2, "/b", 20.0, trigger="goto")]
    trail = [
        doc("cache-hit", "/", 1.05, caching_status="hit"),
        rec("inject-skipped", "/", 1.06, dest="document", reason="csp-blocks-script: script-src 'none'"),
        doc("cache-hit", "/a", 10.05, caching_status="hit"),
        doc("cache-hit", "/b", 20.05, caching_status="hit"),
    ]
    audit = analyze([run("edgio", steps, trail)])
    a = nav_of(audit, "edgio", 1)
    assert (a["not_prefetched_reason"], a["not_prefetched_detail"]) == ("csp-blocked", "csp-blocks-script: script-src 'none'")
    assert nav_of(audit, "edgio", 2)["not_prefetched_reason"] == "link-not-found"
    remedy = next(item["remedy"] for item in audit["advice"] if item["code"] == "csp-blocked")
    assert "script-src" in remedy and "speculation" in remedy


def test_advice_is_ranked_most_first_and_names_the_remedies():
    cold = edgio_walk()
    other = edgio_walk() | {"run": 1}
    control = run("control", [step(0, "/", 1.0), step(1, "/bags", 10.0)], [doc("cache-store", "/bags", 10.1)])
    audit = analyze([cold, other, control])
    codes = [(item["code"], item["count"]) for item in audit["advice"]]
    assert codes == [("edge-cold", 2), ("origin-uncacheable", 2)]
    edge_cold, uncacheable = audit["advice"]
    assert edge_cold["arms"] == ["edgio"] and edge_cold["example_urls"] == [SITE + "/bags"]
    for needle in ("--edge warm", "prefetch_warm_on_refusal", "stale_while_revalidate", "max_age", "Reducing 412s"):
        assert needle in edge_cold["remedy"]
    # Set-Cookie: the rule features that would let the edge store the page (issue 21), with the risk
    assert "remove_origin_response_headers" in uncacheable["remedy"] and "cache_key_ignore_cookies" in uncacheable["remedy"]
    assert "Risk:" in uncacheable["remedy"]
    assert "cookies" in uncacheable["reason"]
    lines = top_advice(audit, n=1)
    assert len(lines) == 1 and lines[0].startswith("2 navigations (edgio): edge cold") and "\n" not in lines[0]
    assert len(top_advice(audit)) == 2


def test_control_is_not_advised_and_ratios_compare_to_control():
    control = run("control", [step(0, "/", 1.0), step(1, "/a", 10.0, lcp=800.0, response_start=400.0),
                              step(2, "/b", 20.0, lcp=1000.0, response_start=400.0)], [])
    spec = run("speculation", [step(0, "/", 1.0), step(1, "/a", 10.0, lcp=200.0, response_start=10.0,
                                                       delivery="navigational-prefetch"),
                               step(2, "/b", 20.0, lcp=400.0, response_start=30.0, delivery="navigational-prefetch")],
               [spec_hit("/a", 9.8), spec_hit("/b", 19.8)])
    audit = analyze([spec, control])
    assert list(audit["summary"]) == ["control", "speculation"]  # control first
    s, c = audit["summary"]["speculation"], audit["summary"]["control"]
    assert (c["lcp_ms_p50"], s["lcp_ms_p50"]) == (900.0, 300.0)
    assert s["lcp_ratio"] == round(300 / 900, 4) and c["lcp_ratio"] == 1.0
    assert s["ttfb_ratio"] == 0.05
    assert s["accuracy"] == 1.0 and s["coverage"] == 1.0
    assert all(n["not_prefetched_reason"] == "control" for n in audit["navigations"] if n["arm"] == "control" and n["step"])
    assert audit["advice"] == []
    no_control = analyze([spec])["summary"]["speculation"]
    assert no_control["lcp_ratio"] is None and no_control["ttfb_ratio"] is None


def test_percentile_is_linear_interpolation_like_numpys_default():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10, 20, 30, 40, 50], 75) == 40.0
    assert percentile([15, 20, 35, 40, 50], 75) == 40.0
    assert percentile([1, 2, 3, 4], 75) == 3.25
    assert percentile([7], 75) == 7
    assert percentile([], 50) is None
    assert percentile([3, None, float("nan"), 1], 50) == 2.0


def test_summary_rows_format_every_arm_consistently():
    control = run("control", [step(0, "/", 1.0), step(1, "/a", 10.0, lcp=1234.0, response_start=1500.0)], [])
    audit = analyze([control, edgio_walk()])
    columns, rows = summary_rows(audit)
    assert columns[:4] == ["arm", "navigations", "TTFB p50 ms", "FCP p50 ms"] and len(columns) == 13
    by_arm = {row[0]: dict(zip(columns, row)) for row in rows}
    assert by_arm["control"]["LCP p50 ms"] == "1,234" and by_arm["control"]["TTFB p50 ms"] == "1,500"
    assert by_arm["edgio"]["LCP p50 ms"] == "600"
    assert by_arm["control"]["LCP ratio"] == "1.00×"
    assert by_arm["edgio"]["accuracy"] == "50 %" and by_arm["edgio"]["coverage"] == "33 %"
    assert by_arm["control"]["accuracy"] == "–"  # no prefetches: no accuracy
    assert by_arm["edgio"]["wasted"] == "0 B"
    assert all(isinstance(cell, str) for row in rows for cell in row)


def test_robust_to_missing_pages_fields_and_empty_inputs():
    broken = {"arm": "edgio", "run": 0, "steps": [
        {"step": 0, "url": SITE + "/", "trigger": "start", "started": T0, "error": "timeout", "page": None, "document": None},
        {"step": 1, "url": SITE + "/a", "trigger": "click", "started": T0 + 5,
         "page": {"url": SITE + "/a", "time_origin": float("nan"), "nav": {"responseStart": float("inf")}, "fcp": None}},
    ], "trail": [{"event": "cache-hit"}, {"ts": "soon"}], "preload_events": None}
    audit = analyze([broken, {}, "not a run"])
    text = json.dumps(audit, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    assert len(audit["navigations"]) == 1 and audit["navigations"][0]["ttfb_ms"] is None
    assert audit["summary"]["edgio"]["failed_steps"] == 0
    assert analyze([]) == {"navigations": [], "prefetches": [], "double_fetches": [], "summary": {}, "advice": []}


def test_a_whole_audit_is_json_serialisable_without_nan():
    audit = analyze([edgio_walk(), run("control", [step(0, "/", 1.0)], [])])
    json.dumps(audit, allow_nan=False)
    for value in _walk_values(audit):
        assert not (isinstance(value, float) and not math.isfinite(value))
        assert not isinstance(value, (set, tuple))
    assert not any(k.startswith("_") for n in audit["navigations"] for k in n)


def _walk_values(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk_values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk_values(v)
    else:
        yield value


def test_urls_are_normalised_and_reverse_mode_addresses_map_to_the_site():
    assert normalize_url("https://Shop.Example:443/a?x=1&edgio_dt_pf=1&edgio_prefetch=1#top") == "https://shop.example/a?x=1"
    assert normalize_url("http://127.0.0.1:8080/a") == "http://127.0.0.1:8080/a"
    assert normalize_url("http://127.0.0.1:8080/a", {"http://127.0.0.1:8080": SITE}) == SITE + "/a"
    # reverse mode: the browser saw the proxy's address, the walk and the trail the site's
    proxy = "http://127.0.0.1:8123"
    shoes = step(1, "/shoes", 10.0, delivery="cache-storage")
    shoes["page"]["url"] = proxy + "/shoes"
    raw = run("edgio", [step(0, "/", 1.0), shoes], [edgio_hit("/shoes", 2.0)]) | {"proxy_address": proxy}
    audit = analyze([raw])
    assert nav_of(audit, "edgio", 1)["url"] == SITE + "/shoes" and nav_of(audit, "edgio", 1)["prefetched"]


def test_every_common_browser_status_has_a_meaning_and_a_remedy():
    for status in ("PrefetchFailedNon2XX", "PrefetchIneligibleRetryAfter", "PrefetchNotEligibleUserHasCookies",
                   "PrefetchFailedPerPageLimitExceeded", "PrefetchEvicted", "PrefetchIsStale"):
        meaning, fix = auditadvice.BROWSER_STATUSES[status]
        assert meaning and fix
        assert auditadvice.browser_status_meaning(status).startswith(status + ": ")
    assert "Retry-After" in auditadvice.BROWSER_STATUSES["PrefetchIneligibleRetryAfter"][1]
    assert auditadvice.browser_status_meaning("PrefetchSomethingNew").startswith("PrefetchSomethingNew")


def test_link_prefetch_fallback_and_stale_hits_count_as_prefetched():
    # CSP forbids the worker: install.js uses <link rel=prefetch>, the click is served by the HTTP cache
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, delivery="cache"), step(2, "/b", 20.0, delivery="cache")]
    trail = [edgio_hit("/a", 2.0) | {"caching_status": "stale"}]
    audit = analyze([run("edgio", steps, trail)])
    a, b = nav_of(audit, "edgio", 1), nav_of(audit, "edgio", 2)
    assert (a["served_from"], a["prefetched"]) == ("http-cache", True)
    assert (b["served_from"], b["prefetched"]) == ("http-cache", False)  # cached, but nothing prefetched it
    row = prefetches_of(audit, "edgio", "/a")[0]
    assert (row["edge"], row["used"]) == ("stale", True)
    assert audit["double_fetches"] == []  # the HTTP cache is not the network


def test_injection_skipped_for_another_reason_is_not_blamed_on_csp():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0)]
    trail = [rec("inject-skipped", "/", 1.06, dest="document", reason="undecodable-encoding")]
    audit = analyze([run("both", steps, trail)])
    a = nav_of(audit, "both", 1)
    assert (a["not_prefetched_reason"], a["not_prefetched_detail"]) == ("not-injected", "undecodable-encoding")
    assert "prefetch_inject_at" in audit["advice"][0]["remedy"]


def test_the_sites_service_worker_blocks_speculation_in_the_both_arm():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, delivery="cache-storage")]
    trail = [edgio_hit("/a", 2.0)]
    preload = [cdp("/a", 9.7, "Failure", "PrefetchNotEligibleUserHasServiceWorker")]
    audit = analyze([run("both", steps, trail, preload)])
    rows = {(p["mechanism"], p["edge"]): p for p in prefetches_of(audit, "both")}
    assert set(rows) == {("edgio", "hit"), ("speculation", "none")}
    assert rows[("edgio", "hit")]["used"] and not rows[("speculation", "none")]["used"]
    summary = audit["summary"]["both"]
    assert (summary["prefetches"], summary["used"], summary["accuracy"], summary["coverage"]) == (2, 1, 0.5, 1.0)
    assert summary["prefetches_by_mechanism"] == {"edgio": 1, "speculation": 1}


def test_a_304_to_a_revalidation_is_an_origin_request():
    trail = [
        doc("cache-store", "/", 1.1, caching_status="cached"),
        doc("revalidated", "/a", 2.0, status=304, caching_status="revalidated", flow_id="r"),
        doc("cache-hit", "/a", 2.01, caching_status="revalidated", flow_id="r"),
        doc("cache-store", "/b", 3.0, caching_status="cached", flow_id="bg"),
        doc("revalidated", "/b", 3.01, status=200, caching_status="cached", flow_id="bg"),  # the store counted it
    ]
    audit = analyze([run("control", [step(0, "/", 1.0)], trail)])
    assert audit["summary"]["control"]["origin_requests"] == 3


# ---- the learned arm: prerenders ---------------------------------------------------------------

def prerender_cdp(path, at, status, prerender_status=None, loader="L1"):
    return {"event": "prerenderStatusUpdated", "key": {"loaderId": loader, "action": "Prerender", "url": SITE + path},
            "status": status, "prerenderStatus": prerender_status, "ts": T0 + at}


def learned_walk():
    """/ offers prerenders of /a and /b (Chromium runs both, the walk presses /a: an activation)
    and /a offers nothing; the press on /c is a conservative prefetch of the fallback rule."""
    steps = [
        step(0, "/", 1.0),
        # /a was prerendered from 2.0 s (its timeOrigin) and activated at 6.0 s (activationStart 4,000 ms).
        {**step(1, "/a", 2.0, delivery="navigational-prefetch", activation=4000.0, response_start=3500.0,
                fcp=4100.0, lcp=4150.0, load=4300.0), "delivery": "prerender"},
        step(2, "/c", 12.0, delivery="navigational-prefetch"),
    ]
    trail = [
        doc("cache-hit", "/", 1.1, caching_status="hit"),
        rec("learned-rules", "/__edgio__/speculation-rules.json?page=%2F", 1.5, dest="speculationrules",
            status=200, page="/", prerender=["/a", "/b"], prerender_immediate=["/a", "/b"], prefetch=[]),
        spec_hit("/a", 2.1, size=30_000),
        spec_hit("/b", 2.2, size=25_000),
        rec("learned-rules", "/__edgio__/speculation-rules.json?page=%2Fa", 6.2, dest="speculationrules",
            status=200, page="/a", prerender=[], prerender_immediate=[], prefetch=[]),
        spec_hit("/c", 11.9, size=10_000),
    ]
    preload = [
        cdp("/a", 2.0, "Running"), prerender_cdp("/a", 2.0, "Running"), cdp("/a", 2.2, "Success", "PrefetchResponseUsed"),
        prerender_cdp("/a", 2.3, "Ready"), prerender_cdp("/a", 6.0, "Success"),
        cdp("/b", 2.0, "Running"), prerender_cdp("/b", 2.0, "Running"), cdp("/b", 2.3, "Ready", "PrefetchResponseUsed"),
        prerender_cdp("/b", 6.0, "Failure", "TriggerDestroyed"),
        cdp("/c", 11.8, "Success", "PrefetchResponseUsed", loader="L2"),
    ]
    return run("learned", steps, trail, preload)


def test_an_activated_prerender_is_a_covered_navigation_timed_from_its_activation():
    audit = analyze([learned_walk()])
    a = nav_of(audit, "learned", 1)
    assert a["served_from"] == "prerender" and a["delivery"] == "prerender" and a["prefetched"]
    assert a["lcp_ms"] == 150.0 and a["fcp_ms"] == 100.0 and a["ttfb_ms"] == 0.0  # minus activationStart, floored
    assert nav_of(audit, "learned", 2)["delivery"] == "prefetch"


def test_prerender_rows_are_told_from_prefetches_and_the_activated_one_is_used():
    audit = analyze([learned_walk()])
    rows = {p["url"].removeprefix(SITE): p for p in prefetches_of(audit, "learned")}
    assert {url: (p["kind"], p["used"]) for url, p in rows.items()} == {
        "/a": ("prerender", True), "/b": ("prerender", False), "/c": ("prefetch", True)}
    # /a was prerendered while / was showing: / issued it (the activation, not the timeOrigin, starts /a's window).
    assert rows["/a"]["step"] == 0 and rows["/c"]["step"] == 1


def test_learned_arm_summary_counts_offers_starts_and_activations():
    summary = analyze([learned_walk()])["summary"]["learned"]
    assert summary["prerenders"] == {"offered": 2, "started": 2, "activated": 1,
                                     "failed_by_reason": {"TriggerDestroyed": 1}}
    assert summary["prefetches_by_kind"] == {"prerender": 2, "prefetch": 1}
    assert summary["accuracy"] == pytest.approx(2 / 3, abs=1e-4) and summary["coverage"] == 1.0
    assert summary["wasted_bytes"] == 25_000 and summary["served_from"] == {"prerender": 1, "prefetch": 1}
    columns, rows = summary_rows(analyze([learned_walk()]))
    assert dict(zip(columns, rows[0]))["prerendered"] == "1 of 2"


def test_a_revisit_prefetched_from_chromiums_http_cache_credits_that_prefetch_not_the_spent_one():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0, delivery="navigational-prefetch"),
             step(2, "/b", 20.0, delivery="navigational-prefetch"), step(3, "/a", 30.0, delivery="navigational-prefetch")]
    trail = [doc("cache-hit", "/", 1.1), spec_hit("/a", 9.8), spec_hit("/b", 19.8)]
    # The second prefetch of /a never reached the edge: Chromium had /a in its HTTP cache.
    preload = [cdp("/a", 9.7, "Success", "PrefetchResponseUsed"), cdp("/b", 19.7, "Success", "PrefetchResponseUsed"),
               cdp("/a", 29.7, "Success", "PrefetchResponseUsed", loader="L3")]
    audit = analyze([run("speculation", steps, trail, preload)])
    rows = prefetches_of(audit, "speculation", "/a")
    assert [(p["edge"], p["used"]) for p in rows] == [("hit", True), ("none", True)]
    assert audit["summary"]["speculation"]["accuracy"] == 1.0


def test_the_placebo_arm_is_a_second_control_compared_like_any_arm():
    control = run("control", [step(0, "/", 1.0), step(1, "/a", 10.0, lcp=800.0, response_start=400.0)], [])
    placebo = run("placebo", [step(0, "/", 1.0), step(1, "/a", 10.0, lcp=810.0, response_start=400.0)], [])
    audit = analyze([control, placebo])
    assert all(n["not_prefetched_reason"] == "control" for n in audit["navigations"] if n["step"])
    assert audit["advice"] == []
    lcp = audit["summary"]["placebo"]["vs_control"]["lcp_ms"]
    assert lcp["n_pairs"] == 1 and lcp["median_diff_ms"] == 10.0 and lcp["verdict"] == "insufficient-data"
    assert "vs_control" not in audit["summary"]["control"]
