"""The audit's walk planner (pure): which links it follows, seeded choice, --path files."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from prefetch_lab.audit.gather.walk import (
    SkewedChoice,
    Step,
    WalkPolicy,
    choose_next,
    parse_path_file,
    plan_from_path,
    plan_random_walk,
    training_seed,
)
from prefetch_lab.rules.rule_file import load_rules

ROOT = Path(__file__).resolve().parents[2]
SITE = "https://shop.example"
POLICY = WalkPolicy([load_rules([ROOT / "rules" / "default.yaml"])])


def link(path: str, text: str = "", **extra) -> dict:
    return {"href": SITE + path if path.startswith("/") else path, "text": text or path, **extra}


@pytest.mark.parametrize("path", [
    "/logout", "/account/orders", "/cart/add?id=1", "/?add-to-cart=5", "/wp-admin/", "/x?_wpnonce=1",
    "/__edgio__/prefetch/install.js", "/files/report.pdf", "/app.js",
])
def test_links_that_change_state_or_are_files_are_never_followed(path):
    assert POLICY.excluded_by(SITE + path)
    assert POLICY.candidates([link(path)], SITE + "/") == []


def test_candidates_are_same_origin_pages_other_than_this_one_once_each():
    links = [
        link("/a", "A"), link("/a#part", "A again"), link("/b?x=1", "B"), link("/#top", "top"),
        link("https://other.example/c"), link("http://shop.example/d"), link("https://shop.example:8443/e"),
        link("/f", target="_blank"), link("/g", download=True), link("mailto:x@shop.example"),
    ]
    found = POLICY.candidates(links, SITE + "/")
    assert [c["href"] for c in found] == [SITE + "/a", SITE + "/b?x=1"]


def test_a_person_explores_new_pages_first_and_the_choice_is_seeded():
    candidates = [link("/a"), link("/b"), link("/c")]
    visited = {SITE + "/a", SITE + "/b"}
    assert choose_next(candidates, visited, random.Random(1))["href"] == SITE + "/c"
    picks = [choose_next(candidates, set(), random.Random(7))["href"] for _ in range(3)]
    assert len(set(picks)) == 1  # same seed, same choice
    assert choose_next([], set(), random.Random(1)) is None


class FakeSite:
    """Pages and the links each shows in its viewport, as the browser would report them."""

    def __init__(self, pages: dict[str, list[str]], redirects: dict[str, str] | None = None,
                 statuses: dict[str, int] | None = None, covered: dict[str, str] | None = None) -> None:
        self.pages, self.redirects, self.opened = pages, redirects or {}, []
        self.statuses, self.covered = statuses or {}, covered or {}

    def __call__(self, url: str) -> tuple[str, list[dict], int]:
        self.opened.append(url)
        final = self.redirects.get(url, url)
        path = final.removeprefix(SITE)
        return final, [link(href, f"to {href}", covered_by=self.covered.get(href)) for href in self.pages.get(path, [])], \
            self.statuses.get(path, 200)


def test_random_walk_follows_visible_links_and_stops_at_a_dead_end():
    site = FakeSite({"/": ["/a", "/logout"], "/a": ["/b", "/"], "/b": []})
    plan = plan_random_walk(SITE + "/", 10, seed=3, policy=POLICY, visible_links=site)
    assert [(s.url.removeprefix(SITE), s.via) for s in plan] == [("/", "start"), ("/a", "link"), ("/b", "link")]
    assert SITE + "/logout" not in site.opened


def test_random_walk_is_the_same_for_the_same_seed():
    pages = {f"/{i}": [f"/{j}" for j in range(6) if j != i] for i in range(6)}
    pages["/"] = ["/1", "/2", "/3"]
    plans = [plan_random_walk(SITE + "/", 6, seed=11, policy=POLICY, visible_links=FakeSite(pages)) for _ in range(2)]
    assert plans[0] == plans[1] and len(plans[0]) == 6
    assert len({s.url for s in plans[0]}) == 6  # unvisited pages first


def test_the_start_step_records_where_a_redirect_landed():
    site = FakeSite({"/home": ["/a"]}, redirects={SITE + "/": SITE + "/home"})
    plan = plan_random_walk(SITE + "/", 2, seed=1, policy=POLICY, visible_links=site)
    assert plan[0] == Step(0, SITE + "/home", "start")


def test_the_planner_skips_covered_failing_and_off_site_links_and_records_why():
    site = FakeSite({"/": ["/banner-link", "/gone", "/broken", "/away", "/fine"], "/fine": []},
                    statuses={"/gone": 404, "/broken": 500}, redirects={SITE + "/away": "https://elsewhere.example/"},
                    covered={"/banner-link": "div#cookie-banner"})
    alphabetical = lambda page, candidates, visited, rng: min(candidates, key=lambda c: c["href"])  # noqa: E731
    plan = plan_random_walk(SITE + "/", 3, seed=1, policy=POLICY, visible_links=site, choose=alphabetical)
    assert [s.url.removeprefix(SITE) for s in plan] == ["/", "/fine"]  # then a dead end
    assert list(plan[1].skipped) == [
        {"href": SITE + "/banner-link", "why": "covered by div#cookie-banner"},
        {"href": SITE + "/away", "why": "redirected off the site, to https://elsewhere.example/"},
        {"href": SITE + "/broken", "why": "answered 500"},
    ]  # /gone, after /fine in the chooser's order, was never needed
    assert SITE + "/banner-link" not in site.opened  # a covered link is not even opened
    assert plan[1].to_dict()["skipped"][0]["why"] == "covered by div#cookie-banner"
    # Every link of a page skipped: the walk ends there, each tried once.
    site = FakeSite({"/": ["/gone"]}, statuses={"/gone": 404})
    assert [s.url for s in plan_random_walk(SITE + "/", 3, seed=1, policy=POLICY, visible_links=site)] == [SITE + "/"]
    assert site.opened == [SITE + "/", SITE + "/gone"]


def test_path_file_lines_are_urls_or_link_texts():
    entries = parse_path_file("# my walk\n/\n\nto /a\nhttps://shop.example/zz\n")
    assert entries == [("url", "/"), ("text", "to /a"), ("url", "https://shop.example/zz")]
    with pytest.raises(ValueError, match="first entry must be a URL"):
        parse_path_file("About us\n/")
    with pytest.raises(ValueError, match="no URLs"):
        parse_path_file("# nothing\n")


def test_a_written_walk_presses_visible_links_and_types_the_rest():
    site = FakeSite({"/": ["/a"], "/a": ["/b"], "/b": []})
    entries = parse_path_file("/\nto /a\n/b\n/zz\n")
    plan = plan_from_path(entries, SITE + "/", POLICY, site)
    assert [(s.url.removeprefix(SITE), s.via) for s in plan] == [
        ("/", "start"), ("/a", "link"), ("/b", "link"), ("/zz", "goto"),
    ]


def test_a_written_walk_refuses_unsafe_urls_and_missing_links():
    site = FakeSite({"/": ["/a"]})
    with pytest.raises(ValueError, match="will not open"):
        plan_from_path(parse_path_file("/\n/logout\n"), SITE + "/", POLICY, site)
    with pytest.raises(ValueError, match="no visible link with the text 'Contact'"):
        plan_from_path(parse_path_file("/\nContact\n"), SITE + "/", POLICY, site)


# ---- the skewed walker ------------------------------------------------------------------------

TEN_LINKS = [link(f"/p{i}") for i in range(10)]


def test_skewed_popularity_is_zipf_like_fixed_per_page_and_link_and_seeded():
    choice = SkewedChoice(seed=5)
    weights = choice.weights(SITE + "/", TEN_LINKS)
    assert sum(weights) == pytest.approx(1)
    ranked = sorted(weights, reverse=True)
    assert ranked[0] / ranked[1] == pytest.approx(4) and ranked[0] / ranked[2] == pytest.approx(9)  # 1/r**2
    # Fixed: the same page's links in another order keep their popularity (and a fragment changes nothing).
    again = dict(zip((c["href"] for c in reversed(TEN_LINKS)),
                     choice.weights(SITE + "/#top", list(reversed(TEN_LINKS)))))
    assert again == pytest.approx(dict(zip((c["href"] for c in TEN_LINKS), weights)))
    # Another page, or another seed, ranks the links differently.
    assert choice.weights(SITE + "/other", TEN_LINKS) != weights
    assert SkewedChoice(seed=6).weights(SITE + "/", TEN_LINKS) != weights
    assert SkewedChoice(seed=5, exponent=0).weights(SITE + "/", TEN_LINKS) == pytest.approx([0.1] * 10)
    with pytest.raises(ValueError):
        SkewedChoice(seed=5, exponent=-1)


def test_skewed_walks_follow_the_popular_link_about_as_often_as_its_weight():
    choice = SkewedChoice(seed=5)
    weights = dict(zip((c["href"] for c in TEN_LINKS), choice.weights(SITE + "/", TEN_LINKS)))
    top = max(weights, key=weights.get)
    rng = random.Random(1)
    picks = [choice(SITE + "/", TEN_LINKS, set(), rng)["href"] for _ in range(4000)]
    assert picks.count(top) / len(picks) == pytest.approx(weights[top], abs=0.03)
    assert weights[top] == pytest.approx(1 / sum(1 / r**2 for r in range(1, 11)))  # about 0.65
    assert choice(SITE + "/", [], set(), rng) is None


def test_walks_of_one_skewed_walker_share_popular_paths_and_training_seeds_are_held_out():
    pages = {"/" if i == 0 else f"/{i}": [f"/{j}" for j in range(1, 9) if j != i] for i in range(9)}
    choice = SkewedChoice(seed=2)

    def walk(seed):
        return [s.url for s in plan_random_walk(SITE + "/", 6, seed, POLICY, FakeSite(pages), choose=choice)]

    training = [walk(training_seed(2, i)) for i in range(30)]
    assert training_seed(2, 0) != 2 and len({training_seed(2, i) for i in range(30)}) == 30
    assert walk(training_seed(2, 3)) == training[3]  # seeded
    # Most walks take the home page's most popular link first.
    candidates = POLICY.candidates([link(h) for h in pages["/"]], SITE + "/")
    weights = choice.weights(SITE + "/", candidates)
    top = candidates[weights.index(max(weights))]["href"]
    first_links = [t[1] for t in training]
    assert first_links.count(top) >= 0.4 * len(training)
    # A uniform walker has no such favourite.
    uniform = [[s.url for s in plan_random_walk(SITE + "/", 6, training_seed(2, i), POLICY, FakeSite(pages))][1]
               for i in range(30)]
    assert max(uniform.count(u) for u in set(uniform)) < 0.4 * 30


def test_the_planner_opens_a_link_with_its_fragment_as_the_press_will():
    site = FakeSite({"/": ["/a#part"], "/a#part": ["/b"], "/a": ["/top-only"]})
    plan = plan_random_walk(SITE + "/", 3, seed=1, policy=POLICY, visible_links=site)
    assert SITE + "/a#part" in site.opened  # what the visitor sees after the press: the part, not the top
    assert [s.url.removeprefix(SITE) for s in plan] == ["/", "/a", "/b"]  # steps name the page, no fragment
