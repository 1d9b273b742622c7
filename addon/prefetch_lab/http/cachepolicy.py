"""Edge-cache decisions: RFC 9111 shared-cache rules plus Edgio edge semantics.

Pure: header pairs in, plain values out; time is always passed in (`now`, seconds).

Two modes:
- CDN mode (`rules_active=True`, like Edgio/Cloudflare): a rule's `max_age` overrides origin
  freshness, only `cacheable_status_codes` (default 200) are stored, the client's
  Cache-Control is ignored.
- RFC mode (no rules loaded): a plain RFC 9111 shared cache without heuristic freshness; a
  response with explicit freshness is stored whatever its final status (but 206 and 304).

Deliberate choices (all on the safe side):
- Set-Cookie responses are never stored, even in RFC mode (RFC 9111 would allow it): a shared
  cache would hand one visitor's session cookie to everyone else. Layer0 documented the same.
- Response `no-cache` and qualified `private="x"`/`no-cache="x"` count as unqualified: we do not
  revalidate on every use nor strip single fields, so "don't store" is the safe reading.
- `Vary: *` reports `private`: the response depends on something outside the request
  (typically the visitor), which is what `private` means to a reader of the audit trail.
- Invalid or conflicting freshness values (`max-age=soon`, two different `max-age`s, two
  different `Expires`) make the response stale (RFC 9111 4.2.1 / 5.3), never fresher.
- The edge's own freshness and storability come from `CDN-Cache-Control` (RFC 9213) if the
  origin sent a valid one, else from `Surrogate-Control` (directives targeted at this edge, else
  the untargeted ones; those for other devices left out), else from `Cache-Control`. Both are
  read as Structured Field Dictionaries (targeted_cache_control.py): one that does not parse,
  or whose directive breaks its type (`max-age=abc`, `max-age="60"`), is ignored as a whole and
  the next field decides. A field for the edge is the origin speaking to shared caches: like
  `public`, it shares the response whatever the visitor's cookies.
- An `Age` that is not exactly one non-negative integer (`abc`, `-1`, `1.0`, `0, 0`, two lines,
  `7200;x=y`) makes the response stale: its age is unknown, so it is not assumed young.
- The initial age is the origin's `Age` only; apparent age from `Date` is left out because
  clock skew between this machine and an arbitrary origin would make entries stale at birth.
- Rules mode keys a response by the visitor's cookies (minus analytics ones, cachestore) unless
  the origin said `public` or `s-maxage`: only the rules made it cacheable, and a page that
  does not set a cookie can still be personalised by one (Alice's account page). A rule's
  `cache_key_ignore_cookies` vouches that it is not.
- `s-maxage` implies proxy-revalidate (RFC 9111 5.2.2.10) but an explicit
  `stale-while-revalidate` next to it is still honoured, as CDNs do for Next.js-style headers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Literal

from prefetch_lab.http import stale_window
from prefetch_lab.http import targeted_cache_control as targeted

Headers = Sequence[tuple[str, str]]
FreshnessState = Literal["fresh", "stale-revalidate", "expired"]

# RFC 9111 1.2.2: delta-seconds larger than this are capped.
MAX_DELTA_SECONDS = 2**31
# RFC 9110 15.1, minus 206 (parts are never stored: NEVER_STORED).
HEURISTICALLY_CACHEABLE = frozenset({200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501})
# RFC 9111 3: with explicit freshness any final status may be stored (an origin that says
# `max-age` on a 503 asks for it), but never these: a part, or an answer to a conditional request.
NEVER_STORED = frozenset({206, 304})
# RFC 9110 15's codes: the statuses whose caching rules the edge knows (RFC 9111 5.2.2.3
# must-understand: a response with another status is not stored).
UNDERSTOOD_STATUS = frozenset({*range(200, 207), *range(300, 309), *range(400, 418), 421, 422, 426,
                               *range(500, 506)}) - {306}
EDGIO_DEFAULT_CACHEABLE = (200,)
# The edge's device token: it sends `Surrogate-Capability: prefetch-lab="Surrogate/1.0"` to the
# origin (surrogate.py), which may then target Surrogate-Control directives at it (`max-age=60;prefetch-lab`).
SURROGATE_TOKEN = "prefetch-lab"
# RFC 9110 15.4.5: fields a 304 must carry if the 200 would have.
NOT_MODIFIED_FIELDS = frozenset(
    {"cache-control", "content-location", "date", "etag", "expires", "vary", "last-modified"}
)


@dataclass(frozen=True)
class RuleCaching:
    """The rule-derived caching inputs (edge/storage.py builds this from rules.model.Features)."""

    max_age: int | None = None
    stale_while_revalidate: int | None = None
    bypass_cache: bool = False
    ignore_origin_no_cache: bool | tuple[int, ...] = False
    cacheable_status_codes: tuple[int, ...] | None = None
    ignore_cookies: bool = False
    stale_if_error: int | None = None


@dataclass(frozen=True)
class StorageDecision:
    store: bool
    # Edgio x-edg-caching-status: cached|bypassed|private|method|code|set-cookie|no-max-age|body-too-big
    caching_status: str
    ttl: int
    swr: int
    initial_age: int
    reason: str
    by_cookies: bool = False  # stored as a variant of the visitor's cookies (cachestore.COOKIE_VARIANT)
    sie: int = 0  # stale-if-error seconds past the TTL (stale_window.py)


# ---------------------------------------------------------------------------- header helpers


def header_values(headers: Headers, name: str) -> list[str]:
    """All values of a header (case-insensitive name), in order."""
    wanted = name.lower()
    return [value for key, value in headers if key.lower() == wanted]


def split_list(value: str) -> list[str]:
    """Split a comma-separated field value, respecting quoted strings; drops empty items."""
    items: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif char == "\\" and in_quotes:
            escaped = True
        elif char == '"':
            in_quotes = not in_quotes
        elif char == "," and not in_quotes:
            items.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    items.append("".join(current).strip())
    return [item for item in items if item]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse_http_date(value: str | None) -> float | None:
    """IMF-fixdate, RFC 850 or asctime → epoch seconds; None when invalid."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:  # asctime carries no zone; HTTP dates are always GMT
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


