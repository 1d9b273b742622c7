"""The deployment built from a blog's links with traps: the YAML loads with the rules' own loader
and makes exactly the safe links prefetchable; the speculation-rules document is derived from
it; the TTLs and the eagerness come from what was observed, and say so."""

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from prefetch_lab.deploy.deployment import build_deployment
from prefetch_lab.deploy.link_verdicts import Link, Response
from prefetch_lab.deploy.site_rules import Eagerness, choose_eagerness, choose_ttls
from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules

ROOT = Path(__file__).resolve().parents[2]
SITE = "http://127.0.0.1:8000"
HOME = SITE + "/"
POSTS = ["/2024/01/hello/", "/2024/02/world/", "/2023/12/review/"]
TRAPS = ["/wp-login.php?action=logout&_wpnonce=abc", "/?add-to-cart=5", "/post/9?action=delete&nonce=1",
         "/notifications/mark-read?id=3", "/wiki/Special:UserLogout"]


def links() -> list[Link]:
    found = [Link(SITE + p, text=p, region="main", pages=(HOME,), followed=True,
                  response=Response(200, cache_control="public, max-age=600")) for p in POSTS]
    found += [Link(SITE + "/about/", text="About", region="nav", pages=(HOME,))]
    found += [Link(SITE + p, text="trap", region="main", pages=(HOME,)) for p in TRAPS]
    found += [
        Link(SITE + "/members/", region="nav", pages=(HOME,), response=Response(200, cache_control="no-store")),
        Link(SITE + "/greeting/", pages=(HOME,), response=Response(200, set_cookies=("session",))),
        Link(SITE + "/local/", pages=(HOME,), response=Response(200, vary="Cookie")),
        Link(SITE + "/orders/", pages=(HOME,), response=Response(302, location="/signin?next=/orders/")),
        Link(SITE + "/partners/", rel="nofollow", pages=(HOME,)),
        Link(SITE + "/2024/01/hello/#comments", pages=(SITE + "/2024/02/world/",)),  # merged with the post
        Link("https://elsewhere.test/x", pages=(HOME,)),  # another origin: not a link of this site
    ]
    return found


@pytest.fixture(scope="module")
def deployment():
    defaults = load_rules([ROOT / "rules" / "default.yaml"])
    return build_deployment(HOME, links(), [defaults], Eagerness("conservative", "measured"))


def prefetchable(ruleset, url: str) -> bool:
    parts = urlsplit(url)
    return ruleset.match(RequestInfo("GET", parts.scheme, parts.hostname, parts.path, parts.query)).prefetchable


def test_every_link_has_one_verdict_with_a_reason(deployment):
    rows = {row["url"]: row for row in deployment.links}
    assert "https://elsewhere.test/x" not in rows
    assert rows[SITE + "/2024/01/hello/"]["pages"] == [HOME, SITE + "/2024/02/world/"]
    assert {rows[SITE + p]["verdict"] for p in POSTS + ["/about/"]} == {"prefetch"}
    assert {rows[SITE + p]["verdict"] for p in TRAPS} <= {"unsafe", "excluded"}
    expected = {"/members/": ("uncacheable", "Cache-Control: no-store"), "/greeting/": ("unsafe", "sets new cookies"),
                "/local/": ("uncacheable", "Vary: Cookie"), "/orders/": ("unsafe", "redirect to sign-in"),
                "/partners/": ("unsafe", "rel=nofollow")}
    for path, (verdict, signal) in expected.items():
        assert (rows[SITE + path]["verdict"], rows[SITE + path]["signal"]) == (verdict, signal)
    assert all(row["why"] for row in rows.values())


def test_the_yaml_loads_and_makes_exactly_the_safe_links_prefetchable(deployment, tmp_path):
    path = tmp_path / "prefetch-rules.yaml"
    path.write_text(deployment.files["prefetch-rules.yaml"])
    ruleset = load_rules([path])
    for row in deployment.links:
        assert prefetchable(ruleset, row["url"].split("#")[0]) == (row["verdict"] == "prefetch"), row
    assert prefetchable(ruleset, SITE + "/2025/06/unseen-post/")  # the group's pattern
    assert not prefetchable(ruleset, SITE + "/2025/06/unseen-post/?_wpnonce=1")  # the safety net
    assert not prefetchable(ruleset, SITE + "/logout")


def test_the_groups_carry_patterns_counts_verdicts_and_ttls(deployment):
    groups = {g["pattern"]: g for g in deployment.groups}
    dated = groups[r"/:year(\d{4})/:month(\d{2})/:slug/"]
    assert (dated["verdict"], dated["urls"], dated["fetched"]) == ("prefetch", 3, 3)
    assert dated["ttl"]["max_age"] == 600 and "origin" in dated["ttl"]["why"]
    assert groups["/about/"]["ttl"]["max_age"] == 300 and "assumption" in groups["/about/"]["ttl"]["why"]
    assert all(g["ttl"] is None and g["why"] for g in deployment.groups if g["verdict"] != "prefetch")


