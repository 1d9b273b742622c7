"""Audits of real software (tests/sites/), checked against each origin's own request log: the
VitePress site (client-side routing: soft navigations; its own chunk prefetches: the site's, ungated in the control arm, refused by the
gating edge in the experiment arm), Trac (its session and form-token cookies: the advice names
them, and the --what-if ignore-cookies arm runs), MediaWiki (no state-changing URL is ever
requested or prefetched; links under its cookie banner are never chosen, and recorded)."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.audit.settings import WHAT_IF_ARM as IGNORE_COOKIES
from prefetch_lab.trail import read_records
from tests.e2e.test_audit import run_audit
from tests.sites.mediawiki import UNSAFE as MEDIAWIKI_UNSAFE, mediawiki  # noqa: F401 (fixture)
from tests.sites.spa import spa  # noqa: F401 (fixture)
from tests.sites.trac import trac  # noqa: F401 (fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]


def windows(out: Path) -> dict[str, tuple[float, float]]:
    """Each arm's measured window (epoch s), from the raw runs (one run per arm here)."""
    runs = json.loads((out / "raw" / "runs.json").read_text())["runs"]
    return {r["arm"]: (r["measure_start"], r["measure_end"]) for r in runs}


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_spa_routes_softly_and_its_own_chunk_prefetches_are_the_sites_ungated_in_control(spa, tmp_path):
    out = tmp_path / "audit"
    # No --refusal-status: the speculation arm refuses as Speed Brain does, with 503.
    audit, output = run_audit(out, spa.url + "/", "--quick", "--arms", "control,speculation")
    window = windows(out)
    check_soft_navigations(audit, output, out, window, spa)
    prefetches = audit["prefetches"]
    site = {arm: [p for p in prefetches if p["arm"] == arm and p["mechanism"] == "site"] for arm in window}
    # VitePress prefetched its route chunks (<link rel=prefetch>: Sec-Purpose, no tags) in both arms.
    assert site["control"] and site["speculation"], prefetches
    assert all("/assets/" in p["url"] for arm in site for p in site[arm])

    def origin_prefetches(arm: str) -> list[str]:
        start, end = window[arm]
        return sorted(r.target for r in spa.prefetches() if start <= r.ts <= end)

    # Control is the site as it is: none refused; each one the edge forwarded is in the origin's
    # log as a prefetch, in that arm's window, and nothing else was (the rest the edge served:
    # the warm-up's pages may have prefetched some already).
    assert {p["edge"] for p in site["control"]} <= {"forwarded", "hit", "stale"}
    forwarded = sorted(path_of(p["url"]) for p in site["control"] if p["edge"] == "forwarded")
    assert forwarded == origin_prefetches("control")
    assert audit["summary"]["control"]["site_prefetches"]["refused"] == 0
    # The route chunks the soft navigations then took from the browser's cache were those prefetches.
    assert any(p["used"] for p in site["control"])
    # The experiment arm's gate answers them as Speed Brain does (503 on a miss): never at the
    # origin, counted and named in the summary and the advice.
    refused = [p for p in site["speculation"] if p["edge"] == "refused"]
    assert refused and {p["status"] for p in refused} == {503}
    assert not set(map(path_of, (p["url"] for p in refused))) & set(origin_prefetches("speculation"))
    counted = audit["summary"]["speculation"]["site_prefetches"]
    assert counted["refused"] == len(refused) and set(counted["refused_urls"]) <= {p["url"] for p in refused}
    entry = next(a for a in audit["advice"] if a["code"] == "site-prefetches-refused")
    assert entry["arms"] == ["speculation"] and entry["count"] == len(refused)
    assert "site prefetches (speculation)" in output
    # Our own speculation prefetches (documents, tagged) are ours, never the site's.
    ours = [p for p in prefetches if p["mechanism"] == "speculation"]
    assert all(p["arm"] == "speculation" and "/assets/" not in p["url"] for p in ours)
    # Double fetches between the sources: the URLs both the site and our rules asked the edge for.
    both = {p["url"] for p in site["speculation"] if p["edge"] != "none"} & {p["url"] for p in ours if p["edge"] != "none"}
    assert {d["url"] for d in audit["double_fetches"] if d["reason"] == "two-sources"} == both
    assert audit["summary"]["speculation"]["double_fetches_by_reason"].get("two-sources", 0) >= len(both)