class CacheControl:
    """Directives of all Cache-Control lines, names lower-cased, values unquoted; or `directives`
    already read that way (a targeted field's, targeted_cache_control.py)."""

    def __init__(self, field_values: Iterable[str] = (), directives: Iterable[tuple[str, str | None]] = ()):
        self.directives: list[tuple[str, str | None]] = list(directives)
        for field_value in field_values:
            for item in split_list(field_value):
                name, sep, raw = item.partition("=")
                self.directives.append(
                    (name.strip().lower(), _unquote(raw.strip()) if sep else None)
                )
        self._names = frozenset(name for name, _ in self.directives)  # `has` is asked several times each

    @classmethod
    def of(cls, headers: Headers) -> "CacheControl":
        return cls(header_values(headers, "cache-control"))

    def has(self, name: str) -> bool:
        return name in self._names

    def seconds(self, name: str) -> int | None:
        """delta-seconds of a directive; None if absent; 0 if invalid or conflicting duplicates."""
        values = {value for key, value in self.directives if key == name}
        if not values:
            return None
        if len(values) > 1:
            return 0
        (value,) = values
        if value is None or not value.isdigit():
            return 0
        return min(int(value), MAX_DELTA_SECONDS)


# ----------------------------------------------------------------------------- storage decision


def storage_decision(
    method: str,
    status: int,
    request_headers: Headers,
    response_headers: Headers,
    rule: RuleCaching,
    body_size: int,
    max_object_size: int,
    now: float,
    rules_active: bool,
) -> StorageDecision:
    """Should this response be stored at the edge, and for how long?"""
    response_cc = edge_cache_control(response_headers)
    client_cc = CacheControl.of(response_headers)
    ignores_no_cache = (
        rule.ignore_origin_no_cache is True
        or (isinstance(rule.ignore_origin_no_cache, tuple) and status in rule.ignore_origin_no_cache)
    )
    refused = _not_shareable(method, request_headers, response_headers, rule, rules_active, response_cc, client_cc,
                             ignores_no_cache)
    if refused is not None:
        return refused

    rule_codes = rule.cacheable_status_codes or EDGIO_DEFAULT_CACHEABLE
    rule_ttl_applies = rule.max_age is not None and status in rule_codes
    origin_ttl, origin_source = _origin_freshness(response_headers, response_cc, now)
    if rules_active:
        status_ok = status in rule_codes
    else:
        status_ok = status not in NEVER_STORED and (status in HEURISTICALLY_CACHEABLE or origin_source is not None)
        if response_cc.has("must-understand") and status not in UNDERSTOOD_STATUS:
            return _refuse("code", f"status {status} is not understood (must-understand)")
    if not status_ok and not rule_ttl_applies:
        return _refuse("code", f"status {status} is not cacheable")
    if set_cookies := header_values(response_headers, "set-cookie"):
        # The cookies' names (never their values): the audit's advice names them.
        names = ", ".join(dict.fromkeys(value.split("=", 1)[0].strip() for value in set_cookies))
        return _refuse("set-cookie", f"response sets a cookie ({names})")

    if rule_ttl_applies:
        # The rule's TTL is the edge's own: it overrides origin freshness headers, Age included.
        ttl, initial_age, source = rule.max_age, 0, f"rule max_age={rule.max_age}"
    else:
        ttl, initial_age = origin_ttl, _age_header(response_headers)
        source = origin_source or "no origin freshness"
    swr, swr_source, sie, sie_source = _stale_windows(rule, response_cc, ignores_no_cache)

    detail = f"{source}, swr={swr} ({swr_source}), age={initial_age}" + (f", sie={sie} ({sie_source})" if sie else "")
    if ttl + swr <= initial_age:
        return _refuse("no-max-age", f"no freshness left: {detail}", ttl, swr, initial_age)
    if body_size > max_object_size:
        return _refuse("body-too-big", f"body {body_size} B > max object {max_object_size} B", ttl, swr, initial_age)
    by_cookies = rules_active and not rule.ignore_cookies and not (
        client_cc.has("public") or client_cc.has("s-maxage")
        or response_cc.directives != client_cc.directives  # the origin addressed the edge itself
    )
    return StorageDecision(True, "cached", ttl, swr, initial_age, detail, by_cookies, sie)


