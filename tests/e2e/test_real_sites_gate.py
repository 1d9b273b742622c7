"""`prefetch_gate`: on (the default) an uncached prefetch is refused and never reaches the
origin, as Edgio's and Speed Brain's edges do; off (the audit's control arms) it is an ordinary
request: the site's own prefetches (`<link rel=prefetch>`, untagged) work as without a gating
edge, and the trail says so (`prefetch-forwarded`, reason `gate-off`, with the request's
Sec-Speculation-Tags, "" when it had none, for the audit's attribution)."""

from __future__ import annotations

import pytest

from prefetch_lab import trail
from tests.e2e.test_option_check import start_output
from tests.harness import Mitmdump, Origin, Reply, wait_until

pytestmark = pytest.mark.e2e

PAGE = Reply(200, {"content-type": "text/html", "cache-control": "max-age=60"}, b"<!doctype html><p>page</p>")
CHUNK = Reply(200, {"content-type": "text/javascript", "cache-control": "max-age=31536000, immutable"}, b"export {}")


def prefetch_records(path) -> list[dict]:
    return [r for r in trail.read_records(path) if r["event"].startswith("prefetch-")]


def flows(path) -> list[list[dict]]:
    """The prefetch records grouped by flow, in order."""
    grouped: dict[str, list[dict]] = {}
    for record in prefetch_records(path):
        grouped.setdefault(record["flow_id"], []).append(record)
    return list(grouped.values())


@pytest.mark.parametrize("gate, refused", [("on", True), ("off", False)])
def test_the_gate_refuses_a_cold_site_prefetch_only_when_on(tmp_path, gate, refused):
    audit = tmp_path / "trail.jsonl"
    with Origin({"/page": PAGE, "/assets/chunk.js": CHUNK}) as origin, Mitmdump(
            tmp_path, {"prefetch_inject": "off", "prefetch_gate": gate, "prefetch_audit_file": str(audit)}) as proxy:
        status, _, body = proxy.request("GET", f"{origin.base}/assets/chunk.js",
                                        {"Sec-Purpose": "prefetch", "Sec-Fetch-Dest": "script"})
        assert (status, body) == ((412, b"") if refused else (200, b"export {}"))
        assert origin.paths_seen() == ([] if refused else ["/assets/chunk.js"])
        # The site's own speculation rules (tagged null) are never gated, gate on or off.
        status, _, _ = proxy.request("GET", f"{origin.base}/page", {"Sec-Purpose": "prefetch",
                                                                    "Sec-Speculation-Tags": "null"})
        assert status == 200
        # Once cached, the prefetch is served by the edge either way.
        proxy.request("GET", f"{origin.base}/assets/chunk.js")
        status, headers, _ = proxy.request("GET", f"{origin.base}/assets/chunk.js", {"Sec-Purpose": "prefetch"})
        assert status == 200 and headers["x-edg-caching-status"] == "hit"
    # One flow per request: an ungated prefetch is recorded forwarded when classified, and
    # prefetch-hit too when the edge then serves it (the audit joins them by flow).
    assert wait_until(lambda: len(flows(audit)) == 3), prefetch_records(audit)
    first, site_rules, hit = flows(audit)
    if refused:
        assert [(r["event"], r["reason"], r["status"]) for r in first] == [("prefetch-refused", "not-cached", 412)]
    else:
        assert [(r["event"], r["reason"]) for r in first] == [("prefetch-forwarded", "gate-off")]
    assert first[0]["speculation_tags"] == "" and first[0]["dest"] == "script"
    assert [(r["event"], r["reason"], r["speculation_tags"]) for r in site_rules] == [
        ("prefetch-forwarded", "site-speculation", "null")]
    assert [r["event"] for r in hit] == (["prefetch-hit"] if refused else ["prefetch-forwarded", "prefetch-hit"])


def test_a_bad_gate_value_stops_the_proxy(tmp_path):
    status, output = start_output(tmp_path, {"prefetch_gate": "maybe"})
    assert status == 1, output
    assert "prefetch_gate must be on or off" in output
