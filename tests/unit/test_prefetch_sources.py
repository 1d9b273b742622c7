"""Every prefetch attributed to its source, ours or the site's own, on hand-built runs: the
control arm's prefetches are the site's, the experiment arms tell them apart by Sec-Speculation-Tags
and what was fetched; double fetches between the sources are listed, and what a gating edge did
to the site's own prefetches is a finding and an advice entry."""

from __future__ import annotations

from prefetch_lab.audit.analyze import analyze
from prefetch_lab.prefetch_mechanism import is_site_prefetch, mechanism
from tests.unit.test_auditanalysis import SITE, prefetches_of, rec, run, step

OURS = '"prefetch-lab"'
CHUNK = "/assets/guide.md.abc.lean.js"


def chunk_prefetch(event, at, **fields):
    """VitePress's <link rel=prefetch> of a route chunk: Sec-Purpose, no tags, dest script/empty."""
    defaults = {"prefetch": "speculation", "dest": "empty", "speculation_tags": ""}
    return rec(event, CHUNK, at, **{**defaults, **fields})


def test_mechanism_tells_the_sites_own_from_ours():
    documents, resources = {SITE + "/a"}, set()

    def of(record, **kw):
        return mechanism(record, record["url"], documents, resources, **kw)

    ours = rec("prefetch-hit", "/a", 1, prefetch="speculation", dest="document", speculation_tags=OURS)
    both = rec("prefetch-hit", "/a", 1, prefetch="speculation", dest="document", speculation_tags=f"null, {OURS}")
    site_rules = rec("prefetch-hit", "/a", 1, prefetch="speculation", dest="document", speculation_tags="null")
    link = chunk_prefetch("prefetch-refused", 1)
    old_trail = rec("prefetch-hit", "/a", 1, prefetch="speculation", dest="document")  # before speculation_tags
    edgio = rec("prefetch-hit", "/a?edgio_prefetch=1", 1, prefetch="edgio", dest="empty", content_type="text/html",
                speculation_tags="")
    assert [of(r) for r in (ours, both, site_rules, link, old_trail, edgio)] == [
        "speculation", "speculation", "site", "site", "speculation", "edgio"]
    # A prefetch the edge served after forwarding it as the site's rules' (one flow, two records).
    assert of(rec("prefetch-hit", "/a", 1, prefetch="speculation", dest="document"),
              forwarded_reason="site-speculation") == "site"
    # In an arm that injected nothing of ours, every prefetch is the site's.
    assert {of(r, injected=False) for r in (ours, edgio, old_trail)} == {"site"}
    assert not is_site_prefetch(ours) and is_site_prefetch(link)


def test_control_keeps_the_sites_prefetches_ungated_and_the_experiment_arm_refusal_is_a_finding():
    steps = [step(0, "/", 1.0), step(1, "/guide", 10.0)]
    control = [
        chunk_prefetch("prefetch-forwarded", 2.0, flow_id="c1", reason="gate-off"),
        rec("cache-store", CHUNK, 2.05, flow_id="c1", prefetch="speculation", status=200, caching_status="cached",
            size=900),
        # forwarded when classified, then served by the edge: one prefetch
        chunk_prefetch("prefetch-forwarded", 3.0, flow_id="c2", reason="gate-off"),
        chunk_prefetch("prefetch-hit", 3.01, flow_id="c2", status=200, caching_status="hit", size=900,
                       content_type="text/javascript"),
    ]
    speculation = [
        chunk_prefetch("prefetch-refused", 2.0, status=503, reason="not-cached"),
        chunk_prefetch("prefetch-refused", 3.0, status=503, reason="not-cached"),
        rec("prefetch-hit", "/guide", 9.8, prefetch="speculation", dest="document", speculation_tags=OURS,
            status=200, caching_status="hit", size=5_000, content_type="text/html"),
    ]
    audit = analyze([run("control", steps, control), run("speculation", steps, speculation)])
    assert [(p["mechanism"], p["edge"], p["edge_reason"], p["status"]) for p in prefetches_of(audit, "control")] == [
        ("site", "forwarded", "gate-off", 200), ("site", "hit", "hit", 200)]
    assert [(p["mechanism"], p["edge"]) for p in prefetches_of(audit, "speculation")] == [
        ("site", "refused"), ("site", "refused"), ("speculation", "hit")]

    control_site = audit["summary"]["control"]["site_prefetches"]
    assert (control_site["count"], control_site["refused"], control_site["forwarded"], control_site["served"]) == (2, 0, 1, 1)
    refused = audit["summary"]["speculation"]["site_prefetches"]
    assert (refused["count"], refused["refused"], refused["refusal_statuses"], refused["refused_urls"]) == (
        2, 2, [503], [SITE + CHUNK])
    entry = next(a for a in audit["advice"] if a["code"] == "site-prefetches-refused")
    assert entry["arms"] == ["speculation"] and entry["count"] == 2 and entry["example_urls"] == [SITE + CHUNK]
    assert "2 of the site's own 2 prefetches" in entry["reason"] and "503" in entry["reason"]
    assert not [a for a in audit["advice"] if a["code"] == "site-prefetches-refused" and "control" in a["arms"]]
    assert audit["summary"]["speculation"]["prefetches_by_mechanism"] == {"site": 2, "speculation": 1}


