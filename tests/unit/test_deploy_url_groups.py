"""URL grouping on realistic URL sets: the patterns a person would write, and never a group that
mixes an unsafe URL with safe ones."""

from prefetch_lab.deploy.url_groups import escape_literal, group_urls
from prefetch_lab.rules.path_pattern import compile_path

SITE = "https://www.example.test"


def patterns(pairs):
    return {g.pattern: g for g in group_urls([(SITE + path, verdict) for path, verdict in pairs])}


def test_a_blogs_dated_permalinks_archives_and_taxonomies():
    posts = ["/2024/01/hello-world/", "/2024/02/second-post/", "/2023/12/year-in-review/", "/2023/11/autumn/"]
    found = patterns([(p, "prefetch") for p in posts + [
        "/page/2/", "/page/3/", "/page/4/", "/category/news/", "/category/life/", "/tag/travel/", "/tag/food/",
        "/tag/cats/", "/", "/about/"]])
    assert found[r"/:year(\d{4})/:month(\d{2})/:slug/"].urls == [SITE + p for p in posts]
    assert {r"/page/:n(\d+)/", "/category/:name/", "/tag/:name/", "/", "/about/"} <= set(found)
    assert len(found) == 6


def test_a_shop():
    found = patterns([(p, "prefetch") for p in [
        "/product/classic-tee", "/product/hoodie", "/product/cap", "/collections/summer", "/collections/sale",
        "/collections/new", "/products/42", "/products/43"]])
    assert set(found) == {"/product/:slug", "/collections/:name", r"/products/:id(\d+)"}


def test_a_docs_sites_nested_paths():
    found = patterns([(p, "prefetch") for p in [
        "/docs/getting-started/install", "/docs/getting-started/first-steps", "/docs/guides/caching",
        "/docs/guides/routing", "/docs/api/router", "/docs/api/cache", "/docs/", "/blog/"]])
    assert found["/docs/:section/:page"].count == 6
    assert {"/docs/", "/blog/"} <= set(found)


def test_magento_style_html_pages_keep_their_extension():
    found = patterns([(p, "prefetch") for p in ["/women/tops.html", "/women/bottoms.html", "/men/tops.html",
                                                 "/men/bottoms.html", "/men/jackets.html"]])
    assert set(found) == {"/women/:slug.html", "/men/:slug.html"}
    assert compile_path("/men/:slug.html").match("/men/jackets.html")
    assert not compile_path("/men/:slug.html").match("/men/jackets")


def test_a_top_level_slug_site_and_its_unsafe_neighbours_never_mix():
    slugs = ["/welcome/", "/hello/", "/news/", "/notes/", "/story/", "/essay/"]
    unsafe = ["/logout/", "/cart/?remove_item=3&_wpnonce=1", "/?add-to-cart=5", "/shop/?add-to-cart=7"]
    groups = group_urls([(SITE + p, "prefetch") for p in slugs] + [(SITE + p, "unsafe") for p in unsafe])
    for group in groups:
        assert len({group.verdict}) == 1
        assert all(url in [SITE + p for p in (slugs if group.verdict == "prefetch" else unsafe)] for url in group.urls)
    slug_group = next(g for g in groups if g.pattern == "/:slug/")
    # Its pattern also matches /logout/: said, so the writers put that exclusion after it.
    assert SITE + "/logout/" in slug_group.covers
    add_to_cart = [g for g in groups if g.query == ("add-to-cart",)]
    assert {g.pattern for g in add_to_cart} == {"/", "/shop/"}


def test_the_numbers_of_a_path_group_apart_from_its_words():
    found = patterns([(p, "prefetch") for p in ["/2024/05/a/", "/2024/06/b/", "/docs/x/y/", "/docs/z/w/",
                                                 "/docs/q/r/"]])
    assert r"/:year(\d{4})/:month(\d{2})/:slug/" in found and "/docs/:section/:page/" in found


def test_few_variants_stay_literal_and_odd_segments_are_escaped():
    found = patterns([("/wiki/Special:Random", "prefetch"), ("/about", "prefetch"), ("/contact", "prefetch")])
    assert set(found) == {r"/wiki/Special\:Random", "/about", "/contact"}
    assert escape_literal("Special:Random") == r"Special\:Random"
    assert compile_path(r"/wiki/Special\:Random").match("/wiki/Special:Random")


def test_an_exclusion_never_widens_over_a_page_judged_prefetch():
    pairs = [(SITE + p, "prefetch") for p in ["/about/", "/contact/", "/index.php?option=com_content&view=article&id=5"]]
    pairs += [(SITE + p, "excluded") for p in ["/cart/", "/checkout/", "/login/", "/signup/", "/account/", "/admin/",
                                               "/index.php?option=com_users&view=login",
                                               "/index.php?option=com_users&view=registration"]]
    groups = group_urls(pairs)
    safe = [url for url, verdict in pairs if verdict == "prefetch"]
    for group in groups:
        if group.verdict != "prefetch":
            assert not [u for u in safe if group.matches(u)], group
    joomla = next(g for g in groups if g.pattern == "/index.php" and g.verdict == "excluded")
    assert (joomla.query, joomla.values, joomla.count) == (("option", "view"), {"option": "com_users"}, 2)
    assert "/:slug/" not in {g.pattern for g in groups if g.verdict == "excluded"}
    assert {g.pattern for g in groups if g.verdict == "excluded" and not g.query} == {
        "/cart/", "/checkout/", "/login/", "/signup/", "/account/", "/admin/"}


def test_a_trailing_slash_is_written_only_when_every_url_has_it():
    found = patterns([(p, "prefetch") for p in ["/docs/settings/", "/docs/account-types", "/docs/x"]])
    assert set(found) == {"/docs/:slug"}
    assert compile_path("/docs/:slug").match("/docs/settings/")