def _refuse(caching_status: str, reason: str, ttl: int = 0, swr: int = 0, age: int = 0) -> StorageDecision:
    return StorageDecision(False, caching_status, ttl, swr, age, reason)


def _not_shareable(method: str, request_headers: Headers, response_headers: Headers, rule: RuleCaching,
                   rules_active: bool, response_cc: CacheControl, client_cc: CacheControl,
                   ignores_no_cache: bool) -> StorageDecision | None:
    """Why a shared cache may not store this answer at all (None: it may, by these rules)."""
    if rule.bypass_cache:
        return _refuse("bypassed", "rule bypass_cache")
    if method.upper() != "GET":
        return _refuse("method", f"method {method.upper()} is not cached")
    if not rules_active and CacheControl.of(request_headers).has("no-store"):
        return _refuse("private", "request Cache-Control: no-store")
    if any(token == "*" for value in header_values(response_headers, "vary") for token in split_list(value)):
        return _refuse("private", "Vary: * (response varies beyond the request)")
    if not ignores_no_cache:
        for directive in ("no-store", "private", "no-cache"):
            if response_cc.has(directive):
                return _refuse("private", f"response Cache-Control: {directive}")
    # RFC 9111 3.5: only these directives let a shared cache reuse an authenticated response.
    if header_values(request_headers, "authorization") and not any(
        client_cc.has(d) or response_cc.has(d) for d in ("public", "s-maxage", "must-revalidate")
    ):
        return _refuse("private", "request had Authorization; response not public/s-maxage/must-revalidate")
    return None


def _stale_windows(rule: RuleCaching, response_cc: CacheControl, ignores_no_cache: bool) -> tuple[int, str, int, str]:
    """stale-while-revalidate and stale-if-error seconds, each with where it comes from."""
    if rule.stale_while_revalidate is not None:
        swr, swr_source = rule.stale_while_revalidate, "rule"
    else:
        swr, swr_source = response_cc.seconds("stale-while-revalidate") or 0, "origin"
    forbidding = [d for d in ("must-revalidate", "proxy-revalidate") if response_cc.has(d)]
    if not ignores_no_cache and response_cc.has("no-cache"):
        forbidding.append("no-cache")
    if forbidding and swr:
        swr, swr_source = 0, f"{forbidding[0]} forbids stale"
    sie, sie_source = stale_window.window(rule.stale_if_error, response_cc.seconds("stale-if-error"), forbidding)
    return swr, swr_source, sie, sie_source


