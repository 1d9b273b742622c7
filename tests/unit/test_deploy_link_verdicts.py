"""The unsafe-link lint on the sign-in, sign-out, registration, account, admin, cart and
comment-action URLs of common CMSs, shops, wikis and forums, as their public documentation gives
them: each is `unsafe` or `excluded` by the URL alone (and by rules/default.yaml), and none of
their ordinary content URLs is. Then the verdicts that need the response: a redirect to sign-in,
new cookies, no-store, Vary: Cookie."""

from pathlib import Path

import pytest

from prefetch_lab.deploy.link_verdicts import Link, Response, classify
from prefetch_lab.rules.model import RequestInfo
from prefetch_lab.rules.rule_file import load_rules

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://www.example.test"

# WordPress: developer.wordpress.org/reference/functions/wp_logout_url/ (wp-login.php?action=logout
# with _wpnonce), wp_login_url(), wp_registration_url() (wp-login.php?action=register),
# wp_lostpassword_url(), admin_url(); comment moderation links in wp-admin/comment.php
# (developer.wordpress.org/reference/functions/get_edit_comment_link/, wp_nonce_url()).
WORDPRESS = [
    "/wp-login.php", "/wp-login.php?action=logout&_wpnonce=5f2c1a9b7e", "/wp-login.php?action=register",
    "/wp-login.php?action=lostpassword", "/wp-admin/", "/wp-admin/profile.php",
    "/wp-admin/post.php?post=12&action=edit", "/wp-admin/comment.php?action=editcomment&c=7",
    "/wp-admin/comment.php?c=7&action=trashcomment&_wpnonce=ab12", "/wp-admin/post.php?post=12&action=trash&_wpnonce=x",
]
WORDPRESS_CONTENT = ["/", "/2024/05/hello-world/", "/category/news/", "/tag/travel/", "/page/2/",
                     "/author/jane/", "/?p=123", "/about/", "/2024/05/hello-world/#comments"]
# WooCommerce: woocommerce.com/document/woocommerce-pages/ (Cart, Checkout, My Account and its
# endpoints: orders, edit-account, customer-logout, lost-password), and
# woocommerce.com/document/quick-guide-to-woocommerce-add-to-cart-urls/ (?add-to-cart=ID&quantity=N);
# the cart's remove link is /cart/?remove_item=KEY&_wpnonce=... (WC_Cart::get_remove_url).
WOOCOMMERCE = [
    "/cart/", "/checkout/", "/my-account/", "/my-account/orders/", "/my-account/edit-account/",
    "/my-account/customer-logout/?_wpnonce=8d2f", "/my-account/lost-password/", "/?add-to-cart=42",
    "/shop/?add-to-cart=42&quantity=2", "/product/hoodie/?add-to-cart=42", "/cart/?remove_item=c4ca42&_wpnonce=9b",
    "/checkout/order-received/1234/?key=wc_order_abc",
]
WOOCOMMERCE_CONTENT = ["/shop/", "/product/hoodie/", "/product-category/clothing/", "/product-tag/cotton/",
                       "/shop/page/2/", "/shop/?orderby=price"]
# Drupal: core/modules/user/user.routing.yml (/user/login, /user/logout (/user/logout/confirm since
# 10.3), /user/register, /user/password, /user/{user}/edit), node.routing.yml (/node/{node}/edit,
# /node/{node}/delete), comment.routing.yml (/comment/{comment}/edit, /delete, /approve with a
# token, /comment/reply/{entity_type}/{entity}/{field_name}), system admin routes under /admin.
DRUPAL = [
    "/user/login", "/user/login?destination=/node/1", "/user/logout", "/user/logout/confirm", "/user/register",
    "/user/password", "/user/1/edit", "/user", "/node/1/edit", "/node/1/delete", "/node/add/article",
    "/comment/5/edit", "/comment/5/delete", "/comment/5/approve?token=Xy1", "/admin/content", "/admin/config",
]
DRUPAL_CONTENT = ["/node/1", "/blog/my-first-post", "/taxonomy/term/3", "/about-us", "/blog"]
# Joomla: docs.joomla.org (com_users views login, registration, profile, reset, remind; the
# logout task `task=user.logout` carries the form token as a 32-hex parameter name =1),
# /administrator for the back end; SEF URLs /component/users/login.
JOOMLA = [
    "/administrator/", "/administrator/index.php?option=com_content&view=articles",
    "/index.php?option=com_users&view=login", "/index.php?option=com_users&view=registration",
    "/index.php?option=com_users&view=profile", "/index.php?option=com_users&view=reset",
    "/index.php?option=com_users&task=user.logout&0123456789abcdef0123456789abcdef=1",
    "/component/users/login?Itemid=101", "/component/users/registration",
]
JOOMLA_CONTENT = ["/index.php/blog/5-my-article", "/index.php?option=com_content&view=article&id=5&catid=2",
                  "/blog/my-article", "/index.php/contact"]
