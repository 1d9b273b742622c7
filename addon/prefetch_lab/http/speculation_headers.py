"""The speculation headers the edge reads and writes, all Structured Field Lists (RFC 9651).

- `Sec-Purpose` (request): a List of Tokens; `prefetch` marks a prefetch, its parameter
  `prerender` a prerender (`prefetch;prerender`). Other parameters (`anonymous-client-ip`) are
  ignored.
- `Sec-Speculation-Tags` (request): a List of Strings (a rule set's tag) and the Token `null`.
- `Speculation-Rules` (response): a List of Strings, the rules documents' URLs.

A Sec-Purpose that is not a valid List (`Prefetch ; Prerender`: nothing may stand between an
item and its ";") is not ignored, unlike other fields (RFC 9651 4.2): it is read leniently, in
any case and spacing, as the edge always read it. The gate fails closed: whatever names a
prefetch is answered only from cache, never forwarded to the origin. Tokens are compared
without case for the same reason (`Prefetch`).

`is_speculative` runs on every request, `refusal_applies` on every speculation: the values
Chromium sends are answered without parsing (http-sf takes 3 to 7 µs a value, the table 0.1),
and tests/unit/test_speculation_headers.py checks that both answers agree.

Pure module: no mitmproxy.
"""

from __future__ import annotations

from collections.abc import Sequence

from prefetch_lab.http import structured

# The tag of our rules documents (rules/speculation_rules.py sets it); Chromium echoes it in
# Sec-Speculation-Tags on the speculations those rules start.
TAG = "prefetch-lab"

# Sec-Purpose values as Chromium sends them → (a prefetch, a prerender). Anything else is parsed.
COMMON_PURPOSES: dict[str, tuple[bool, bool]] = {
    "prefetch": (True, False),
    "prefetch;prerender": (True, True),
    "prefetch;anonymous-client-ip": (True, False),  # through Chromium's private prefetch proxy
    "": (False, False),
}
# Sec-Speculation-Tags when only our rules started the speculation: refused without parsing.
OURS_ALONE = structured.serialize_string(TAG)


def purpose(sec_purpose: str | None) -> tuple[bool, bool]:
    """(the request is a prefetch, it is a prerender) from a `Sec-Purpose` value."""
    if sec_purpose is None:
        return False, False
    known = COMMON_PURPOSES.get(sec_purpose)
    return known if known is not None else parsed_purpose(sec_purpose)


def parsed_purpose(sec_purpose: str) -> tuple[bool, bool]:
    """`purpose` by the full parse: an item that is the Token `prefetch` (any case), with the
    Boolean parameter `prerender` true (`;prerender` alone is true; `;prerender=?0` false)."""
    members = structured.parse_list(sec_purpose)
    if members is None:
        return lenient_purpose(sec_purpose)
    prefetches = [params for value, params in members
                  if structured.is_token(value) and str(value).lower() == "prefetch"]
    return bool(prefetches), any(params.get("prerender") is True for params in prefetches)


def lenient_purpose(sec_purpose: str) -> tuple[bool, bool]:
    """An invalid Sec-Purpose, read item by item in any case and spacing (fail closed)."""
    items = [[part.strip().lower() for part in item.split(";")] for item in sec_purpose.split(",")]
    prefetches = [item[1:] for item in items if item[0] == "prefetch"]
    return bool(prefetches), any("prerender" in params for params in prefetches)


def is_speculative(sec_purpose: str | None, legacy_purpose: str | None = None) -> bool:
    """`Sec-Purpose: prefetch` (or `prefetch;prerender`).

    `legacy_purpose` is the old `Purpose` header (WebKit's and older Chromium's
    `<link rel=prefetch>`, `Purpose: prefetch`); the caller decides whether to pass it.
    """
    return purpose(sec_purpose)[0] or (legacy_purpose is not None and purpose(legacy_purpose)[0])


def is_prerender(sec_purpose: str | None) -> bool:
    """`Sec-Purpose: prefetch;prerender`: a prerender, not a plain prefetch."""
    return purpose(sec_purpose)[1]


def is_prerender_subresource(sec_purpose: str | None, sec_fetch_dest: str | None) -> bool:
    """What a prerendered page loads to render itself. Chromium 156 sends the page's
    `Sec-Purpose: prefetch;prerender` on its subresources too (observed: CSS, scripts, images,
    fetch()), so only the document itself is the speculation; refusing the rest would leave
    the prerendered page without them. A request without Sec-Fetch-Dest counts as the document."""
    return is_prerender(sec_purpose) and (sec_fetch_dest or "document").strip().lower() != "document"


def refusal_applies(sec_speculation_tags: str | None) -> bool:
    """May the gate refuse an uncached speculation? Only when it can only be ours.

    Absent (or empty) header: an older Chromium, `<link rel=prefetch>` or Edgio-style
    params; refuse. Otherwise refuse only when every tag is our String tag. `null` (untagged
    site rules), other tags, and values that are not a valid List mean the site may have
    asked for it: pass through as a normal request.
    """
    if sec_speculation_tags is None or sec_speculation_tags == OURS_ALONE:
        return True
    return parsed_refusal_applies(sec_speculation_tags)


def parsed_refusal_applies(sec_speculation_tags: str) -> bool:
    """`refusal_applies` by the full parse: every item is our String tag (or there is none)."""
    tags = structured.parse_list(sec_speculation_tags.strip(" \t"))
    return tags is not None and all(structured.is_string(value, TAG) for value, _ in tags)


def merge_header(existing: Sequence[str], our_url: str) -> str:
    """`Speculation-Rules` value: the origin's values verbatim and in order, then ours once.

    A value we cannot parse is still kept verbatim and ours still appended: Chromium then
    rejects the whole header, which is exactly what the origin's header alone would get
    (we never drop or rewrite theirs), and a more lenient parser may still use ours.
    Raises ValueError when `our_url` is not printable ASCII (a String cannot hold it).
    """
    kept = [v.strip(" \t") for v in existing if v.strip(" \t")]  # blank lines would leave ", "
    if not any(_lists_url(value, our_url) for value in kept):
        kept.append(structured.serialize_string(our_url))
    return ", ".join(kept)


def _lists_url(value: str, url: str) -> bool:
    members = structured.parse_list(value) or []
    return any(structured.is_string(item, url) for item, _ in members)
