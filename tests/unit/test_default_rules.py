"""rules/default.yaml on a table of URLs: any site is experimentable, unsafe URLs are not."""

from pathlib import Path

import pytest

from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def defaults():
    return load_rules([ROOT / "rules" / "default.yaml"])


def features(ruleset, url: str, method: str = "GET", host: str = "www.any-site.test"):
    path, _, query = url.partition("?")
    return ruleset.match(RequestInfo(method=method, scheme="https", host=host, path=path, query=query))


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/products/shoe",
        "/blog/2024/01/hello-world/",
        "/search?q=shoes&page=2",
        "/login-help",
        "/?author=1",
        "/catalog?token_type=x",
        "/cartography/maps",
    ],
)
def test_documents_are_prefetchable_with_short_ttls(defaults, url):
    result = features(defaults, url)
    assert result.prefetchable, result
    assert (result.max_age, result.service_worker_max_age, result.stale_while_revalidate) == (300, 120, 3600)


@pytest.mark.parametrize(
    "url",
    ["/static/app.js", "/img/a.png", "/assets/site.CSS", "/fonts/x.woff2", "/a/photo.jpeg", "/m/app.mjs", "/i/logo.svg"],
)
def test_static_assets_are_prefetchable_with_long_ttls(defaults, url):
    result = features(defaults, url)
    assert result.prefetchable, result
    assert (result.max_age, result.service_worker_max_age, result.stale_while_revalidate) == (86400, 3600, 86400)


@pytest.mark.parametrize(
    "url",
    [
        "/logout",
        "/Logout/",
        "/log-out",
        "/account/signout",
        "/user/sign-out?next=/",
        "/logoff.php",
        "/login",
        "/customer/account/login/",
        "/signin",
        "/sign-up",
        "/register",
        "/cart",
        "/cart/add?id=1",
        "/basket",
        "/checkout/step-2",
        "/add-to-cart/5",
        "/?add-to-cart=5",
        "/shop/product/?add-to-cart=5&quantity=1",
        "/wp-admin/",
        "/wp-admin",
        "/wp-admin/post.php?post=1&action=edit",
        "/wp-login.php",
        "/admin",
        "/administrator/index.php",
        "/account",
        "/my-account/orders/",
        "/profile/settings",
        "/page?_wpnonce=abc123",
        "/download?nonce=1",
        "/reset?token=xyz",
        "/x?a=1&csrf_token=2",
        "/x?PHPSESSID=1",
    ],
)
def test_unsafe_urls_are_not_prefetchable(defaults, url):
    result = features(defaults, url)
    assert result.bypass_cache, result
    assert not result.prefetchable


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("url", ["/products/shoe", "/api/orders"])
def test_writes_are_not_cacheable_by_rule(defaults, method, url):
    result = features(defaults, url, method=method)
    assert result.max_age is None
    assert result.bypass_cache and not result.prefetchable


def test_head_is_treated_like_get(defaults):
    assert features(defaults, "/products/shoe", method="HEAD").prefetchable


def test_default_rules_are_not_host_scoped(defaults):
    assert all(not rule.hosts for rule in defaults.rules)
    assert features(defaults, "/", host="localhost").prefetchable


def test_every_default_rule_explains_itself(defaults):
    assert all(rule.comment and len(rule.comment) > 20 for rule in defaults.rules)


def test_examples_load_and_the_edgio_seed_behaves_as_documented():
    ruleset = load_rules([ROOT / "rules" / "default.yaml", ROOT / "rules" / "examples"])
    page = features(ruleset, "/pages/42")
    assert page.prefetchable and (page.max_age, page.service_worker_max_age) == (3600, 3600)
    assert page.deep_fetch == (
        {"selector": "img.product-image", "attribute": "src", "max_matches": 1, "as": "image"},
    )
    api = features(ruleset, "/api/products/42.json")
    assert api.prefetchable
    assert (api.max_age, api.service_worker_max_age, api.stale_while_revalidate) == (3600, 3600, 86400)
    assert features(ruleset, "/api/products/42").max_age == 300  # ".json" is literal


@pytest.mark.parametrize(
    "url",
    [
        "/wiki/Special:UserLogin",
        "/wiki/Special:UserLogout",
        "/index.php?title=Special:UserLogout&returnto=Main_Page",
        "/index.php?title=Main_Page&action=purge",
        "/index.php?title=Main_Page&action=edit",
        "/index.php?title=Main_Page&action=watch",
        "/index.php?title=Main_Page&action=history",
        "/doku.php?id=start&do=edit",
        "/node/1/edit",
        "/comment/5/delete",
        "/checkout/cart/delete/id/3/",
        "/customer/account/logout/",
        "/u/alice/preferences/account",
        "/ghost/",
        "/index.php?option=com_users&view=login",
        "/cart/?remove_item=abc",
        "/notifications/mark-read",
    ],
)
def test_cms_actions_and_personal_pages_are_not_prefetchable(defaults, url):
    """Rules 11-16: what the first ten missed (MediaWiki's special pages and actions, action path
    segments, per-visitor pages of Drupal, Magento, Discourse, Ghost and Joomla)."""
    result = features(defaults, url)
    assert result.bypass_cache and not result.prefetchable, result


@pytest.mark.parametrize("url", ["/wiki/Main_Page", "/index.php?title=Main_Page", "/index.php?title=X&action=view",
                                 "/blog/editorial-policy", "/author/ghost/", "/my-post/", "/users/list"])
def test_cms_content_stays_prefetchable(defaults, url):
    assert features(defaults, url).prefetchable