# Magento / Adobe Commerce: experienceleague.adobe.com (storefront customer account
# /customer/account/login, /logout, /create, /forgotpassword; the cart /checkout/cart with
# /checkout/cart/add/uenc/.../product/ID/form_key/KEY and /checkout/cart/delete/id/N; the wish
# list /wishlist/index/add; compare /catalog/product_compare/add; /sales/order/history;
# /newsletter/manage; the Admin at its own path, /admin by default).
MAGENTO = [
    "/customer/account/login/", "/customer/account/logout/", "/customer/account/create/",
    "/customer/account/forgotpassword/", "/customer/account/", "/customer/account/edit/",
    "/checkout/cart/", "/checkout/", "/checkout/cart/add/uenc/aHR0cHM6/product/14/form_key/Ab12Cd34/",
    "/checkout/cart/delete/id/3/", "/wishlist/", "/wishlist/index/add/product/14/",
    "/catalog/product_compare/add/product/14/uenc/aHR0cHM6/", "/sales/order/history/", "/newsletter/manage/",
    "/admin",
]
MAGENTO_CONTENT = ["/women/tops-women.html", "/radiant-tee.html", "/catalogsearch/result/?q=tee",
                   "/gear/bags.html?p=2", "/customer-service"]
# Shopify: shopify.dev/docs/storefronts/themes/architecture/templates (customers/login,
# customers/register, customers/account at /account, /account/login, /account/register,
# /account/logout), shopify.dev/docs/api/ajax/reference/cart (/cart/add, /cart/change,
# /cart/clear), help.shopify.com cart permalinks (/cart/VARIANT:QTY), /checkout, /admin.
SHOPIFY = [
    "/account", "/account/login", "/account/register", "/account/logout", "/account/addresses",
    "/cart", "/cart/add?id=39847234&quantity=1", "/cart/change?line=1&quantity=0", "/cart/clear",
    "/cart/39847234:2", "/checkout", "/admin",
]
SHOPIFY_CONTENT = ["/products/classic-tee", "/collections/all", "/collections/frontpage/products/classic-tee",
                   "/pages/about", "/blogs/news/spring-collection", "/search?q=tee"]
# MediaWiki: mediawiki.org/wiki/Help:Special_pages (Special:UserLogin, Special:UserLogout,
# Special:CreateAccount, Special:Preferences, Special:Watchlist), and
# mediawiki.org/wiki/Manual:Parameters_to_index.php (action=edit, submit, purge, watch, unwatch,
# delete, rollback (with token), protect, history, info).
MEDIAWIKI = [
    "/wiki/Special:UserLogin", "/index.php?title=Special:UserLogin&returnto=Main+Page", "/wiki/Special:UserLogout",
    "/index.php?title=Special:UserLogout&returnto=Main+Page", "/wiki/Special:CreateAccount",
    "/wiki/Special:Preferences", "/wiki/Special:Watchlist",
    "/index.php?title=Albert_Einstein&action=edit", "/index.php?title=Albert_Einstein&action=edit&section=2",
    "/index.php?title=Albert_Einstein&action=purge", "/index.php?title=Albert_Einstein&action=watch",
    "/index.php?title=Albert_Einstein&action=unwatch", "/index.php?title=Albert_Einstein&action=delete",
    "/index.php?title=Albert_Einstein&action=rollback&from=Bob&token=abc%2B%5C",
    "/index.php?title=Albert_Einstein&action=protect", "/index.php?title=Albert_Einstein&action=history",
    "/index.php?title=Albert_Einstein&action=info",
]
MEDIAWIKI_CONTENT = ["/wiki/Main_Page", "/wiki/Albert_Einstein", "/wiki/Category:Physicists",
                     "/wiki/Talk:Albert_Einstein", "/index.php?title=Albert_Einstein", "/wiki/Physics"]
# Discourse: docs.discourse.org and meta.discourse.org (/login, /signup, /logout, /session/sso,
# /password-reset, the user's own /my/... redirects and /u/NAME/preferences, /admin, email
# unsubscribe links /email/unsubscribe/KEY).
DISCOURSE = [
    "/login", "/signup", "/logout", "/session/sso", "/password-reset", "/my/messages", "/my/preferences",
    "/u/alice/preferences/account", "/admin", "/admin/users/list/active", "/email/unsubscribe/3f9a2b",
]
DISCOURSE_CONTENT = ["/t/welcome-to-discourse/5", "/t/welcome-to-discourse/5/2", "/c/general/4", "/latest",
                     "/top", "/u/alice", "/tag/howto"]
# Ghost: ghost.org/docs/themes/members/ (Portal links #/portal/signin, #/portal/signup,
# #/portal/account, data-members-signout), ghost.org/docs/admin-api/ (the admin at /ghost/),
# member magic links /members/?token=...&action=signin, newsletter /unsubscribe/?uuid=&key=.
GHOST = [
    "/ghost/", "/ghost/#/signin", "/#/portal/signin", "/#/portal/signup", "/#/portal/account",
    "/members/?token=abc123&action=signin", "/unsubscribe/?uuid=1b2c&key=9f8e",
]
GHOST_CONTENT = ["/welcome/", "/tag/getting-started/", "/author/ghost/", "/page/2/", "/about/"]

