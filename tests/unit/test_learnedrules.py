"""The learned rules document: bands, thresholds, caps, exclusions, held(), the rules URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prefetch_lab.learn.learned_rules import (
    Thresholds,
    build_learned_document,
    page_from_rules_url,
    rules_url,
)
from prefetch_lab.rules.rule_file import load_rules
from prefetch_lab.rules.speculation_rules import RULES_PATH, TAG, build_rules_document
from prefetch_lab.learn.traversal import TraversalGraph

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RULES = load_rules([ROOT / "rules" / "default.yaml"])
PAGE = "https://shop.example/"


def everything(url: str) -> bool:
    return True


def build(predictions, held=everything, thresholds=Thresholds(), page=PAGE):
    return build_learned_document(page, predictions, DEFAULT_RULES, held, thresholds)


def lists(document: dict, action: str) -> dict[str, list[str]]:
    """{eagerness: urls} of the list rules under `action`."""
    return {rule["eagerness"]: rule["urls"] for rule in document.get(action, []) if rule["source"] == "list"}


def test_bands_follow_the_thresholds():
    learned = build([("/sure", 0.85), ("/likely", 0.55), ("/maybe", 0.25), ("/unlikely", 0.1)])
    assert lists(learned.document, "prerender") == {"immediate": ["/sure"], "moderate": ["/likely"]}
    assert lists(learned.document, "prefetch") == {"moderate": ["/maybe"]}
    actions = {d.url: d.action for d in learned.decisions}
    assert actions == {"/sure": "prerender-immediate", "/likely": "prerender-moderate",
                       "/maybe": "prefetch-moderate", "/unlikely": "fallback"}


def test_thresholds_are_inclusive_and_configurable():
    thresholds = Thresholds(immediate=0.9, prerender=0.6, prefetch=0.3)
    learned = build([("/a", 0.9), ("/b", 0.6), ("/c", 0.3), ("/d", 0.29)], thresholds=thresholds)
    assert lists(learned.document, "prerender") == {"immediate": ["/a"], "moderate": ["/b"]}
    assert lists(learned.document, "prefetch") == {"moderate": ["/c"]}
    with pytest.raises(ValueError):
        Thresholds(prefetch=0.6, prerender=0.5)


def test_the_fixed_document_rule_is_always_the_fallback():
    fallback = build_rules_document(DEFAULT_RULES, "shop.example", "conservative", "https")["prefetch"]
    for predictions in ([], [("/a", 0.9), ("/b", 0.3)]):
        document = build(predictions).document
        assert document["tag"] == TAG
        assert [rule for rule in document["prefetch"] if rule["source"] == "document"] == fallback
        assert document["prefetch"][-1]["source"] == "document"
    assert build([], thresholds=Thresholds(fallback_eagerness="moderate")).document["prefetch"][-1]["eagerness"] == "moderate"


def test_exclusions_always_win_over_any_probability():
    learned = build([("/logout", 0.95), ("/cart/add?id=1", 0.9), ("/x?_wpnonce=1", 0.9), ("/wp-admin/", 0.9),
                     ("/__edgio__/prefetch/install.js", 0.9), ("/p/1", 0.3)])
    assert lists(learned.document, "prerender") == {}
    assert lists(learned.document, "prefetch") == {"moderate": ["/p/1"]}
    reasons = {d.url: d.reason for d in learned.decisions if d.action == "excluded"}
    assert reasons["/logout"] == reasons["/cart/add?id=1"] == "the rules do not make it prefetchable"
    assert reasons["/__edgio__/prefetch/install.js"] == "an edge file"


def test_only_same_origin_urls_are_listed():
    learned = build([("https://evil.example/p", 0.9), ("http://shop.example/p", 0.9),
                     ("https://shop.example:8443/p", 0.9), ("//evil.example/p", 0.9),
                     ("https://shop.example/same", 0.6), ("/", 0.5)])
    assert lists(learned.document, "prerender") == {"moderate": ["/same"]}
    excluded = [d for d in learned.decisions if d.action == "excluded"]
    assert [d.reason for d in excluded] == ["not same-origin"] * 4 + ["the page itself"]


def test_held_decides_what_may_be_listed_and_gets_absolute_urls():
    asked: list[str] = []

    def held(url: str) -> bool:
        asked.append(url)
        return url.endswith("/warm")

    learned = build([("/warm", 0.9), ("/cold?x=1", 0.9), ("/cold2", 0.3)], held=held)
    assert lists(learned.document, "prerender") == {"immediate": ["/warm"]}
    assert "prefetch" not in lists(learned.document, "prefetch")
    assert asked == ["https://shop.example/warm", "https://shop.example/cold?x=1", "https://shop.example/cold2"]
    assert {d.url: d.reason for d in learned.decisions}["/cold?x=1"] == "the edge does not hold it"


def test_caps_bound_each_kind_demoting_prerenders_to_prefetch_then_to_the_fallback():
    thresholds = Thresholds(immediate=0.05, prerender=0.04, prefetch=0.01, max_prerender_urls=2, max_prefetch_urls=1)
    predictions = [(f"/p/{i}", 0.06 - i * 0.005) for i in range(8)]  # 0.06, 0.055, ... 0.025
    learned = build(predictions, thresholds=thresholds)
    assert lists(learned.document, "prerender") == {"immediate": ["/p/0", "/p/1"]}
    assert lists(learned.document, "prefetch") == {"moderate": ["/p/2"]}
    assert [d.action for d in learned.decisions[3:]] == ["fallback"] * 5
    assert learned.decisions[2].reason.startswith("prerender list full (2 URLs)")
    assert "prefetch list full (1 URLs)" in learned.decisions[3].reason


def test_edgio_params_and_fragments_are_dropped_and_duplicates_listed_once():
    learned = build([("/p/1?edgio_prefetch=1", 0.6), ("/p/1#reviews", 0.3)])
    assert lists(learned.document, "prerender") == {"moderate": ["/p/1"]}
    assert "moderate" not in lists(learned.document, "prefetch")


def test_the_document_is_plain_json_with_chromium_shapes():
    document = build([("/a", 0.9), ("/b", 0.6), ("/c", 0.3)]).document
    assert json.loads(json.dumps(document)) == document
    assert set(document) == {"tag", "prefetch", "prerender"}
    for rule in document["prerender"] + document["prefetch"]:
        assert rule["eagerness"] in ("immediate", "moderate", "conservative")
        assert set(rule) <= {"source", "urls", "where", "eagerness"}  # no rule-level tag: older Chromium drops it


def test_works_from_the_graph_end_to_end():
    graph = TraversalGraph()
    for _ in range(10):
        graph.observe("shop.example", None, "/", 0)
    for _ in range(9):
        graph.observe("shop.example", "https://shop.example/", "https://shop.example/p/1", 0)
    graph.observe("shop.example", "/", "/logout", 0)
    learned = build(graph.next_pages("shop.example", PAGE, 0))
    assert lists(learned.document, "prerender") == {"moderate": ["/p/1"]}  # 9 / 12 = 0.75
    assert {d.url: d.action for d in learned.decisions}["/logout"] == "excluded"


@pytest.mark.parametrize("page, key", [
    ("/", "/"),
    ("/docs/a b/?x=1&y=%2F", "/docs/a b/?x=1&y=%2F"),
    ("https://shop.example/p/1?edgio_prefetch=1&q=&x=1#top", "/p/1?q=&x=1"),
    ("/ü?ß=1&amp;", "/ü?ß=1&amp;"),
])
def test_rules_url_round_trip(page, key):
    url = rules_url(page)
    assert url.startswith(RULES_PATH + "?page=%2F")
    assert "&" not in url and "#" not in url and " " not in url
    assert page_from_rules_url(url) == key


@pytest.mark.parametrize("url", [
    RULES_PATH,
    RULES_PATH + "?page=",
    RULES_PATH + "?page=%2Fa&page=%2Fb",
    RULES_PATH + "?page=https%3A%2F%2Fevil.example%2F",
    RULES_PATH + "?page=%2F%2Fevil.example%2F",
    RULES_PATH + "?page=%2Fa%3Fedgio_prefetch%3D1",
    RULES_PATH + "?page=%2Fa%23frag",
    "/other.json?page=%2F",
])
def test_rules_url_refuses_anything_but_a_page_key(url):
    assert page_from_rules_url(url) is None


def test_rules_url_refuses_non_pages():
    with pytest.raises(ValueError):
        rules_url("relative")