def check_soft_navigations(audit: dict, output: str, out: Path, window: dict, spa) -> None:
    """VitePress routes on the client: every press after the landing page is a soft navigation,
    measured from its own press by Chromium's soft-navigation entries, never with the landing
    document's figures, and never judged as a document prefetch could be."""
    for arm, (start, end) in window.items():
        navs = sorted((n for n in audit["navigations"] if n["arm"] == arm), key=lambda n: n["step"])
        assert len(navs) > 2 and [n["kind"] for n in navs] == ["document"] + ["soft"] * (len(navs) - 1)
        for n in navs[1:]:
            soft = n["soft"]
            assert soft["method"] == "chromium" and soft["navigation_type"] == "push"
            assert 0 <= soft["url_change_ms"] <= soft["largest_paint_ms"] and 0 <= soft["first_paint_ms"] <= soft["largest_paint_ms"]
            assert (n["ttfb_ms"], n["lcp_ms"], n["served_from"], n["not_prefetched_reason"]) == (None, None, "no-document", None)
            assert n["filmstrip"] and n["visual"]["speed_index_ms"] is not None
        summary = audit["summary"][arm]
        assert summary["navigations"] == 0 and summary["soft_navigations"] == len(navs) - 1
        assert summary["lcp_ms_p50"] is None and summary["soft_navigations_p50"]["largest_paint_ms"] is not None
        # The trail agrees: in the arm's window no page of a soft step was asked for as a document
        # (only prefetched, by our rules); the warm-up, before it, opened them as documents.
        soft_urls = {n["url"] for n in navs[1:]}
        trail = list(read_records(out / "raw" / f"{arm}-run0.trail.jsonl"))
        documents = [r for r in trail if start <= r["ts"] <= end and r.get("dest") == "document" and not r.get("prefetch")]
        assert not [r["url"] for r in documents if r["url"].split("?")[0] in soft_urls]
        assert soft_urls & {r["url"].split("?")[0] for r in trail if r.get("dest") == "document" and r["ts"] < start}
        # So does the origin's own log (the warm-up's requests for those pages are in it, before).
        soft_paths = {path_of(url) for url in soft_urls}
        documents_asked = [(r.ts, r.target) for r in spa.requests() if r.headers.get("sec-fetch-dest") == "document"
                           and not r.headers.get("sec-purpose") and r.target.split("?")[0] in soft_paths]
        assert documents_asked and not [t for ts, t in documents_asked if start <= ts <= end]
    # The headline says so and points at what would help; no arm claims or denies a gain, and
    # no soft navigation is advised on as "not prefetched".
    assert "Most navigations on this site are soft" in output
    report = (out / "report.html").read_text()
    assert "Most navigations on this site are soft" in report and "table-soft" in report
    assert "no document-prefetch gain can be measured" in report
    entry = next(a for a in audit["advice"] if a["code"] == "soft-navigations")
    assert "deep fetch" in entry["remedy"] and entry["count"] == sum(s["soft_navigations"] for s in audit["summary"].values())
    assert not [a for a in audit["advice"] if a.get("noun") is None]  # none about navigations not prefetched
    # And what to deploy says first that its rules help document navigations only.
    assert (out / "deploy" / "README.md").read_text().splitlines()[2].startswith("**Read first:** ")


