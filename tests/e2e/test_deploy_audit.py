"""The deployment from a real audit of the trap site (tests/sites/trap_site.py), with
--verify-deploy: every trap is judged unsafe or uncacheable with the right reason, the audit never
fetches the traps that act (the origin's own log), neither generated file makes a trap
prefetchable, and the deployed arm covers the prefetchable navigations at least as well as the
default rules while asking for no trap (counted here from the trails)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules
from prefetch_lab.trail import PREFETCH_EVENTS, read_records
from tests.harness import ROOT, Mitmdump, Origin
from tests.sites.trap_site import ACTION_TRAPS, RESPONSE_TRAPS, WALK, trap_routes

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]
TRAPS = {**ACTION_TRAPS, **RESPONSE_TRAPS}


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    out = tmp_path_factory.mktemp("deploy-audit")
    path_file = out / "walk.txt"
    path_file.write_text("\n".join(WALK) + "\n")
    with Origin(trap_routes()) as origin:
        # --dwell-ms 400 (the verdict audits' dwell): nothing here reads a page's timings, and the
        # prefetches this file counts start on hover or press (the deployed eagerness is chosen
        # from --hover-ms and --press-ms), never during the dwell. 0.3 s less on each of 24 navigations.
        done = subprocess.run(
            [sys.executable, "-m", "prefetch_lab.audit.cli", origin.base + "/", "--out", str(out / "audit"),
             "--arms", "control,speculation", "--runs", "1", "--path", str(path_file), "--dwell-ms", "400",
             "--verify-deploy"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT / "addon")}, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        document = json.loads((out / "audit" / "audit.json").read_text())
        yield origin, out / "audit", document, done.stdout + done.stderr


def test_every_trap_is_unsafe_or_uncacheable_with_its_reason(audited):
    origin, _, document, _ = audited
    links = {link["url"].removeprefix(origin.base): link for link in document["links"]}
    for path, (verdict, reason) in TRAPS.items():
        link = links[path]
        assert link["verdict"] == verdict and reason in (link["why"] + " " + (link["signal"] or "")), link
    assert links["/2024/01/hello/"]["verdict"] == "prefetch" and links["/2024/01/hello/"]["fetched"]["status"] == 200
    assert links["/partners/"]["region"] == "footer" and links["/hidden/"]["visible"] is False
    assert links["/2023/12/review/"]["fetched"] is None and "URL only" in links["/2023/12/review/"]["why"]


def test_the_audit_never_fetched_the_traps_that_act(audited):
    origin, _, _, _ = audited
    opened = [urlsplit(r.path) for r in origin.seen]
    for trap in ACTION_TRAPS:
        parts = urlsplit(trap)
        assert not [p for p in opened if p.path == parts.path and (p.query == parts.query or not parts.query)], trap
    assert not [p for p in opened if "add-to-cart" in p.query or "_wpnonce" in p.query]


def test_no_trap_is_prefetchable_in_either_file(audited, tmp_path):
    origin, out, document, _ = audited
    assert document["deploy"]["files"] == ["deploy/prefetch-rules.yaml", "deploy/speculation-rules.json", "deploy/README.md"]
    ruleset = load_rules([out / "deploy" / "prefetch-rules.yaml"])
    for path in TRAPS:
        parts = urlsplit(origin.base + path)
        assert not ruleset.match(RequestInfo("GET", "http", "127.0.0.1", parts.path, parts.query)).prefetchable, path
    assert ruleset.match(RequestInfo("GET", "http", "127.0.0.1", "/2025/07/unseen/", "")).prefetchable
    groups = {g["pattern"]: g for g in document["groups"]}
    assert groups[r"/:year(\d{4})/:month(\d{2})/:slug/"]["verdict"] == "prefetch"
    # The document the deployed arm's proxy served is the file, byte for byte in JSON terms.
    written = json.loads((out / "deploy" / "speculation-rules.json").read_text())
    eagerness = document["deploy"]["eagerness"]["value"]
    with Mitmdump(tmp_path / "conf", {"prefetch_rules": str(out / "deploy" / "prefetch-rules.yaml"),
                                      "prefetch_inject": "speculation", "prefetch_eagerness": eagerness}) as proxy:
        status, _, body = proxy.request("GET", origin.base + "/__edgio__/speculation-rules.json")
    assert status == 200 and json.loads(body) == written
    assert not [g for g in document["groups"] if g["verdict"] == "prefetch" and
                {origin.base + p for p in TRAPS} & set(g["examples"])]


def test_verify_deploy_covers_as_much_as_the_default_rules_and_prefetches_no_trap(audited):
    origin, out, document, _ = audited
    verify = document["deploy"]["verify"]
    arms = verify["arms"]
    assert arms["deployed"]["safe_navigations"] == arms["speculation"]["safe_navigations"] > 0
    assert arms["deployed"]["safe_coverage"] >= arms["speculation"]["safe_coverage"]
    assert verify["deployed_safe"] and verify["unsafe_prefetches_served"]["deployed"] == 0
    # Counted here from the deployed arm's trail: no prefetch of any trap.
    trail = read_records(out / "raw" / "deployed-run0.trail.jsonl")
    asked = [r["url"] for r in trail if r["event"] in PREFETCH_EVENTS]
    assert asked, "the deployed arm prefetched nothing at all"
    assert not [u for u in asked if u.split("?edgio")[0].removeprefix(origin.base) in TRAPS]
    assert (out / "deploy" / "README.md").read_text().count("Speculation-Rules") >= 2


def test_the_terminal_says_where_the_files_are_and_what_the_check_found(audited):
    lines = [line for line in audited[3].splitlines() if "deploy" in line or "prefetchable pages" in line]
    assert any(line.startswith("deployment: deploy/prefetch-rules.yaml") for line in lines), lines
    assert any("deployed:" in line and "0 unsafe or uncacheable prefetches served" in line for line in lines), lines
    assert any("the deployed arm asked for no unsafe or uncacheable URL" in line for line in lines), lines


def test_the_report_shows_what_to_deploy(audited):
    _, out, _, _ = audited
    report = (out / "report.html").read_text()
    assert '<section id="deploy">' in report and "/:year(\\d{4})/:month(\\d{2})/:slug/" in report
    assert 'data-copy="deploy-file-speculation-rules-json"' in report and "The deployed arm asked for no" in report