def _origin_freshness(headers: Headers, cc: CacheControl, now: float) -> tuple[int, str | None]:
    """Origin freshness lifetime and where it came from (None: no explicit freshness)."""
    for directive in ("s-maxage", "max-age"):
        seconds = cc.seconds(directive)
        if seconds is not None:
            return seconds, f"origin {directive}={seconds}"
    expires_values = header_values(headers, "expires")
    if not expires_values:
        return 0, None
    expires = {parse_http_date(value) for value in expires_values}
    if len(expires) > 1 or None in expires:
        return 0, "origin Expires (invalid or conflicting: stale)"
    date = parse_http_date(next(iter(header_values(headers, "date")), None))
    lifetime = int(expires.pop() - (date if date is not None else now))
    return max(0, min(lifetime, MAX_DELTA_SECONDS)), f"origin Expires - Date = {max(0, lifetime)}"


def _age_header(headers: Headers) -> int:
    values = header_values(headers, "age")
    if not values:
        return 0
    if len(values) == 1 and values[0].strip().isascii() and values[0].strip().isdigit():
        return min(int(values[0].strip()), MAX_DELTA_SECONDS)
    return MAX_DELTA_SECONDS  # invalid or repeated: of unknown age, so stale


def edge_cache_control(headers: Headers) -> CacheControl:
    """The directives that govern the edge's own caching: the first valid, non-empty field of
    CDN-Cache-Control (RFC 9213), Surrogate-Control (targeted at this edge, else untargeted),
    else Cache-Control."""
    directives = targeted.cdn_cache_control(header_values(headers, "cdn-cache-control"))
    if directives is None:
        directives = targeted.surrogate_control(header_values(headers, "surrogate-control"), SURROGATE_TOKEN)
    return CacheControl.of(headers) if directives is None else CacheControl(directives=directives)


# ------------------------------------------------------------------------------- serving side


def request_forces_origin(request_headers: Headers, rules_active: bool) -> bool:
    """RFC mode: client no-cache / max-age=0 / Pragma: no-cache skip the stored entry.

    CDN mode ignores the client's Cache-Control, as Edgio and Cloudflare do.
    """
    if rules_active:
        return False
    cc_values = header_values(request_headers, "cache-control")
    if cc_values:
        cc = CacheControl(cc_values)
        return cc.has("no-cache") or cc.seconds("max-age") == 0
    # RFC 9111 5.4: Pragma counts only when the request has no Cache-Control.
    return any(
        item.lower() == "no-cache"
        for value in header_values(request_headers, "pragma")
        for item in split_list(value)
    )


def freshness(
    entry_stored_at: float, initial_age: int, ttl: int, swr: int, now: float
) -> tuple[int, FreshnessState]:
    """Current age (initial age + whole seconds resident) and whether it may be served."""
    age = initial_age + max(0, int(now - entry_stored_at))
    if age < ttl:
        return age, "fresh"
    if age < ttl + swr:
        return age, "stale-revalidate"
    return age, "expired"


def _opaque_tag(entity_tag: str) -> str | None:
    """Weak comparison (RFC 9110 8.8.3.2): compare the quoted part, ignoring W/."""
    tag = entity_tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    if len(tag) >= 2 and tag[0] == tag[-1] == '"':
        return tag
    return None


def conditional_response(request_headers: Headers, stored_status: int, stored_headers: Headers) -> bool:
    """Should a fresh stored entry answer this request with 304 Not Modified?

    If-None-Match wins over If-Modified-Since (RFC 9110 13.1.3: IMS is ignored when INM is sent).
    """
    if stored_status != 200:
        return False
    if_none_match = header_values(request_headers, "if-none-match")
    if if_none_match:
        requested = [tag for value in if_none_match for tag in split_list(value)]
        if "*" in requested:
            return True
        stored_tags = {_opaque_tag(v) for v in header_values(stored_headers, "etag")} - {None}
        return any(_opaque_tag(tag) in stored_tags for tag in requested)
    if_modified_since = parse_http_date(next(iter(header_values(request_headers, "if-modified-since")), None))
    if if_modified_since is None:
        return False
    # RFC 9111 4.3.2: without Last-Modified, the stored Date stands in.
    for field in ("last-modified", "date"):
        stored = parse_http_date(next(iter(header_values(stored_headers, field)), None))
        if stored is not None:
            return stored <= if_modified_since
    return False


def not_modified_headers(stored_headers: Headers) -> list[tuple[str, str]]:
    """The stored fields a 304 carries (RFC 9110 15.4.5), in stored order."""
    return [(name, value) for name, value in stored_headers if name.lower() in NOT_MODIFIED_FIELDS]


def _normalise_coding(coding: str) -> str:
    coding = coding.strip().lower()
    return {"x-gzip": "gzip", "x-compress": "compress"}.get(coding, coding)