def test_trac_advice_names_its_cookies_and_the_what_if_arm_reports_its_gain_with_the_risk(trac, tmp_path):
    out = tmp_path / "audit"
    # No control arm: the what-if arm is compared with the arm whose prefetching it runs.
    audit, output = run_audit(out, trac.url + "/wiki", "--quick", "--arms", "speculation",
                              "--what-if", "ignore-cookies=trac_form_token,trac_session")
    assert audit["complete"], audit.get("problem")
    # Trac sets its cookies on every page: the edge stored none of them, and the advice says which.
    cookies = audit["summary"]["speculation"]["cookies"]
    assert cookies["set_cookie_refusals"] > 0 and "trac_session" in cookies["set_cookie_names"]
    named = [a for a in audit["advice"] if "trac_session" in (a.get("cookies") or [])
             and "remove_origin_response_headers" in a["remedy"]]
    assert named and "Risk:" in named[0]["remedy"] and "trac_session" in named[0]["reason"]
    # The what-if arm ran (its own proxy, its rules file) and the pages were stored, shared and
    # served from the edge there; its result compares it with the speculation arm.
    assert IGNORE_COOKIES in audit["summary"] and audit["summary"][IGNORE_COOKIES]["navigations"] > 0
    assert (out / "raw" / "what-if-ignore-cookies.yaml").is_file()
    trail = list(read_records(out / "raw" / f"{IGNORE_COOKIES}-run0.trail.jsonl"))
    assert any(r["event"] == "cache-store" and "/wiki" in r["url"] for r in trail)
    assert not any(r.get("caching_status") == "set-cookie" for r in trail)
    assert any(r["event"] in ("cache-hit", "prefetch-hit") for r in trail)
    what_if = audit["what_if"]
    assert what_if["base_arm"] == "speculation" and what_if["ignore_cookies"] == ["trac_form_token", "trac_session"]
    assert isinstance(what_if["ttfb_ms_p50"]["difference_ms"], float) and "form token" in what_if["risk"]
    entry = next(a for a in audit["advice"] if a["code"] == "what-if-ignore-cookies")
    assert "Risk:" in entry["remedy"] and "ignore-cookies" in output
    # And nothing that changes Trac's state was requested.
    assert trac.unsafe_requests() == []


def test_mediawiki_audit_never_requests_or_prefetches_a_state_changing_url(mediawiki, tmp_path):
    out = tmp_path / "audit"
    # The arms that prefetch: Edgio's client (every prefetchable link in view) and speculation
    # rules on hover.
    audit, _ = run_audit(out, mediawiki.url + "/index.php/Main_Page", "--quick", "--arms", "speculation,edgio",
                         "--eagerness", "moderate")
    assert audit["complete"], audit.get("problem")
    assert audit["summary"]["edgio"]["navigations"] > 0 and audit["summary"]["edgio"]["prefetches"] > 0
    # The wiki's own log: every request of the audit (planning, warm-ups, every arm) reached it,
    # and none was an edit, purge, watch, delete or log-out.
    logged = mediawiki.requests()
    assert any(r.target.startswith("/index.php/") for r in logged)
    assert mediawiki.unsafe_requests() == []
    # Nor did any arm try to prefetch one (a refused prefetch never reaches the origin: the trail).
    # The rules must keep such URLs out (bypass_cache: never prefetchable), not a cold edge.
    unsafe_prefetches = [(p["arm"], p["url"], p["edge"], p["rules"]) for p in audit["prefetches"]
                         if MEDIAWIKI_UNSAFE.search(p["url"])]
    assert unsafe_prefetches == [], "the rules let state-changing MediaWiki URLs be prefetched"
    assert not [s["url"] for s in audit["walk"] if MEDIAWIKI_UNSAFE.search(s["url"])]
    # The wiki's cookie banner covers its header (tabs, personal links): the planner chose none
    # of those links and recorded why; every step it chose was pressed, none typed.
    covered = [k for s in audit["walk"] for k in s["skipped"] if k["why"] == "covered by div#cookie-banner"]
    assert covered and all(k["href"].startswith(mediawiki.url) for k in covered)
    chosen = {s["url"] for s in audit["walk"][1:]}
    assert not chosen & {k["href"] for k in covered}
    navigations = [n for n in audit["navigations"] if n["step"] >= 1]
    assert navigations and all(n["trigger"] == "link" and n["press_problem"] is None for n in navigations)