def test_a_url_prefetched_by_the_site_and_by_us_is_a_double_fetch_between_sources():
    steps = [step(0, "/", 1.0), step(1, "/a", 10.0), step(2, "/b", 20.0)]
    trail = [
        # the site's <link rel=prefetch> of the page /a (no tags), then our rules prefetch it again
        rec("prefetch-forwarded", "/a", 2.0, flow_id="s1", prefetch="speculation", dest="empty",
            speculation_tags="", reason="site-speculation"),
        rec("prefetch-hit", "/a", 9.8, prefetch="speculation", dest="document", speculation_tags=OURS,
            status=200, caching_status="hit", size=5_000, content_type="text/html"),
        # ours only: no double fetch between sources
        rec("prefetch-hit", "/b", 19.8, prefetch="speculation", dest="document", speculation_tags=OURS,
            status=200, caching_status="hit", size=5_000, content_type="text/html"),
    ]
    audit = analyze([run("speculation", steps, trail)])
    between = [d for d in audit["double_fetches"] if d["reason"] == "two-sources"]
    assert [(d["url"], d["kind"], d["prefetch_mechanism"], d["second_mechanism"], d["step"]) for d in between] == [
        (SITE + "/a", "prefetch", "site", "speculation", 0)]
    assert "then again by speculation" in between[0]["detail"]


def test_a_sites_script_prefetches_are_the_sites_joined_with_the_edges_answer():
    from prefetch_lab.audit.gather.page_scripts import script_prefetch

    def sent(url, kind="Fetch", priority="Low", **headers):
        return {"type": kind, "wallTime": 1.0, "request": {"url": url, "initialPriority": priority, "headers": headers}}

    # What the drivers keep of CDP's requestWillBeSent: low-priority fetches and XHRs, or a prefetch
    # hint header of the site's own; never an ordinary fetch, a document, or one with Sec-Purpose.
    assert script_prefetch(sent(SITE + "/a"))["hint"] == "priority Low"
    assert script_prefetch(sent(SITE + "/a", kind="XHR", priority="VeryLow"))["hint"] == "priority VeryLow"
    assert script_prefetch(sent(SITE + "/data.json", priority="High", **{"Next-Router-Prefetch": "1"}))["hint"] == "next-router-prefetch"
    assert script_prefetch(sent(SITE + "/a", priority="High", Purpose="prefetch"))["hint"] == "purpose"
    assert [script_prefetch(p) for p in (sent(SITE + "/a", priority="High"), sent(SITE + "/a", kind="Document"),
                                         sent(SITE + "/a", **{"Sec-Purpose": "prefetch"}))] == [None, None, None]

    steps = [step(0, "/", 1.0), step(1, "/a", 10.0), step(2, "/b", 20.0)]
    trail = [
        rec("cache-store", "/a", 2.3, dest="empty", status=200, caching_status="cached", size=4_000, content_type="text/html"),
        rec("cache-hit", "/b", 12.2, dest="empty", status=200, caching_status="hit", size=4_100, content_type="text/html"),
    ]
    raw = run("control", steps, trail)
    raw["script_prefetches"] = [
        {"url": SITE + "/a", "ts": 1_700_000_002.2, "type": "Fetch", "hint": "priority Low"},  # the origin answered
        {"url": SITE + "/b", "ts": 1_700_000_012.1, "type": "Fetch", "hint": "priority Low"},  # the edge's cache
        {"url": SITE + "/c", "ts": 1_700_000_013.0, "type": "XHR", "hint": "purpose"},  # never reached the edge
    ]
    audit = analyze([raw])
    rows = [(p["url"].removeprefix(SITE), p["mechanism"], p["kind"], p["edge"], p["bytes"], p["hint"], p["step"])
            for p in prefetches_of(audit, "control")]
    assert rows == [("/a", "site", "script-fetch", "forwarded", 4_000, "priority Low", 0),
                    ("/b", "site", "script-fetch", "hit", 4_100, "priority Low", 1),
                    ("/c", "site", "script-fetch", "none", None, "purpose", 1)]
    counted = audit["summary"]["control"]["site_prefetches"]
    assert (counted["count"], counted["forwarded"], counted["served"]) == (2, 1, 1)  # the edge saw two