UNSAFE_OR_EXCLUDED = WORDPRESS + WOOCOMMERCE + DRUPAL + JOOMLA + MAGENTO + SHOPIFY + MEDIAWIKI + DISCOURSE + GHOST
# Ordinary pages whose words resemble the signals.
LOOKALIKES = ["/docs/settings/", "/blog/how-to-register-a-domain", "/guides/editing-photos", "/team/profile-pictures",
              "/docs/account-types", "/blog/logging-out-safely", "/help/notifications/"]
CONTENT = LOOKALIKES + (WORDPRESS_CONTENT + WOOCOMMERCE_CONTENT + DRUPAL_CONTENT + JOOMLA_CONTENT + MAGENTO_CONTENT
           + SHOPIFY_CONTENT + MEDIAWIKI_CONTENT + DISCOURSE_CONTENT + GHOST_CONTENT)


@pytest.fixture(scope="module")
def defaults():
    return [load_rules([ROOT / "rules" / "default.yaml"])]


@pytest.mark.parametrize("path", UNSAFE_OR_EXCLUDED)
def test_cms_action_and_personal_urls_are_unsafe_or_excluded(defaults, path):
    verdict = classify(Link(SITE + path), defaults)
    assert verdict.verdict in ("unsafe", "excluded"), verdict
    assert "URL only" in verdict.why and not verdict.fetched
    # and without any rules, by the URL alone: never prefetch
    assert classify(Link(SITE + path), []).verdict == "unsafe"


@pytest.mark.parametrize("path", [p for p in UNSAFE_OR_EXCLUDED if "#" not in p])
def test_the_default_rules_keep_them_out_of_the_cache(defaults, path):
    address, _, query = path.partition("?")
    features = defaults[0].match(RequestInfo("GET", "https", "www.example.test", address, query))
    assert features.bypass_cache and not features.prefetchable, (path, features.matched)


@pytest.mark.parametrize("path", CONTENT)
def test_cms_content_urls_are_prefetchable(defaults, path):
    verdict = classify(Link(SITE + path), defaults)
    assert verdict.verdict == "prefetch", verdict
    address, _, query = path.split("#")[0].partition("?")
    assert defaults[0].match(RequestInfo("GET", "https", "www.example.test", address, query)).prefetchable


@pytest.mark.parametrize("path, signal", [
    ("/wp-login.php?action=logout&_wpnonce=1", "sign-out link"),
    ("/?add-to-cart=42", "cart action parameter add-to-cart"),
    ("/cart/add?id=1", "cart action path"),
    ("/post/9?action=delete&nonce=77", "action=delete"),
    ("/doku.php?id=start&do=edit", "do=edit"),
    ("/x?csrf_token=1", "token parameter csrf_token"),
    ("/notifications/mark-read?id=3", "action path segment /mark-read"),
])
def test_unsafe_names_the_signal(path, signal):
    verdict = classify(Link(SITE + path), [])
    assert verdict.verdict == "unsafe" and signal in verdict.why, verdict


def test_excluded_names_the_rule(defaults):
    verdict = classify(Link(SITE + "/index.php?title=X&action=history"), defaults)
    assert (verdict.verdict, verdict.signal) == ("excluded", "default.yaml#13")


def test_rel_nofollow_is_unsafe():
    verdict = classify(Link(SITE + "/products/shoe", rel="nofollow ugc"), [])
    assert (verdict.verdict, verdict.signal) == ("unsafe", "rel=nofollow")


def test_a_redirect_to_sign_in_is_unsafe():
    link = Link(SITE + "/orders/7", response=Response(302, location="/login?next=/orders/7"))
    verdict = classify(link, [])
    assert (verdict.verdict, verdict.signal, verdict.fetched) == ("unsafe", "redirect to sign-in", True)


def test_new_cookies_are_unsafe_and_refreshed_ones_uncacheable():
    fresh = classify(Link(SITE + "/promo", response=Response(200, set_cookies=("seen_promo",))), [])
    assert (fresh.verdict, fresh.signal) == ("unsafe", "sets new cookies") and "seen_promo" in fresh.why
    again = classify(Link(SITE + "/promo", response=Response(200, set_cookies=("sid",), request_cookies=("sid",))), [])
    assert (again.verdict, again.signal) == ("uncacheable", "Set-Cookie") and again.remedy


@pytest.mark.parametrize("response, header", [
    (Response(200, cache_control="no-store"), "Cache-Control: no-store"),
    (Response(200, cache_control="private, max-age=60"), "Cache-Control: private"),
    (Response(200, vary="Accept-Encoding, Cookie"), "Vary: Cookie"),
    (Response(404), "status 404"),
])
def test_uncacheable_names_the_header_and_the_remedy(response, header):
    verdict = classify(Link(SITE + "/page", response=response), [])
    assert (verdict.verdict, verdict.signal) == ("uncacheable", header) and verdict.remedy


def test_a_fetched_cacheable_page_is_prefetch():
    verdict = classify(Link(SITE + "/blog/x", followed=True, response=Response(200, cache_control="max-age=60")), [])
    assert verdict.verdict == "prefetch" and verdict.fetched and "followed" in verdict.why
