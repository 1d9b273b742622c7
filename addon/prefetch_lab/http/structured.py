"""Structured Field Values (RFC 9651) through `http-sf`: parse a List or a Dictionary, write a String.

A value that is not valid gives None, never an exception: RFC 9651 4.2 says a field that fails
to parse is ignored as a whole, and that is what every caller does with None.

Shapes (http-sf's own): a member is an Item `(bare_item, params)` or an Inner List
`([items], params)`; `params` maps lower-case keys to bare items (a key alone is True).
Bare items are `str` (a String), `Token`, `int`, `Decimal`, `bool`, `bytes`, `datetime` (Date),
`DisplayString`. A Token compares equal to a `str` with the same text, so tell a String from a
Token with `is_string` / `is_token`, never with `==` alone.

Pure module: no mitmproxy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import http_sf
from http_sf import StructuredFieldError, Token

BareItem = Any  # str | Token | int | Decimal | bool | bytes | datetime | DisplayString
Params = dict[str, BareItem]
Member = tuple[Any, Params]  # (bare item, params), or ([(bare item, params), ...], params)


def parse_list(field: str | Sequence[str]) -> list[Member] | None:
    """The members of a List field; None when the value is not a valid List."""
    return _parse(field, "list")


def parse_dictionary(field: str | Sequence[str]) -> dict[str, Member] | None:
    """The members of a Dictionary field (a repeated key: the last one wins, RFC 9651 4.2.2);
    None when the value is not a valid Dictionary."""
    return _parse(field, "dictionary")


def _parse(field: str | Sequence[str], top_level: str) -> Any:
    # Several field lines are one value joined with ", " (RFC 9651 4.2).
    text = field if isinstance(field, str) else ", ".join(field)
    try:
        return http_sf.parse(text.encode("ascii"), tltype=top_level)
    except (UnicodeEncodeError, StructuredFieldError):  # outside ASCII is never valid
        return None


def serialize_string(value: str) -> str:
    """`value` as a String (quoted, `\\` and `"` escaped); ValueError unless printable ASCII.

    Printable ASCII is written here: http-sf checks it a character at a time, which made the
    per-page Speculation-Rules header twice as slow (tests/unit/test_structured.py checks that
    both write the same). Anything else goes to http-sf, which raises the ValueError.
    """
    if value.isascii() and value.isprintable():
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return http_sf.ser(value)


def is_string(bare_item: BareItem, text: str | None = None) -> bool:
    """A String (and, given `text`, that very one); not a Token with the same characters."""
    return type(bare_item) is str and (text is None or bare_item == text)


def is_token(bare_item: BareItem, text: str | None = None) -> bool:
    """A Token (and, given `text`, that very one: tokens are case-sensitive)."""
    return isinstance(bare_item, Token) and (text is None or str(bare_item) == text)