def client_accepts_encoding(accept_encoding: str | None, content_encoding: str | None) -> bool:
    """May a body with this Content-Encoding go to a client that sent this Accept-Encoding?

    identity always may. A missing Accept-Encoding counts as "identity only" (stricter than
    RFC 9110 12.5.3's "anything") so curl-like clients never get a br body they cannot read.
    """
    codings = [_normalise_coding(c) for c in split_list(content_encoding or "")]
    codings = [c for c in codings if c != "identity"]
    if not codings:
        return True
    weights: dict[str, float] = {}
    for item in split_list(accept_encoding or ""):
        name, *params = item.split(";")
        weight = 1.0
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0  # unreadable weight: don't take it as consent
        coding = _normalise_coding(name)
        weights[coding] = min(weight, weights.get(coding, weight))  # duplicates: most restrictive
    wildcard = weights.get("*", 0.0)
    return all(weights.get(coding, wildcard) > 0 for coding in codings)


# ------------------------------------------------------------------------------ revalidation

# RFC 9111 3.2: fields a 304 does not update in the stored response. Content-Length and the
# hop-by-hop fields; those describing the stored bytes (Content-Encoding: the body is stored as
# the origin encoded it; Content-Range, Content-MD5), and ETag: the 304 validated the stored
# response, so its tag stays that of the bytes held (a different one would not describe them).
# Age is replaced by the 304's own (or none).
NOT_UPDATED_BY_304 = frozenset({
    "content-length", "content-encoding", "content-range", "content-md5", "etag",
    "transfer-encoding", "connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade",
    "proxy-authenticate", "proxy-authentication-info", "proxy-authorization",
})


def stored_validators(stored_headers: Headers) -> list[tuple[str, str]]:
    """The conditional request fields that revalidate a stored response (RFC 9111 4.3.1):
    If-None-Match with its entity tags, If-Modified-Since with its Last-Modified; [] if it has none."""
    validators = []
    tags = [tag for value in header_values(stored_headers, "etag") for tag in split_list(value)]
    if tags:
        validators.append(("if-none-match", ", ".join(tags)))
    last_modified = next(iter(header_values(stored_headers, "last-modified")), None)
    if last_modified and parse_http_date(last_modified) is not None:
        validators.append(("if-modified-since", last_modified.strip()))
    return validators


def freshened_headers(stored_headers: Headers, not_modified: Headers) -> tuple[tuple[str, str], ...]:
    """The stored header pairs updated by a 304 (RFC 9111 3.2): each field the 304 carries
    replaces the stored one of that name (all its lines), except NOT_UPDATED_BY_304 and fields
    named by the 304's Connection header; the stored Age goes (the 304's own, if any, replaces it)."""
    connection_named = {
        token.strip().lower() for name, value in not_modified if name.lower() == "connection" for token in value.split(",")
    }
    updates = [(name, value) for name, value in not_modified
               if name.lower() not in NOT_UPDATED_BY_304 and name.lower() not in connection_named]
    replaced = {name.lower() for name, _ in updates} | {"age"}
    kept = [(name, value) for name, value in stored_headers if name.lower() not in replaced]
    return tuple(kept + updates)


def _entity_tags(headers: Headers) -> list[str]:
    return [tag.strip() for value in header_values(headers, "etag") for tag in split_list(value)]


def not_modified_selects(stored_headers: Headers, not_modified: Headers) -> bool:
    """Does a 304 select this stored response for update (RFC 9111 4.3.4)? Its strong ETags must
    include the stored one (strong comparison); without strong ones, its weak ETag or its
    Last-Modified must match the stored one. A 304 with no validator at all answers the
    conditional request the edge made from this entry's own validators, so it selects it."""
    tags = _entity_tags(not_modified)
    strong = [tag for tag in tags if not tag.startswith("W/")]
    stored_tags = _entity_tags(stored_headers)
    if strong:
        return any(tag in strong for tag in stored_tags if not tag.startswith("W/"))
    last_modified = header_values(not_modified, "last-modified")
    if not tags and not last_modified:
        return True
    stored_opaque = {_opaque_tag(tag) for tag in stored_tags} - {None}
    if any(_opaque_tag(tag) in stored_opaque for tag in tags):
        return True
    stored_last_modified = parse_http_date(next(iter(header_values(stored_headers, "last-modified")), None))
    return stored_last_modified is not None and any(parse_http_date(v) == stored_last_modified for v in last_modified)
