"""What feeds the traversal graph (pageviews.py): page views, their same-origin referrer, and the
threshold option's syntax."""

import pytest

from prefetch_lab.learn.learned_rules import Thresholds
from prefetch_lab.learn.page_views import DEFAULT_THRESHOLDS, is_page_view, parse_thresholds, referring_page

NAVIGATION = {"sec-fetch-dest": "document", "sec-fetch-mode": "navigate"}


def view(headers=None, method="GET", status=200, content_type="text/html; charset=utf-8", path="/a"):
    given = NAVIGATION if headers is None else headers
    return is_page_view(method, given.get, status, content_type, path)


def test_a_document_navigation_answered_with_html_is_a_view():
    assert view()
    assert view(content_type="application/xhtml+xml")
    assert view(status=203)


def test_a_304_to_the_browsers_revalidation_is_a_view_without_a_content_type():
    assert view(status=304, content_type=None)


def test_mode_navigate_stands_in_only_when_dest_is_absent():
    assert view({"sec-fetch-mode": "navigate"})
    assert not view({"sec-fetch-dest": "iframe", "sec-fetch-mode": "navigate"})
    assert not view({})  # a client that says nothing (curl) is no navigation


@pytest.mark.parametrize("headers", [
    {**NAVIGATION, "sec-purpose": "prefetch"},
    {**NAVIGATION, "sec-purpose": "prefetch;prerender"},
    {**NAVIGATION, "purpose": "prefetch"},
    {"sec-fetch-dest": "image", "sec-fetch-mode": "no-cors"},
    {"sec-fetch-dest": "empty", "sec-fetch-mode": "cors"},  # install.js's fetch() prefetches
])
def test_speculations_and_subresources_are_not_views(headers):
    assert not view(headers)


@pytest.mark.parametrize("status", [301, 404, 412, 500, 503])
def test_redirects_errors_and_refusals_are_not_views(status):
    assert not view(status=status)


def test_non_html_head_and_edge_files_are_not_views():
    assert not view(content_type="application/json")
    assert not view(content_type=None)
    assert not view(method="HEAD")
    assert not view(method="POST")
    assert not view(path="/__edgio__/prefetch/install.js")
    assert not view(path="/__edgio__/speculation-rules.json?page=%2F")


def test_a_same_origin_referer_is_the_page_it_came_from():
    assert referring_page("http://shop.test:8080/a?x=1#top", None, "http", "shop.test", 8080) == "/a?x=1"
    assert referring_page("https://Shop.Test/a", None, "https", "shop.test", 443) == "/a"
    assert referring_page("http://shop.test/a?edgio_prefetch=1&y=2", None, "http", "shop.test", 80) == "/a?y=2"


@pytest.mark.parametrize("referer", ["https://shop.test/a", "http://other.test/a", "http://shop.test:81/a", "", None])
def test_other_origins_or_no_referer_give_no_page(referer):
    assert referring_page(referer, None, "http", "shop.test", 80) is None


def test_the_browsers_sec_fetch_site_decides_when_it_is_sent():
    # Reverse proxy: the browser's Referer names the proxy's address, the request the origin's.
    assert referring_page("http://127.0.0.1:8080/a", "same-origin", "https", "docs.test", 443) == "/a"
    assert referring_page("http://docs.test/a", "same-site", "http", "docs.test", 80) is None
    assert referring_page("http://docs.test/a", "cross-site", "http", "docs.test", 80) is None
    assert referring_page("http://docs.test/a", "none", "http", "docs.test", 80) is None


def test_thresholds_parse_with_defaults_for_names_left_out():
    assert parse_thresholds(DEFAULT_THRESHOLDS) == Thresholds()
    assert parse_thresholds(" prefetch = 0.1 , immediate=1 ") == Thresholds(immediate=1.0, prefetch=0.1)
    assert parse_thresholds("") == Thresholds()


@pytest.mark.parametrize("text, problem", [
    ("eager=0.5", "expected name=value"),
    ("prerender", "expected name=value"),
    ("prefetch=0.1,prefetch=0.2", "twice"),
    ("prefetch=high", "from 0 to 1"),
    ("prefetch=nan", "from 0 to 1"),
    ("immediate=1.5", "from 0 to 1"),
    ("prefetch=0.6", "prefetch <= prerender"),  # above the default prerender 0.5
    ("immediate=0.4", "prefetch <= prerender <= immediate"),
])
def test_bad_thresholds_are_refused_with_the_reason(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_thresholds(text)
