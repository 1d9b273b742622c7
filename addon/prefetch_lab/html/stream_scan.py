"""The byte-level scanning that `StreamInjector` runs over a body that has not all arrived.

inject.py's tokenizer and region scan assume the whole body; over a stream they need to know
which of their answers more bytes could still change. This module holds those questions, as
plain functions over `buf` (the bytes kept) and `base` (their absolute offset in the body):

- is a token already settled (`is_settled`, `is_void_raw_text`), where the settled text ends
  (`frontier`);
- the regions and the real `</body>`/`</html>` end tags in one pass (`regions_and_ends`);
- an element or comment left open at the end of what arrived (`open_region_state`), and the
  scan that resumes after it instead of from its start (`resume_open_region`).

The state machine that calls them per chunk is `stream_inject.StreamInjector`.
"""

from __future__ import annotations

import re

from prefetch_lab.html import inject
from prefetch_lab.html.inject import _COMMENT_END, _END_TAG, _RAW_TEXT, _REGION_TOKEN, _TAG_REST, _TERMINATOR, _Span, _tokens

# The longest token opener with its terminator (`<plaintext>`) fits in this many bytes: a `<`
# closer than that to the end of what arrived may still become a token (see frontier).
TAIL = 16
_NAME = re.compile(rb"[a-zA-Z]+")
# inject.py's region scan (`_WHOLE_REGION`) with one more branch: a `</body` or `</html` end tag.
# One pass finds the regions and, between them, the end tags outside every region (the real
# ones): finditer steps over a region whole, and an end tag holds no `<` where a region could
# start, so the regions found are exactly `_regions`'s.
assert inject._WHOLE_REGION.pattern.startswith(b"<[") and inject._WHOLE_REGION.groups == 1
# The lookahead leaves every other `</` (about half of a page's tags) at one check: 11 % faster.
_REGION_OR_END = re.compile(
    rb"<(?:/(?=[bBhH])(?P<end>body|html)" + _TERMINATOR + rb"|" + inject._WHOLE_REGION.pattern[1:] + rb")",
    re.IGNORECASE,
)
_END_GROUP, _HARD_GROUP = _REGION_OR_END.groupindex["end"], _REGION_OR_END.groupindex["hard"]
_WS = b"\t\n\f\r "

_OPENERS = tuple(
    b"<" + name for name in (
        b"!--", b"?", *_RAW_TEXT, b"head", b"/head", b"html", b"/html", b"body", b"/body", b"meta", b"/meta",
        b"frameset", b"/frameset",
    )
)
# Every prefix of an opener: `opener.startswith(rest)` for some opener, as one set lookup.
_OPENER_PREFIXES = frozenset(opener[:n] for opener in _OPENERS for n in range(1, len(opener) + 1))

# What `open_region_state` saw of a region open at the end of `buf`, in absolute offsets:
# (start, scanned up to, (opener kind, where its content starts)).
OpenRegion = tuple[int, int, tuple[bytes, int]]
# regions_and_ends's answer: the regions, where the scan stopped, the real end tags' starts.
RegionsAndEnds = tuple[list, int, list[int]]


def is_settled(buf: bytes, start: int, end: int, last_quotes: tuple[int, int]) -> bool:
    """Would more bytes leave the token `buf[start:end]` as it is? Only an attribute value opened
    with a quote (`="`) and closed nowhere in `buf` can change: `_TAG_REST` then reads the quote as
    a plain character, and a closing quote arriving later would move the tag's end.
    `last_quotes`: where `"` and `'` last occur in `buf`."""
    for quote, last in zip(b'"\'', last_quotes):
        if last >= end:
            continue  # any quoted value opened in the span closed inside it
        i = buf.rfind(quote, start, end)
        if i < 0:
            continue
        j = i - 1
        while j > start and buf[j] in _WS:
            j -= 1
        if buf[j] == 0x3D:  # `=`
            return False
    return True


def last_quotes(buf: bytes) -> tuple[int, int]:
    return buf.rfind(b'"'), buf.rfind(b"'")


def is_void_raw_text(buf: bytes, start: int, stop: int) -> bool:
    """Is the region `buf[start:stop]` a `<style/>`-like start tag taken as void because no end tag
    follows it? A later end tag would make it a raw-text element: only the end settles it."""
    if buf[stop - 2:stop] != b"/>":
        return False
    name = _NAME.match(buf, start + 1)
    rest = _TAG_REST.match(buf, name.end()) if name else None
    return rest is not None and rest.end() == stop