def test_the_speculation_document_excludes_nofollow_and_the_unsafe_groups(deployment):
    text = deployment.files["speculation-rules.json"]
    [rule] = deployment.site_rules.document["prefetch"]
    assert rule["source"] == "document" and rule["eagerness"] == "conservative"
    assert "[rel~=nofollow]" in text and "href_matches" in text


def test_the_readme_says_how_to_deploy_and_what_to_review(deployment):
    readme = deployment.files["README.md"]
    for needle in ("Speculation-Rules", "speculationrules", "nginx", "Apache", "_headers", "Cloudflare Worker",
                   "Review before deploying", r"`/:year(\d{4})/:month(\d{2})/:slug/`", "/members/"):
        assert needle in readme, needle


def test_ttls_from_the_origin_and_the_defaults():
    origin = choose_ttls([Response(200, cache_control="max-age=60, s-maxage=900, stale-while-revalidate=30")])
    assert (origin.max_age, origin.service_worker_max_age, origin.stale_while_revalidate) == (900, 120, 30)
    assumed = choose_ttls([])
    assert (assumed.max_age, assumed.service_worker_max_age, assumed.stale_while_revalidate) == (300, 120, 3600)
    assert "assumption" in assumed.why


def test_eagerness_from_the_audits_figures():
    used = {"speculation": {"accuracy": 0.9, "coverage": 0.8, "wasted_bytes": 1000}}
    assert choose_eagerness(used, "conservative", 250, 100).value == "moderate"
    assert choose_eagerness(used, "conservative", 100, 100).value == "conservative"
    wasted = {"speculation": {"accuracy": 0.2, "coverage": 0.8, "wasted_bytes": 90000}}
    chosen = choose_eagerness(wasted, "conservative", 250, 100)
    assert chosen.value == "conservative" and "20 %" in chosen.why
    assert choose_eagerness({}, "conservative", 250, 100).value == "conservative"


def test_the_nine_cms_urls_give_rules_that_load_and_keep_every_unsafe_one_out(tmp_path):
    """Every sign-in, sign-out, account, admin, cart and action URL of the nine CMSs with their
    content URLs as one site's links: the YAML loads, the verdicts hold in it, and the speculation
    document builds (odd segments like Special:UserLogin and hex parameter names escaped)."""
    from tests.unit.test_deploy_link_verdicts import CONTENT, UNSAFE_OR_EXCLUDED

    site = "https://www.example.test"
    found = [Link(site + p, pages=(site + "/",)) for p in UNSAFE_OR_EXCLUDED + CONTENT]
    defaults = load_rules([ROOT / "rules" / "default.yaml"])
    built = build_deployment(site + "/", found, [defaults], Eagerness("conservative", "test"))
    path = tmp_path / "prefetch-rules.yaml"
    path.write_text(built.files["prefetch-rules.yaml"])
    ruleset = load_rules([path])
    verdicts = {row["url"]: row["verdict"] for row in built.links}
    for p in UNSAFE_OR_EXCLUDED:
        if "#" not in p:
            assert not prefetchable(ruleset, site + p), p
    for p in CONTENT:
        assert verdicts[site + p.split("#")[0]] == "prefetch", p
        assert prefetchable(ruleset, site + p.split("#")[0]), p
    assert built.site_rules.document["prefetch"]


def test_fragment_links_merge_unless_the_fragment_is_what_they_do():
    from prefetch_lab.deploy.deployment import link_key, merge_links

    assert link_key(SITE + "/p/#comments") == SITE + "/p/"
    assert link_key(SITE + "/#/portal/signin") == SITE + "/#/portal/signin"
    merged = merge_links([Link(SITE + "/p/#top", pages=("a",)), Link(SITE + "/p/", pages=("b",), followed=True),
                          Link(SITE + "/#/portal/signup", pages=("a",))])
    assert [(m.url, m.pages, m.followed) for m in merged] == [
        (SITE + "/p/", ("a", "b"), True), (SITE + "/#/portal/signup", ("a",), False)]
    built = build_deployment(HOME, merged, [], Eagerness("conservative", "test"))
    portal = next(row for row in built.links if "#" in row["url"])
    assert portal["verdict"] == "unsafe" and portal["group"] is None  # it fetches "/": nothing to exclude
    assert not [g for g in built.groups if g["verdict"] != "prefetch"]
