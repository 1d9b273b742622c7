import pytest

from prefetch_lab.http.cachestore import cache_key
from prefetch_lab.edge.stages.invalidate import invalidated_keys

URL = "https://example.com/items/1?x=1"
OWN = cache_key("GET", "https", "example.com", 443, "/items/1", "x=1")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "M-SEARCH", "post"])
def test_unsafe_methods_invalidate_their_url(method):
    assert invalidated_keys(method, URL, 200, None, None) == [OWN]


@pytest.mark.parametrize("method, status", [("GET", 200), ("HEAD", 200), ("OPTIONS", 200), ("POST", 404), ("PUT", 500), ("POST", 101)])
def test_safe_methods_and_error_answers_invalidate_nothing(method, status):
    assert invalidated_keys(method, URL, status, "/other", None) == []


def test_same_origin_location_and_content_location_are_invalidated_others_are_not():
    keys = invalidated_keys("POST", URL, 303, "/items", "https://example.com:443/items/1/v2")
    assert keys == [OWN, cache_key("GET", "https", "example.com", 443, "/items", ""),
                    cache_key("GET", "https", "example.com", 443, "/items/1/v2", "")]
    assert invalidated_keys("POST", URL, 201, "https://evil.example/items", "http://example.com/items") == [OWN]