def frontier(buf: bytes, lo: int) -> int:
    """Where the settled text ends: at the first `<` among the last few bytes that may still grow
    into a token opener (`</bo` may become `</body>`, `<p` may become `<plaintext>`; `</h1>` or `<a`
    will not)."""
    i = buf.find(b"<", max(lo, len(buf) - TAIL))
    while i >= 0:
        if buf[i:].lower() in _OPENER_PREFIXES:
            return i
        i = buf.find(b"<", i + 1)
    return len(buf)


def regions_and_ends(buf: bytes, pos: int) -> RegionsAndEnds:
    """inject._regions(buf, pos), and the starts of the `</body`/`</html` end tags outside them."""
    regions: list = []
    ends: list[int] = []
    while True:
        found = list(_REGION_OR_END.finditer(buf, pos))
        hard = found.pop() if found and found[-1].lastindex == _HARD_GROUP else None
        if found:
            found_ends = [match.start() for match in found if match.lastindex == _END_GROUP]
            if found_ends:
                ends += found_ends
                found = [match for match in found if match.lastindex != _END_GROUP]
            regions += found
        if hard is None:
            return regions, len(buf), ends
        token = next(_tokens(buf, _REGION_TOKEN, hard.start()))
        if token.unclosed:
            return regions, token.start, ends
        regions.append(_Span(token.start, token.end))
        pos = token.end


# An element or comment left open at the end of what arrived is not scanned again from its
# start on every chunk: its `OpenRegion` says what the scan found in it (nothing that could close
# it, up to `scanned`), so the next scan looks only at the bytes after, less what an end could
# straddle. The cases where more state would be needed (an escaped script, an end tag cut
# before its `>`, a start tag not closed yet or not settled) are scanned from the start as before.

def open_region_state(buf: bytes, base: int, start: int) -> OpenRegion | None:
    """What to remember of the region at `start`, which runs to the end of `buf` (`_tokens` found
    it unclosed); None when it must be scanned from its start next time."""
    match = _REGION_TOKEN.match(buf, start)
    if match is None:
        return None
    kind, after, size = match.group().lower(), match.end(), len(buf)
    if kind == b"<!--":
        if size - after < 2:
            return None  # `<!-->`, `<!--->` are still possible
        state = (kind, after)
    elif kind in (b"<!", b"<?"):
        if kind == b"<!" and size - start < 4:
            return None  # `<!-` may still become `<!--`
        state = (b"<!", start + 2)
    else:
        name = kind[1:]
        rest = _TAG_REST.match(buf, after)
        if rest is None:
            return None
        tag_end = rest.end()
        if not is_settled(buf, start, tag_end, (buf.rfind(b'"', tag_end), buf.rfind(b"'", tag_end))):
            return None  # a quoted value not closed yet (`<style title=">x`): the tag may end later
        if name == b"plaintext":
            state = (kind, tag_end)
        elif name == b"script" and buf.find(b"<!--", tag_end) >= 0:
            return None  # the escape states (tested first: such a script mostly starts with `<!--`)
        elif _END_TAG[name].search(buf, tag_end) is not None:
            return None  # an end tag cut before its `>`
        else:
            state = (kind, tag_end)
    return base + start, base + size, state


def resume_open_region(
    buf: bytes, base: int, pos: int, open_region: OpenRegion,
) -> tuple[RegionsAndEnds | None, OpenRegion | None]:
    """`regions_and_ends(buf, pos)` for a scan that starts at the open region `open_region_state`
    saw, from the bytes that arrived since (None when it must be scanned from its start); and the
    region's new state if it is still open."""
    start, scanned, (kind, after) = open_region
    if start != base + pos:
        return None, None
    scanned -= base
    after -= base
    if kind == b"<!--":
        close = _COMMENT_END.search(buf, max(after, scanned - 3))  # `--!>` straddles at most 3
        end = close.end() if close else -1
    elif kind == b"<!":
        end = buf.find(b">", max(after, scanned)) + 1 or -1
    elif kind == b"<plaintext":
        end = -1
    else:
        name = kind[1:]
        # The first end tag after `after` starts here or later: one before would have been
        # whole (with its terminator) in what was scanned.
        lo = max(after, scanned - len(name) - 2)
        found = _END_TAG[name].search(buf, lo)
        if name == b"script" and buf.find(b"<!--", lo, found.start() if found else len(buf)) >= 0:
            return None, None
        if found is None:
            end = -1
        else:
            rest = _TAG_REST.match(buf, found.start() + 2 + len(name))
            if rest is None:
                return None, None
            end = rest.end()
    if end < 0:
        return ([], pos, []), (start, base + len(buf), (kind, base + after))
    regions, stop, ends = regions_and_ends(buf, end)
    return ([_Span(pos, end), *regions], stop, ends), None
