"""The report's deployment section: the groups table, the unsafe and uncacheable links with their
reasons, --verify-deploy's lines, and the generated files with a copy button, escaped."""

from prefetch_lab.report import render as report
from prefetch_lab.report.deploy_view import deploy_view
from tests.unit.test_report import SITE, small_audit


def deployed_audit() -> dict:
    audit = small_audit()
    audit["links"] = [
        {"url": SITE + "p/1", "text": "One", "verdict": "prefetch", "why": "cacheable", "signal": None, "remedy": None,
         "region": "main", "visible": True, "pages": [SITE]},
        {"url": SITE + "logout", "text": '<img src=x onerror=alert(1)>', "verdict": "unsafe",
         "why": "fetching it may change state: sign-out link", "signal": "sign-out link", "remedy": "never prefetch it",
         "region": "nav", "visible": True, "pages": [SITE]},
    ]
    audit["groups"] = [
        {"pattern": "/p/:id(\\d+)", "query": [], "verdict": "prefetch", "urls": 3, "fetched": 2, "examples": [],
         "why": None, "covers": [], "ttl": {"max_age": 300, "service_worker_max_age": 120, "stale_while_revalidate": 3600,
                                            "why": "edge TTL 300s: an assumption"}},
        {"pattern": "/logout", "query": [], "verdict": "unsafe", "urls": 1, "fetched": 0, "examples": [],
         "why": "sign-out link", "covers": [], "ttl": None},
    ]
    audit["deploy"] = {"files": ["deploy/prefetch-rules.yaml"], "eagerness": {"value": "moderate", "why": "hover 250 ms"},
                       "verify": {"arms": {"deployed": {"coverage": 1.0, "safe_coverage": 1.0, "safe_navigations": 3,
                                                        "accuracy": 1.0, "lcp_ms_p50": 300.0}},
                                  "unsafe_prefetches": {"speculation": [{"url": SITE + "logout", "served": False}]},
                                  "deployed_safe": True}}
    return audit


def test_the_section_has_the_groups_the_unsafe_links_and_the_verification():
    view = deploy_view(deployed_audit(), {"prefetch-rules.yaml": "rules: []\n"})
    assert [row[0]["text"] for row in view["groups_table"]["rows"]] == ["/p/:id(\\d+)", "/logout"]
    assert [row[0]["text"] for row in view["unsafe_table"]["rows"]] == ["/logout"]
    assert any("speculation asked for 1 prefetch" in line for line in view["verify_lines"])
    assert view["verify_lines"][-1] == "The deployed arm asked for no unsafe or uncacheable URL."
    assert [f["name"] for f in view["files"]] == ["prefetch-rules.yaml"]
    assert deploy_view(small_audit(), {}) is None  # an audit from before the deployment


def test_the_report_shows_the_files_with_a_copy_button_escaped(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "prefetch-rules.yaml").write_text("# <script>alert(1)</script>\nrules: []\n")
    html = report.render_report(deployed_audit(), tmp_path / "raw")
    assert '<section id="deploy">' in html and 'data-copy="deploy-file-prefetch-rules-yaml"' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert "<img src=x" not in html
    assert "Speculation eagerness <strong>moderate</strong>" in html
