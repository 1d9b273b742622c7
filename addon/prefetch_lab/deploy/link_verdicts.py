"""One verdict per link: `prefetch`, `excluded` (a rule keeps it out: which), `unsafe` (fetching it
may change state: which signal) or `uncacheable` (the response says so: which header, and the
remedy). Facts of a response are used only when the audit itself fetched the URL (the walk, the
warm-up); any other link is judged by its URL alone, and its `why` says so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from prefetch_lab.deploy.url_signals import ACTION, PERSONAL, url_signals
from prefetch_lab.rules.model import RequestInfo, RuleSet

PREFETCH, EXCLUDED, UNSAFE, UNCACHEABLE = "prefetch", "excluded", "unsafe", "uncacheable"
VERDICTS = (PREFETCH, EXCLUDED, UNSAFE, UNCACHEABLE)
# Links to files rather than pages: nobody navigates into a download to read it.
_FILE = re.compile(
    r"(?i)\.(js|mjs|css|png|jpe?g|gif|webp|avif|svg|ico|bmp|woff2?|ttf|otf|eot|mp4|webm|ogg|mp3|wav|"
    r"wasm|pdf|zip|gz|tgz|bz2|xz|7z|rar|tar|dmg|exe|msi|deb|rpm|apk|iso|csv|xlsx?|docx?|pptx?|epub|txt|json|xml)$"
)
_SIGN_IN_TARGET = re.compile(
    r"(?i)(log[-_]?in|sign[-_]?in|userlogin|/session(/|$)|/auth(/|$)|/sso(/|$)|wp-login\.php|account/login)"
)
CACHEABLE_STATUS = (200,)  # the rules' default cacheable_status_codes (Edgio's)


@dataclass(frozen=True)
class Response:
    """What the edge saw when the audit fetched the URL (the trail and the HAR of the proxy)."""

    status: int
    cache_control: str = ""
    vary: str = ""
    set_cookies: tuple[str, ...] = ()  # names of the cookies the response set
    request_cookies: tuple[str, ...] = ()  # names the request carried (the cookies "set before")
    location: str = ""  # a redirect's target
    size: int | None = None
    caching_status: str = ""  # the edge's own: cached, private, set-cookie, code, bypassed...


@dataclass(frozen=True)
class Link:
    url: str  # absolute, without fragment unless the fragment is all it has
    text: str = ""
    rel: str = ""
    region: str = "other"  # nav / main / footer / header / aside / other
    visible: bool = True
    pages: tuple[str, ...] = ()  # the pages it appeared on
    followed: bool = False  # the walk pressed it
    response: Response | None = None  # None: the audit never fetched it
    prefetch_used: bool = False  # a prefetch of it served a navigation in some arm


@dataclass(frozen=True)
class Verdict:
    verdict: str
    why: str
    signal: str = ""  # the unsafe signal, the excluding rule(s), or the uncacheable header
    remedy: str = ""
    fetched: bool = False
    details: dict = field(default_factory=dict)


def _cache_directives(value: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in value.split(",") if part.strip()}


def excluding_rules(url: str, rule_sets: Sequence[RuleSet]) -> list[str]:
    """Ids of the rules that keep `url` out of the cache (bypass_cache), first rule set first."""
    parts = urlsplit(url)
    request = RequestInfo("GET", parts.scheme or "https", (parts.hostname or "").lower(), parts.path or "/", parts.query)
    for rules in rule_sets:
        features = rules.match(request)
        if features.bypass_cache:
            return [rule.id for rule in rules.rules if rule.id in features.matched and rule.features.get("bypass_cache")]
    return []


def classify(link: Link, rule_sets: Sequence[RuleSet] = ()) -> Verdict:
    response = link.response
    fetched = response is not None
    source = "" if fetched else " (URL only: the audit did not fetch it)"
    signals = url_signals(link.url)
    actions = [s.name for s in signals if s.kind == ACTION]
    if actions:
        return Verdict(UNSAFE, f"fetching it may change state: {', '.join(actions)}{source}", actions[0],
                       "never prefetch it; keep it out of the cache", fetched)
    if response is not None:
        if 300 <= response.status < 400 and _SIGN_IN_TARGET.search(response.location or ""):
            return Verdict(UNSAFE, f"answered {response.status} with a redirect to a sign-in page ({response.location})",
                           "redirect to sign-in", "a visitor's own page: never prefetch it", True)
        new = sorted(set(response.set_cookies) - set(response.request_cookies))
        if new:
            return Verdict(UNSAFE, f"the response sets cookie(s) not set before: {', '.join(new)}",
                           "sets new cookies", "fetching it changes the visitor's state: never prefetch it", True)
    if "nofollow" in link.rel.lower().split():
        return Verdict(UNSAFE, f"rel=nofollow: the site marks it as not to be followed{source}", "rel=nofollow",
                       "leave it to the visitor's press", fetched)
    rules = excluding_rules(link.url, rule_sets)
    if rules:
        personal = [s.name for s in signals if s.kind == PERSONAL]
        return Verdict(EXCLUDED, f"kept out of the cache by {', '.join(rules)}" + (f" ({personal[0]})" if personal else "") + source,
                       ", ".join(rules), "", fetched)
    personal = [s.name for s in signals if s.kind == PERSONAL]
    if personal:
        return Verdict(UNSAFE, f"a visitor's own page: {', '.join(personal)}{source}", personal[0],
                       "per-visitor: never prefetch or cache it; add a bypass_cache rule", fetched)
    if response is not None:
        found = uncacheable(response)
        if found:
            return Verdict(UNCACHEABLE, found[0], found[1], found[2], True)
    if _FILE.search(urlsplit(link.url).path):
        return Verdict(EXCLUDED, f"a file, not a page{source}", "file", "", fetched)
    if response is None:
        return Verdict(PREFETCH, "URL only: the audit did not fetch it; nothing in its URL says it acts or is personal",
                       "", "", False)
    seen = "followed by the walk" if link.followed else "fetched by the audit"
    return Verdict(PREFETCH, f"cacheable: {response.status}, {seen}"
                   + (f", Cache-Control: {response.cache_control}" if response.cache_control else ", no Cache-Control"),
                   "", "", True)


def uncacheable(response: Response) -> tuple[str, str, str] | None:
    """(why, the header, the remedy) when the response itself forbids sharing it, else None."""
    directives = _cache_directives(response.cache_control)
    for directive in ("no-store", "private", "no-cache"):
        if directive in directives:
            return (f"Cache-Control: {response.cache_control}", f"Cache-Control: {directive}",
                    "if the page is the same for every visitor, send `Cache-Control: public, s-maxage=...` "
                    "(or give its rule `ignore_origin_no_cache: true` after checking it is not personalised); "
                    "otherwise it stays out")
    if response.set_cookies:
        return (f"the response sets cookie(s) {', '.join(response.set_cookies)}", "Set-Cookie",
                "do not set cookies on anonymous page views (set them on the action that needs them, "
                "or strip Set-Cookie at the edge for these paths)")
    vary = {token.strip().lower() for token in response.vary.split(",")}
    if "cookie" in vary or "*" in vary:
        return (f"Vary: {response.vary}: one copy per visitor's cookies", "Vary: Cookie",
                "if the page is the same for anonymous visitors, drop Vary: Cookie for them, or give its rule "
                "`cache_key_ignore_cookies: true`")
    if response.status not in CACHEABLE_STATUS:
        where = f" to {response.location}" if response.location else ""
        return (f"status {response.status}{where} is not cached", f"status {response.status}",
                "link the final URL" if 300 <= response.status < 400 else "fix or remove the link")
    if response.caching_status in ("private", "set-cookie"):
        return (f"the edge refused to store it ({response.caching_status})", response.caching_status,
                "see the proxy trail's reason for this URL")
    return None
