"""The generated deployment files in the real programs: Chromium accepts the speculation-rules
document (CDP `Preload.ruleSetUpdated` without `errorType`) and selects exactly the links the
audit judged prefetchable; the YAML loads in a real mitmdump, whose edge then serves prefetches of
a prefetchable group from cache and refuses every trap without asking the origin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefetch_lab.deploy.deployment import build_deployment
from prefetch_lab.deploy.link_verdicts import Link, Response
from prefetch_lab.deploy.site_rules import Eagerness
from prefetch_lab.rules.rule_file import load_rules
from tests.harness import Mitmdump, Origin, Reply, launch_chromium

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
HTML = {"content-type": "text/html; charset=utf-8"}
SAFE = ["/2024/01/hello/", "/2024/02/world/", "/2023/12/review/", "/about/"]
TRAPS = ["/wp-login.php?action=logout&_wpnonce=abc", "/?add-to-cart=5", "/post/9?action=delete&nonce=1",
         "/notifications/mark-read?id=3", "/members/", "/local/"]
NOFOLLOW = "/partners/"


def deployment_for(base: str):
    links = [Link(base + p, pages=(base + "/page",), response=Response(200, cache_control="max-age=600")) for p in SAFE]
    links += [Link(base + p, pages=(base + "/page",)) for p in TRAPS[:4]]
    links += [Link(base + "/members/", response=Response(200, cache_control="no-store")),
              Link(base + "/local/", response=Response(200, vary="Cookie")),
              Link(base + NOFOLLOW, rel="nofollow")]
    return build_deployment(base + "/", links, [load_rules([ROOT / "rules" / "default.yaml"])],
                            Eagerness("conservative", "test"))


def page_html(document: dict) -> bytes:
    links = "".join(f'<a href="{p}">{p}</a><br>' for p in SAFE + TRAPS)
    links += f'<a rel="nofollow" href="{NOFOLLOW}">partners</a>'
    script = json.dumps(document)
    assert "</" not in script
    return f"<!doctype html><script type=speculationrules>{script}</script>{links}".encode()


def test_chromium_accepts_the_generated_document_and_selects_only_the_safe_links():
    browser = launch_chromium()
    try:
        page = browser.new_context().new_page()
        with Origin() as origin:
            deployment = deployment_for(origin.base)
            origin.routes["/page"] = Reply(200, HTML, page_html(deployment.site_rules.document))
            rule_sets: list[dict] = []
            sources: list[list[dict]] = []
            cdp = page.context.new_cdp_session(page)
            cdp.on("Preload.ruleSetUpdated", lambda event: rule_sets.append(event["ruleSet"]))
            cdp.on("Preload.preloadingAttemptSourcesUpdated", lambda e: sources.append(e["preloadingAttemptSources"]))
            cdp.send("Preload.enable")
            page.goto(f"{origin.base}/page")

            def selected() -> list[str]:
                return sorted(s["key"]["url"].removeprefix(origin.base) for s in (sources[-1] if sources else []))

            # Playwright's sync API delivers CDP events only inside its own waits.
            for _ in range(200):
                if rule_sets and selected() == sorted(SAFE):
                    break
                page.wait_for_timeout(50)
            [rule_set] = rule_sets
            assert "errorType" not in rule_set, rule_set.get("errorMessage")
            assert selected() == sorted(SAFE)
            # Conservative: nothing is fetched before a press; the traps never are.
            assert not [p for p in origin.paths_seen() if p not in ("/page", "/favicon.ico")]
    finally:
        browser.close()


def test_the_generated_yaml_loads_in_mitmdump_and_keeps_the_traps_out(tmp_path):
    pages = {p.split("?")[0]: Reply(200, HTML, b"<p>page</p>") for p in SAFE + TRAPS}
    with Origin(pages) as origin:
        rules = tmp_path / "prefetch-rules.yaml"
        rules.write_text(deployment_for(origin.base).files["prefetch-rules.yaml"])
        with Mitmdump(tmp_path / "conf", {"prefetch_rules": str(rules)}) as proxy:
            post = f"{origin.base}/2024/01/hello/"
            assert proxy.request("GET", post)[0] == 200  # warms the edge
            status, headers, _ = proxy.request("GET", post + "?edgio_prefetch=1")
            assert status == 200, headers
            before = len(origin.seen)
            for trap in TRAPS:
                sep = "&" if "?" in trap else "?"
                assert proxy.request("GET", f"{origin.base}{trap}{sep}edgio_prefetch=1")[0] == 412, trap
            assert len(origin.seen) == before  # refused at the edge: the origin never saw them
            assert "prefetch-rules.yaml" in proxy.log()
