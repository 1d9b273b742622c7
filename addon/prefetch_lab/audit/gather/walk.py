"""The audit's walk: which link a visitor follows next, chosen once and replayed in every arm.

Pure module: takes the links a page showed (plain dicts from the browser) and the rules, returns
the plan. The browser driver (playwright_driver.py, cdp_driver.py) measures the plan; it never chooses.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

from prefetch_lab.http.cachestore import strip_edgio_params
from prefetch_lab.client.edge_files import is_edge_path
from prefetch_lab.rules.model import RequestInfo, RuleSet

# Links to files rather than pages: a person reading a site does not "walk" into a download.
NOT_A_PAGE = re.compile(
    r"(?i)\.(js|mjs|css|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|ogg|mp3|wav|"
    r"wasm|pdf|zip|gz|tgz|bz2|xz|7z|rar|tar|dmg|exe|msi|deb|rpm|apk|iso|csv|xlsx?|docx?|pptx?|epub|txt|json|xml)$"
)


@dataclass(frozen=True)
class Step:
    """One step of the plan: open `url` (step 0 by address, later ones by pressing a link)."""

    step: int
    url: str
    via: str  # "start" | "link" (press the visible link whose resolved href is `url`) | "goto"
    text: str = ""  # the link's text, for people reading the plan
    # Links of the page before that the planner would not follow, and why: covered where a press
    # would land, answered 4xx/5xx, redirected off the site (a few, for people reading the plan).
    skipped: tuple[dict, ...] = ()

    def to_dict(self) -> dict:
        return {**asdict(self), "skipped": list(self.skipped)}


# What opening a page gives the planner: its final URL (after redirects), the links visible in
# its viewport (VISIBLE_LINKS_JS), and its document's HTTP status (None: not known).
OpenedPage = tuple[str, list[dict], "int | None"]
SKIPPED_KEPT = 5  # per step, in the plan


def without_fragment(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=""))


def origin_of(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or {"http": 80, "https": 443}.get(parts.scheme)


class WalkPolicy:
    """Which links the walk may follow: same origin, a page rather than a file, and never one the
    rules keep out of the cache (logout, cart actions, admin...): the audit must not change state
    on the site. `rule_sets` are checked together: the default rules always, plus the user's."""

    def __init__(self, rule_sets: Sequence[RuleSet]) -> None:
        self.rule_sets = tuple(rule_sets)

    def excluded_by(self, url: str) -> str | None:
        parts = urlsplit(url)
        path = parts.path or "/"
        if is_edge_path(path):
            return "edge file"
        if NOT_A_PAGE.search(path):
            return "not a page"
        request = RequestInfo("GET", parts.scheme, (parts.hostname or "").lower(), path, strip_edgio_params(parts.query))
        for rules in self.rule_sets:
            features = rules.match(request)
            if features.bypass_cache:
                return "excluded by " + ", ".join(features.matched)
        return None

    def candidates(self, links: Sequence[dict], current_url: str) -> list[dict]:
        """Visible links a person could press from `current_url` that the walk may follow."""
        here = without_fragment(current_url)
        seen: set[str] = set()
        found = []
        for link in links:
            url = link.get("href") or ""
            target = without_fragment(url)
            if (
                link.get("covered_by")  # a press there would land on what covers it
                or urlsplit(url).scheme not in ("http", "https")
                or origin_of(url) != origin_of(current_url)
                or target == here  # same document: no navigation
                or link.get("download") or (link.get("target") or "").lower() == "_blank"
                or target in seen
                or self.excluded_by(url)
            ):
                continue
            seen.add(target)
            found.append({**link, "href": target, "linked": url})
        return found


def choose_next(candidates: Sequence[dict], visited: set[str], rng: random.Random) -> dict | None:
    """Like a person exploring: a page not seen yet when there is one, else any; seeded."""
    if not candidates:
        return None
    fresh = [link for link in candidates if link["href"] not in visited]
    return rng.choice(fresh or list(candidates))


# A chooser: (page URL, its candidate links, pages visited so far, the walk's RNG) -> a link or None.
Chooser = Callable[[str, Sequence[dict], set[str], random.Random], "dict | None"]


def uniform_choice(page_url: str, candidates: Sequence[dict], visited: set[str], rng: random.Random) -> dict | None:
    """`--walk uniform`: every link alike, new pages first (choose_next)."""
    return choose_next(candidates, visited, rng)


