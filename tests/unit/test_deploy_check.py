"""--verify-deploy's check on hand-made runs, and the link facts read from a trail and a HAR."""

from prefetch_lab.audit.computed.link_facts import collect_links, responses_from
from prefetch_lab.audit.findings.deploy_check import deploy_check

S = "http://127.0.0.1:9"
LINKS = [{"url": S + "/a/", "verdict": "prefetch"}, {"url": S + "/b/", "verdict": "prefetch"},
         {"url": S + "/logout", "verdict": "unsafe"}, {"url": S + "/local/", "verdict": "uncacheable"}]


def nav(arm, step, url, prefetched):
    return {"arm": arm, "step": step, "url": S + url, "walk_url": S + url, "prefetched": prefetched}


def test_unsafe_prefetches_by_arm_and_the_fair_coverage():
    runs = [
        {"arm": "speculation", "run": 0, "trail": [
            {"event": "prefetch-hit", "url": S + "/local/"}, {"event": "prefetch-hit", "url": S + "/a/"},
            {"event": "prefetch-refused", "url": S + "/logout"}]},
        {"arm": "deployed", "run": 0, "trail": [{"event": "prefetch-hit", "url": S + "/a/"},
                                                {"event": "prefetch-hit", "url": S + "/b/"}]},
    ]
    navigations = [nav("speculation", 1, "/a/", True), nav("speculation", 2, "/local/", True), nav("speculation", 3, "/b/", False),
                   nav("deployed", 1, "/a/", True), nav("deployed", 2, "/local/", False), nav("deployed", 3, "/b/", True),
                   nav("deployed", 0, "/a/", False)]
    summary = {"speculation": {"coverage": 0.67}, "deployed": {"coverage": 0.67}}
    check = deploy_check(runs, summary, LINKS, navigations)
    assert check["unsafe_prefetches_served"] == {"speculation": 1, "deployed": 0}
    assert [p["url"] for p in check["unsafe_prefetches"]["speculation"]] == [S + "/local/", S + "/logout"]
    assert check["deployed_safe"]
    assert check["arms"]["speculation"]["safe_coverage"] == 0.5 and check["arms"]["deployed"]["safe_coverage"] == 1.0
    assert check["deployed_against"]["speculation"]["safe_coverage_diff"] == 0.5


def test_link_facts_from_the_har_and_the_trail_leave_prefetches_and_resources_out():
    har = [
        {"request": {"method": "GET", "url": S + "/welcome/", "headers": [], "cookies": []},
         "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "text/html"},
                                                 {"name": "Set-Cookie", "value": "session=1; Path=/"},
                                                 {"name": "Cache-Control", "value": "max-age=60"}],
                      "cookies": [{"name": "session", "value": "1"}], "content": {"size": 900}}},
        {"request": {"method": "GET", "url": S + "/a/?edgio_prefetch=1", "headers": [], "cookies": []},
         "response": {"status": 412, "headers": [{"name": "content-type", "value": "text/html"}]}},
        {"request": {"method": "GET", "url": S + "/style.css", "headers": []},
         "response": {"status": 200, "headers": [{"name": "content-type", "value": "text/css"}]}},
        {"request": {"method": "GET", "url": S + "/orders/", "headers": []},
         "response": {"status": 302, "headers": [], "redirectURL": "/signin"}},
    ]
    trail = [{"event": "cache-bypass", "url": S + "/welcome/", "caching_status": "set-cookie"}]
    responses = responses_from(har, trail)
    assert set(responses) == {S + "/welcome/", S + "/orders/"}
    welcome = responses[S + "/welcome/"]
    assert (welcome.set_cookies, welcome.caching_status, welcome.cache_control, welcome.size) == (
        ("session",), "set-cookie", "max-age=60", 900)
    assert responses[S + "/orders/"].location == "/signin"
    pages = [{"page": S + "/", "links": [{"href": S + "/welcome/#top", "text": "Hi", "rel": "", "region": "main",
                                          "visible": True}, {"href": "mailto:x@y", "text": "mail"}]}]
    [link] = collect_links(pages, [S + "/welcome/"], responses, [])
    assert link.followed and link.response is welcome and link.pages == (S + "/",)


def test_the_deployed_arm_comes_only_with_verify_deploy():
    import pytest

    from prefetch_lab.audit.cli import parse_args, settings_from

    with pytest.raises(SystemExit):
        parse_args([S + "/", "--arms", "control,deployed"])
    assert settings_from(parse_args([S + "/", "--verify-deploy"])).verify_deploy


def test_the_terminal_lines():
    from prefetch_lab.audit.findings.deploy_check import deploy_lines

    document = {"links": [{"verdict": "prefetch"}, {"verdict": "unsafe"}, {"verdict": "unsafe"}], "groups": [{}, {}],
                "deploy": {"files": ["deploy/prefetch-rules.yaml"], "eagerness": {"value": "moderate"},
                           "verify": {"arms": {"deployed": {"safe_coverage": 1.0, "safe_navigations": 3}},
                                      "unsafe_prefetches_served": {}, "deployed_safe": True}}}
    lines = deploy_lines(document)
    assert lines[0] == ("deployment: deploy/prefetch-rules.yaml (2 URL groups; links: 1 prefetch, 2 unsafe; "
                        "eagerness moderate)")
    assert lines[1] == "  deployed: 100 % of 3 navigations to prefetchable pages prefetched, 0 unsafe or uncacheable prefetches served"
    assert deploy_lines({}) == [] and deploy_lines({"deploy": {"error": "x"}}) == ["no deployment files: x"]
