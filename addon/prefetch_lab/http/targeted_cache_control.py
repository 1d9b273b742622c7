"""Cache directives targeted at the edge: `CDN-Cache-Control` (RFC 9213) and `Surrogate-Control`
(W3C Edge Architecture 1.0), read as Structured Field Dictionaries (RFC 9651).

Each reader gives the directives as `(name, argument or None)` pairs, the shape of
`cachepolicy.CacheControl`, or None when the field is to be ignored as a whole: absent, empty,
not a valid Dictionary, or holding a directive whose value breaks the type its Cache-Control
syntax implies (RFC 9213 2.1: `max-age` an Integer, `no-store` Boolean true, `private` true or
a String). The cache then falls back to the next field (RFC 9213 2.2). RFC 9213 asks not to
consume such values, and the field without them is not the origin's policy either (dropping
`max-age=abc` alone would leave a response with no freshness at all).

Surrogate-Control targets a directive with a device token as its parameter
(`max-age=60;prefetch-lab`), which is valid Dictionary syntax. But one directive may appear once
per device (`max-age=5, max-age=900;prefetch-lab`), and a Dictionary keeps only the last
`max-age`. So the field must parse as a Dictionary (the syntax check), and its members are then
read one by one; among those for one device, a repeated directive's last value wins, as in a
Dictionary. Surrogate-Control predates Structured Fields, and its directive names and device
tokens are case-insensitive, as Cache-Control's are (the cache-tests suite's
`surrogate-max-age-case-insensitive`: `MaX-aGe=3600`), so it is lower-cased before parsing;
CDN-Cache-Control is not (RFC 9213: `MAX-AGE=60` is not a valid Dictionary). What the Edge
Architecture allows and RFC 9651 does not makes the field invalid, hence ignored:
`max-age=60+30` (its stale extension), `max-age = 60`.

Pure module: no mitmproxy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from prefetch_lab.http import structured

Directive = tuple[str, "str | None"]

# Cache-Control directives whose syntax fixes their type (RFC 9111 5.2.2, RFC 5861, RFC 8246).
DELTA_SECONDS = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})
NO_ARGUMENT = frozenset({"no-store", "must-revalidate", "proxy-revalidate", "public", "no-transform",
                         "immutable", "must-understand"})
FIELD_NAMES_OR_NONE = frozenset({"private", "no-cache"})

# A Dictionary member: commas inside Strings (and Display Strings) do not end it.
_MEMBER = re.compile(r'(?:"(?:[^"\\]|\\.)*"|[^,"])+')


def cdn_cache_control(field_lines: Sequence[str]) -> list[Directive] | None:
    """CDN-Cache-Control's directives (their parameters ignored, RFC 9213 2.1); None: ignore it."""
    members = structured.parse_dictionary(field_lines) if field_lines else None
    if not members:
        return None
    return _directives((name, value) for name, (value, _params) in members.items())


def surrogate_control(field_lines: Sequence[str], device: str) -> list[Directive] | None:
    """Surrogate-Control's directives for `device`, else its untargeted ones (those for other
    devices left out); None: ignore it (Cache-Control decides)."""
    lines = [line.lower() for line in field_lines]
    if not lines or structured.parse_dictionary(lines) is None:
        return None
    ours: dict[str, object] = {}
    untargeted: dict[str, object] = {}
    for member in _MEMBER.findall(", ".join(lines)):
        ((name, (value, devices)),) = structured.parse_dictionary(member.strip(" \t")).items()
        if device in devices:
            ours[name] = value
        elif not devices:
            untargeted[name] = value
    chosen = ours or untargeted  # targeted at this edge wins over untargeted (Edge Architecture 1.0)
    return _directives(chosen.items()) if chosen else None


def _directives(members: Iterable[tuple[str, object]]) -> list[Directive] | None:
    """Members as CacheControl directives; None when one breaks its directive's type."""
    directives: list[Directive] = []
    for name, value in members:
        if not _well_typed(name, value):
            return None
        directives.append((name, None if value is True else str(value)))
    return directives


def _well_typed(name: str, value: object) -> bool:
    if name in DELTA_SECONDS:
        return type(value) is int and value >= 0  # not a bool, a Decimal or a Token
    if name in NO_ARGUMENT:
        return value is True
    if name in FIELD_NAMES_OR_NONE:
        return value is True or structured.is_string(value)
    return True  # an extension directive: ignored by the policy, whatever its value