class SkewedChoice:
    """`--walk skewed`: visitors follow a page's links with fixed, unequal popularity, as on real
    sites, where a few links (the next chapter, the main navigation) take most clicks. So there
    is something to learn: a uniform walk has nothing to predict.

    Each page's candidate links are ranked by a seeded hash of (seed, page, link), and the link of
    rank r gets weight 1 / r**exponent (Zipf-like). The ranking depends on the seed and the page
    alone, never on the walk's RNG, so every walk of one walker (the training walks and the
    measured one) shares the same popular paths while taking its own random turns. With the
    default exponent 2 the top link of a page with many links takes about 60 % of its clicks,
    the second 15 %, the third 7 %. Pages already visited are not avoided: people go back to
    popular pages too."""

    def __init__(self, seed: int, exponent: float = 2.0) -> None:
        if exponent < 0:
            raise ValueError(f"the skew exponent must be 0 or more, got {exponent}")
        self.seed = seed
        self.exponent = exponent

    def rank_key(self, page_url: str, link_url: str) -> bytes:
        return hashlib.sha256(f"{self.seed}\0{without_fragment(page_url)}\0{link_url}".encode()).digest()

    def weights(self, page_url: str, candidates: Sequence[dict]) -> list[float]:
        """Each candidate's share of the page's clicks (same order as `candidates`, sums to 1)."""
        order = sorted(range(len(candidates)), key=lambda i: self.rank_key(page_url, candidates[i]["href"]))
        weights = [0.0] * len(candidates)
        for rank, i in enumerate(order, 1):
            weights[i] = 1 / rank ** self.exponent
        total = sum(weights)
        return [w / total for w in weights]

    def __call__(self, page_url: str, candidates: Sequence[dict], visited: set[str], rng: random.Random) -> dict | None:
        if not candidates:
            return None
        return rng.choices(list(candidates), weights=self.weights(page_url, candidates))[0]


def training_seed(seed: int, index: int) -> str:
    """The RNG seed of training walk `index`: never the measured walk's (an int), so the measured
    walk is held out; the same for every audit with that --seed."""
    return f"train-{seed}-{index}"


def covered_links(links: Sequence[dict], current_url: str) -> list[dict]:
    """The same-origin links in view that something covers where a press would land."""
    return [{"href": without_fragment(link["href"]), "why": f"covered by {link['covered_by']}"}
            for link in links if link.get("covered_by") and origin_of(link.get("href") or "") == origin_of(current_url)]


def plan_random_walk(
    start_url: str, pages: int, seed: int | str, policy: WalkPolicy,
    visible_links: Callable[[str], OpenedPage], choose: Chooser = uniform_choice,
) -> list[Step]:
    """Open `start_url`, then follow `pages - 1` visible links picked by `choose`. `visible_links(url)`
    opens a page (OpenedPage). A link whose page answered 4xx/5xx or redirected off the site is
    skipped and another chosen (each link of a page tried once); a covered link is never chosen.
    Both are recorded in the step's `skipped`. Stops early on a dead end."""
    rng = random.Random(seed)
    current, links, _ = visible_links(start_url)
    plan = [Step(0, without_fragment(current), "start")]
    visited = {plan[0].url}
    while len(plan) < pages:
        candidates = policy.candidates(links, current)
        skipped = covered_links(links, current)
        opened = None
        while candidates and opened is None:
            link = choose(current, candidates, visited, rng)
            if link is None:
                break
            # As the press will: with the link's #fragment, so the page shows (and the planner
            # sees the links of) the part the visitor lands on, not its top.
            final, next_links, status = visible_links(link.get("linked") or link["href"])
            problem = (f"answered {status}" if status is not None and status >= 400
                       else f"redirected off the site, to {final}" if origin_of(final) != origin_of(current) else None)
            if problem is None:
                opened = link, final, next_links
            else:
                skipped.append({"href": link["href"], "why": problem})
                candidates = [c for c in candidates if c["href"] != link["href"]]
        if opened is None:
            break  # a dead end: no link to follow, or every one skipped
        link, current, links = opened
        plan.append(Step(len(plan), link["href"], "link", link.get("text", ""), tuple(skipped[:SKIPPED_KEPT])))
        visited.add(link["href"])
    return plan


def parse_path_file(text: str) -> list[tuple[str, str]]:
    """`--path FILE`: one entry per line, a URL (absolute, or starting with '/') or the text of a
    link to press on the page before; '#' starts a comment line. The first entry must be a URL."""
    entries: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        kind = "url" if re.match(r"(?i)^(https?://|/)", line) else "text"
        if not entries and kind != "url":
            raise ValueError(f"line {number}: the first entry must be a URL to start from, got {line!r}")
        entries.append((kind, line))
    if not entries:
        raise ValueError("no URLs or link texts in the file")
    return entries


def plan_from_path(
    entries: Sequence[tuple[str, str]], base_url: str, policy: WalkPolicy,
    visible_links: Callable[[str], OpenedPage],
) -> list[Step]:
    """The walk a user wrote down. A URL that a visible link on the previous page points to is
    pressed; any other URL is typed (`goto`). A link text must be visible on the previous page."""
    plan: list[Step] = []
    current, links = "", []
    for kind, value in entries:
        if kind == "url":
            url = without_fragment(urljoin(base_url, value))
            if reason := policy.excluded_by(url):
                raise ValueError(f"{value}: the walk will not open it ({reason})")
            pressable = plan and any(link["href"] == url for link in policy.candidates(links, current))
            via = "start" if not plan else "link" if pressable else "goto"
            step = Step(len(plan), url, via)
        else:
            matches = [link for link in policy.candidates(links, current) if link.get("text", "").strip() == value]
            if not matches:
                raise ValueError(f"no visible link with the text {value!r} on {current}")
            step = Step(len(plan), matches[0]["href"], "link", value)
        plan.append(step)
        current, links, _ = visible_links(step.url)
        if step.step == 0:  # where the start URL really lands (after redirects)
            plan[0] = Step(0, without_fragment(current), "start")
    return plan
