"""What a link's URL alone says about fetching it: whether it acts (sign-out, cart actions,
deletes, nonces: `unsafe`) or is a visitor's own page (sign-in, registration, account, admin:
per-visitor, kept out of caches). Used for every link, fetched or not; a link nobody fetched is
classified by this alone.

Each signal is (kind, name, test): kind "action" makes a link unsafe; kind "personal" makes it
unsafe unless a rule already keeps it out of the cache (then it is `excluded` by that rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

ACTION = "action"
PERSONAL = "personal"

# Words that make a GET act when they name what the request does.
_ACTION_VALUE = re.compile(
    r"(?i)(^|[._:\-])(delete|remove|purge|watch|unwatch|edit|submit|rollback|revert|undelete|protect|unprotect|"
    r"trash|untrash|spam|unspam|approve|unapprove|logout|log[-_]?out|sign[-_]?out|subscribe|unsubscribe|"
    r"mark[-_]?(as[-_]?)?read|markread|vote|like|unlike|follow|unfollow|flag|add|empty|clear|save|update|"
    r"cancel|block|ban|move|merge|import|export|login|register)($|[._:\-])"
)
_ACTION_PARAMS = ("action", "do", "task", "op", "cmd", "mode", "act")
# One-time tokens, form keys and session ids (a URL carrying one acts or is one visitor's).
_TOKEN_PARAM = re.compile(
    r"(?i)^(_wpnonce|nonce|_?token|form_token|form_key|formkey|csrf.*|_csrf.*|xsrf.*|authenticity_token|"
    r"access_token|auth_token|sesskey|session_?id|phpsessid|jsessionid|sid|sig|signature|hash_key)$"
)
_JOOMLA_TOKEN = re.compile(r"^[0-9a-f]{32}$")  # Joomla's CSRF token is a 32-hex parameter *name* (=1)
_CART_PARAM = re.compile(
    r"(?i)^(add[-_]?to[-_]?cart|addtocart|add[-_]?to[-_]?wishlist|remove[-_]?item|removed[-_]?item|undo[-_]?item|"
    r"empty[-_]?cart|apply[-_]?coupon|remove[-_]?coupon|add[-_]?to[-_]?compare)$"
)
_SIGN_OUT = re.compile(r"(?i)(^|[/_.\-:=])(log[-_]?out|sign[-_]?out|log[-_]?off|userlogout)($|[/_.\-;?&#])")
_CART_ACTION_PATH = re.compile(
    r"(?i)/(cart|basket|bag|checkout/cart)/(add|remove|delete|change|update|clear|empty|change_qty|updatepost|"
    r"couponpost)(?=[/._;?]|$)|/add[-_]?to[-_]?(cart|basket|wishlist|compare)(?=[/._;?-]|$)|/cart/\d+:\d+"
)
_ACTION_SEGMENT = re.compile(
    r"(?i)^(edit|delete|remove|purge|rollback|approve|unapprove|trash|untrash|spam|unspam|unsubscribe|"
    r"mark[-_]?(as[-_]?)?read|markread|mark[-_]?all[-_]?read|confirm|form_key|uenc)$"
)
_CART_PATH = re.compile(r"(?i)/(cart|basket|bag|checkout|wishlist|product_compare)(?=[/._;]|$)")
_SIGN_IN = re.compile(
    r"(?i)(^|[/_.\-:=])(log[-_]?in|sign[-_]?in|sign[-_]?up|register|registration|create[-_]?account|"
    r"userlogin|createaccount|lost[-_]?password|password[-_]?reset|reset[-_]?password|forgot[-_]?password|"
    r"passwordreset|changepassword|password|forgotpassword)($|[/_.;?&#])"
)
_PERSONAL_SEGMENT = re.compile(  # anywhere in the first three segments
    r"(?i)^(account|my-account|myaccount|preferences|watchlist)$"
)
_PERSONAL_FIRST_SEGMENT = re.compile(  # areas that are personal only at the top of the site
    r"(?i)^(admin|administrator|wp-admin|ghost|dashboard|customer|user|my|session|sessions|profile|settings|notifications)$"
)
# MediaWiki special pages of one visitor (mediawiki.org/wiki/Help:Special_pages).
_WIKI_PERSONAL = re.compile(
    r"(?i)^special:(userlogin|userlogout|createaccount|preferences|watchlist|editwatchlist|mypage|mytalk|"
    r"mycontributions|changepassword|passwordreset|changeemail|notifications)(/|$)"
)
FRAGMENT_ACCOUNT = re.compile(r"(?i)(sign[-_]?(in|up|out)|log[-_]?(in|out)|account|portal)")


@dataclass(frozen=True)
class UrlSignal:
    kind: str  # ACTION or PERSONAL
    name: str  # what fired, for people: "sign-out link", "nonce parameter _wpnonce"


def url_signals(url: str) -> list[UrlSignal]:
    """Every signal the URL gives (empty: nothing in the URL says it acts or is personal)."""
    parts = urlsplit(url)
    path = unquote(parts.path or "/")
    params = parse_qsl(parts.query, keep_blank_values=True)
    found: list[UrlSignal] = []

    def fire(kind: str, name: str) -> None:
        if UrlSignal(kind, name) not in found:
            found.append(UrlSignal(kind, name))

    wiki_titles = [path.rsplit("/", 1)[-1]] + [v for k, v in params if k.lower() == "title"]
    for title in wiki_titles:
        if match := _WIKI_PERSONAL.match(title):
            page = match.group(1).lower()
            fire(ACTION if page == "userlogout" else PERSONAL, f"MediaWiki Special:{match.group(1)}")
    if _SIGN_OUT.search(path) or any(_SIGN_OUT.search(f"={v}") for _, v in params):
        fire(ACTION, "sign-out link")
    for name, value in params:
        lower = name.lower()
        if _TOKEN_PARAM.match(name) or (_JOOMLA_TOKEN.match(lower) and value in ("1", "")):
            fire(ACTION, f"token parameter {name}")
        elif _CART_PARAM.match(name):
            fire(ACTION, f"cart action parameter {name}")
        elif lower in _ACTION_PARAMS and value and not re.match(r"(?i)^(view|show|read|render)$", value):
            if _ACTION_VALUE.search(value):
                fire(ACTION, f"{lower}={value}")
            else:  # an action we do not know (MediaWiki's history, info): a page of its own, not content
                fire(PERSONAL, f"{lower}={value}")
    if _CART_ACTION_PATH.search(path):
        fire(ACTION, "cart action path")
    segments = [s for s in path.split("/") if s]
    for segment in segments:
        if _ACTION_SEGMENT.match(segment):
            fire(ACTION, f"action path segment /{segment}")
    if _SIGN_IN.search(path) or any(_SIGN_IN.search(f"={v}") for k, v in params if k.lower() in _ACTION_PARAMS + ("view",)):
        fire(PERSONAL, "sign-in or registration page")
    if _CART_PATH.search(path):
        fire(PERSONAL, "cart, checkout or wishlist page")
    for index, segment in enumerate(segments[:3]):
        personal = _PERSONAL_SEGMENT.match(segment) or (index == 0 and _PERSONAL_FIRST_SEGMENT.match(segment))
        if personal and not _public_profile(segments):
            fire(PERSONAL, f"account or admin area /{segment}")
            break
    if re.search(r"(?i)/(sales/order|newsletter/manage|node/add)(/|$)", path):
        fire(PERSONAL, "order history, newsletter settings or a content form")
    if path.lower().endswith("/wp-login.php") or "/wp-admin" in path.lower():
        fire(PERSONAL, "WordPress admin or sign-in")
    if any(k.lower() == "option" and v.lower() == "com_users" for k, v in params):
        fire(PERSONAL, "Joomla com_users (sign-in, registration, profile)")
    if parts.fragment and FRAGMENT_ACCOUNT.search(parts.fragment):
        fire(PERSONAL, f"account script link #{parts.fragment}")
    return found


def _public_profile(segments: list[str]) -> bool:
    """`/user/alice` and `/u/alice` are public profiles on forums; `/user/login`, `/user/1/edit`
    are caught by the other signals."""
    return len(segments) == 2 and segments[0].lower() in ("user", "u")
