"""inject.py's injection, fed the body in pieces: the page flows on while the tag finds its place.

`StreamInjector.feed(chunk)` returns the bytes that can go to the client now, `finish()` the rest.
It runs inject.py's own tokenizer (`_tokens`) and region scan (`_regions`) over the bytes not yet
settled (what more bytes could still change is stream_scan.py's), and holds back only what could
still be the insertion point:

- `head` placement: the bytes from the earliest fallback position (after `<head>`, `<html>`, the
  prolog) until the first real `</head>` or `<body>`; then from that point until the head's
  `<meta>` tags are all seen (at `<body>`) and the 4 KB charset prescan is complete.
- `body` placement: the bytes from the last real `</body>` (else `</html>`) seen, until a later one
  or the end shows which one is last; while no candidate was seen, only an unfinished comment or
  raw-text element (it may stay open: the tag then goes before it) and the last few bytes, where
  a tag may be cut in two. Real: outside every region and not inside a quoted attribute value,
  which `inject._inside_tag` decides from the last region's end on (the chunks since then are
  kept by reference, `_since_anchor`, and joined only for such a check); an end tag that a quote
  still open may yet swallow is held until it is known.

With `max_hold=None` the result is exactly `inject_script`'s on the whole body. With a limit, once
more than `max_hold` bytes are held the injector decides with what it has seen: the candidate it
holds (a later `</body>` is then missed), or the fallback. Head placement also cannot know of an
install.js the page itself loads after its head: it injects (the whole-body injector would skip,
`already-present`). After the head, an origin's own install.js is recognised in the `<script>`
elements of the region scan (the whole-body check also parses structure tags' attribute values).

A decision's inputs that only the stream can give (the head's `<meta>` tags, for the CSP) go to
`tag_for`, which returns the tag to insert or the reason not to.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable

from prefetch_lab.html import inject
from prefetch_lab.html.inject import (
    _ANY_TAG, _LEADING_WS, _NOT_HTML_PREFIXES, _PRESCAN_BYTES, _RAW_TEXT, _TAG_REST, _TOKEN, _UTF8_BOM,
    INSTALL_MARKER, Placement, _inside_tag, _is_wide_encoding, _prolog_end, _start, _tokens,
)
from prefetch_lab.html.stream_scan import (
    TAIL, OpenRegion, frontier, is_settled, is_void_raw_text, last_quotes, open_region_state, regions_and_ends,
    resume_open_region,
)

DEFAULT_MAX_HOLD = 16 * 1024
# Past this much retained for a scan that cannot finish (a comment or script never closed), the
# injector stops waiting: the page passes on without the tag.
MAX_RETAINED = 4 * 1024 * 1024

TagFor = Callable[[list[bytes]], "bytes | str"]


class StreamInjector:
    def __init__(
        self,
        tag_for: TagFor,
        placement: Placement = "body",
        charset: str | None = None,
        marker: bytes = INSTALL_MARKER,
        max_hold: int | None = DEFAULT_MAX_HOLD,
    ) -> None:
        if placement not in ("head", "body"):
            raise ValueError(f"placement must be 'head' or 'body', got {placement!r}")
        if max_hold is not None and max_hold < _PRESCAN_BYTES:
            raise ValueError(f"max_hold must be at least {_PRESCAN_BYTES} (the charset prescan)")
        self._tag_for, self._placement, self._charset, self._marker = tag_for, placement, charset, marker
        self._max_hold = max_hold
        # Bytes from absolute offset `_base` on: not yet sent, or still needed by a scan.
        self._buf = b""
        self._base = 0
        self._out = 0  # sent up to here
        self._total = 0
        self._prefix = b""  # the first _PRESCAN_BYTES bytes, for the charset checks
        self._tail = b""  # the last bytes seen, for searches across chunk boundaries
        self._content_start: int | None = None  # after a UTF-8 BOM
        self._nonws_seen = False
        self._any_tag = False
        self._marker_seen = False
        # The token scan (`_TOKEN`): head placement, the head's <meta> tags, the page's own install.js.
        self._tok: int | None = 0
        self._tok_stopped_at: int | None = None  # where it stopped (at <body>), regions take over
        self._metas: list[bytes] = []
        self._metas_done = False
        self._install_seen = False
        self._region_installs: list[int] = []
        self._head_decided: tuple[int, str] | None = None
        self._head_start_end: int | None = None
        self._html_start_end: int | None = None
        # The region scan (`_regions`), body placement.
        self._reg: int | None = None
        self._open_at: int | None = None  # a region not (yet) closed, or not settled, starts here
        self._open_region: OpenRegion | None = None  # see stream_scan.open_region_state
        self._body_end: int | None = None  # the last real </body> seen
        self._html_end: int | None = None
        self._released = False  # bytes past what the scans settled went out (hold limit)
        # For `_inside_tag`: a position in the data state (the last region's end), and the chunks
        # from (before) it on, as they came (no copy unless a check needs them).
        self._anchor: int | None = None
        self._since_anchor: deque[bytes] = deque()
        self._since_anchor_at = 0  # absolute offset of its first chunk
        self._frameset = False  # a <frameset> before any <body>: the page is left as it is (inject.py)
        # The outcome.
        self._done = False
        self._insert_at: int | None = None
        self._tag = b""
        self.injected = False
        self.reason: str | None = None
        self.offset: int | None = None

    # ---- public ----------------------------------------------------------------------------

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._done and not self._buf:
            self._total += len(data)
            return data
        self._append(data)
        if not self._done:
            self._advance(eof=False)
        return self._emit()

    def finish(self) -> bytes:
        if not self._done:
            self._advance(eof=True)
        return self._emit()

    # ---- input -----------------------------------------------------------------------------

    def _append(self, data: bytes) -> None:
        start = self._total
        self._total += len(data)
        if start < _PRESCAN_BYTES:
            self._prefix += data[:_PRESCAN_BYTES - start]
        self._buf = self._buf + data if self._buf else data
        if self._done:
            return
        if self._placement == "body":
            self._since_anchor.append(data)
        tail = self._tail
        if not self._any_tag:
            self._any_tag = _ANY_TAG.search(tail + data) is not None
        marker = self._marker
        if marker and not self._marker_seen:
            # In `tail + data`, without copying the chunk: wholly in it, or across its start.
            self._marker_seen = marker in data or marker in tail + data[:len(marker) - 1]
        self._tail = data[-32:] if len(data) >= 32 else (tail + data)[-32:]
        if self._content_start is None and self._total >= len(_UTF8_BOM):
            self._content_start = len(_UTF8_BOM) if self._prefix.startswith(_UTF8_BOM) else 0
        if not self._nonws_seen:
            self._nonws_seen = _LEADING_WS.match(data).end() < len(data)

    # ---- scanning --------------------------------------------------------------------------

    def _advance(self, eof: bool) -> None:
        if self._content_start is None:
            if not eof:
                return
            self._content_start = len(_UTF8_BOM) if self._prefix.startswith(_UTF8_BOM) else 0
        if self._tok is not None:
            self._scan_tokens(eof)
        if self._placement == "body":
            if self._reg is None:
                self._reg = self._content_start
            self._scan_regions(eof)
            self._decide_body(eof)
        else:
            self._decide_head(eof)
        if not self._done and self._total - self._base > MAX_RETAINED:
            self._stop_token_scan()  # auxiliary for body placement: stop keeping bytes for it
            self._trim()
            if self._total - self._base > MAX_RETAINED:
                self._skip("passed-in-stream")

    def _scan_tokens(self, eof: bool) -> None:
        buf, base = self._buf, self._base
        pos = self._tok - base
        quotes = last_quotes(buf)
        for token in _tokens(buf, _TOKEN, pos):
            if not eof and (
                token.unclosed
                or (token.kind[1] != 0x21 and not is_settled(buf, token.start, token.end, quotes))
                or (token.end == token.tag_end and token.kind[1:] in _RAW_TEXT)  # `<style/>`: see is_void_raw_text
            ):
                self._tok = base + token.start  # no token before it
                return
            self._on_token(token, buf, base)
            if token.unclosed or self._tok is None:  # the scans of the whole-body injector stop here
                self._stop_token_scan(base + token.end)
                return
            self._tok = base + token.end
        settled = len(buf) if eof else frontier(buf, self._tok - base)
        self._tok = max(self._tok, base + settled)
        if eof:
            self._stop_token_scan()

    def _on_token(self, token, buf: bytes, base: int) -> None:
        kind = token.kind
        if kind == b"<script":
            if self._marker_seen and inject._is_install_tag(buf, token.start, token.tag_end, self._marker):
                self._install_seen = True
        elif token.unclosed:
            return
        elif kind == b"<meta":
            self._metas.append(buf[token.start:token.end])
        elif kind == b"<frameset":
            self._frameset = True  # the token scan stops at <body>: only one before it counts
        elif kind == b"<body":
            if self._head_decided is None:
                self._head_decided = (base + token.start, "before-body")
            self._tok = None  # the head is over: the <meta> tags are all known
        elif kind == b"</head":
            if self._head_decided is None:
                self._head_decided = (base + token.start, "before-head-end")
        elif kind == b"<head":
            if self._head_start_end is None and self._head_decided is None:
                self._head_start_end = base + token.end
        elif kind == b"<html":
            if self._html_start_end is None and self._head_decided is None:
                self._html_start_end = base + token.end

    def _stop_token_scan(self, at: int | None = None) -> None:
        if self._tok is not None or self._tok_stopped_at is None:
            self._tok_stopped_at = at if at is not None else self._tok if self._tok is not None else self._total
        self._tok = None
        self._metas_done = True

    def _scan_regions(self, eof: bool) -> None:
        buf, base = self._buf, self._base
        pos = self._reg - base
        if self._open_region is not None:
            found, self._open_region = resume_open_region(buf, base, pos, self._open_region)
        else:
            found = None
        regions, end, ends = found if found is not None else regions_and_ends(buf, pos)
        if regions:
            quotes = double, single = buf.rfind(b'"'), buf.rfind(b"'")
            # A region ending before the last of each quote (absent: none to close) closed its values.
            size = len(buf)
            surely_settled = min(double if double >= 0 else size, single if single >= 0 else size)
        settled = pos
        open_at = None
        marker_seen = self._marker_seen
        for region in regions:
            start, stop = region.start(), region.end()
            if not eof and buf[start + 1] != 0x21 and (  # `<!`: comments settle
                (stop > surely_settled and not is_settled(buf, start, stop, quotes))
                or (buf[stop - 2] == 0x2F and is_void_raw_text(buf, start, stop))
            ):
                open_at = start
                break
            if marker_seen and buf[start + 1:start + 7].lower() == b"script":
                rest = _TAG_REST.match(buf, start + 7)
                if rest and inject._is_install_tag(buf, start, rest.end(), self._marker):
                    self._region_installs.append(base + start)
            settled = stop
        else:
            if end < len(buf):  # a region still open (at the end: the document ends before it)
                open_at = end
                if not eof and self._open_region is None:  # else resume_open_region updated it
                    self._open_region = open_region_state(buf, base, end)
            else:
                settled = len(buf) if eof else frontier(buf, settled)
        hi = settled if open_at is None else open_at
        if self._anchor is None:
            self._anchor = base + pos
        if ends:
            unsure = self._end_candidates(buf, base, hi, ends, regions, eof)
            if unsure is not None:  # scan again from that end tag when more has arrived
                hi, open_at = unsure, None
        for region in reversed(regions):  # the last settled region's end is in the data state
            if region.end() <= hi:
                self._anchor = max(self._anchor, base + region.end())
                break
        self._drop_before_anchor()
        self._open_at = None if open_at is None else base + open_at
        self._reg = base + hi

    def _drop_before_anchor(self) -> None:
        chunks, at, anchor = self._since_anchor, self._since_anchor_at, self._anchor
        while chunks and at + len(chunks[0]) <= anchor:
            at += len(chunks.popleft())
        if self._total - at > MAX_RETAINED:  # a long stretch without a region: check from here on
            chunks.clear()
            at = self._total
        self._since_anchor_at = at

    def _is_inside_tag(self, buf: bytes, base: int, pos: int, regions: list, eof: bool) -> bool | None:
        """inject._inside_tag for the end tag at `buf[pos]`, anchored at the last region before it."""
        index = bisect.bisect_right(regions, pos, key=_start) - 1
        anchor = base + regions[index].end() if index >= 0 else self._anchor
        if anchor >= base:
            return _inside_tag(buf, anchor - base, pos, eof)
        at = self._since_anchor_at
        if base + pos < at:
            return False  # past MAX_RETAINED without a region: the bytes to parse are gone
        text = b"".join(self._since_anchor)  # from `at` to the end of what arrived
        return _inside_tag(text, max(anchor, at) - at, base + pos - at, eof)

    def _end_candidates(self, buf: bytes, base: int, hi: int, ends: list[int], regions: list, eof: bool) -> int | None:
        """The last real `</body>` and `</html>` in settled text (before `hi`), from the end tags
        outside every region (`ends`, in order). Returns the first end tag that more bytes may
        show to be inside a tag (the text is settled only up to it), if any."""
        body = html = unsure = None
        for pos in ends:
            if pos >= hi:
                break
            inside = self._is_inside_tag(buf, base, pos, regions, eof)
            if inside is None:
                unsure = pos
                break
            if inside:
                continue
            if buf[pos + 2] | 0x20 == 0x62:  # `b`
                body = pos
            else:
                html = pos
        if body is not None:
            self._body_end = base + body
        if html is not None and (body is None or html > body):
            self._html_end = base + html
        return unsure

    # ---- deciding --------------------------------------------------------------------------

    def _decide_body(self, eof: bool) -> None:
        candidate = self._body_end if self._body_end is not None else self._html_end
        if eof:
            if candidate is not None:
                self._commit(candidate, "before-body-end" if self._body_end is not None else "before-html-end")
            else:
                self._commit(self._open_at if self._open_at is not None else self._total, "document-end")
        elif candidate is not None and self._over_limit(candidate):
            self._commit(candidate, "before-body-end" if self._body_end is not None else "before-html-end")
        elif candidate is None and self._over_limit(self._out):
            self._released = True  # an open region outgrew the hold: let it go on unscanned

    def _decide_head(self, eof: bool) -> None:
        if self._head_decided is not None:
            position, reason = self._head_decided
            prescanned = self._total >= _PRESCAN_BYTES
            if eof or (self._metas_done and prescanned) or self._over_limit(position):
                self._commit(position, reason)
            return
        fallback, reason = self._head_fallback()
        if eof or self._over_limit(fallback):
            self._commit(fallback, reason)

    def _head_fallback(self) -> tuple[int, str]:
        if self._head_start_end is not None:
            return self._head_start_end, "after-head-start"
        if self._html_start_end is not None:
            return self._html_start_end, "after-html-start"
        start = self._content_start
        # Nothing past the content start went out yet (the hold starts there).
        prolog_end = self._base + _prolog_end(self._buf, start - self._base)
        if prolog_end > start:
            return prolog_end, "after-prolog"
        return start, "document-start"

    def _over_limit(self, held_from: int) -> bool:
        return self._max_hold is not None and self._total - held_from > self._max_hold

    def _commit(self, position: int, reason: str) -> None:
        if position < self._out:
            self._skip("passed-in-stream")
            return
        decision = self._tag_for(self._metas)
        if isinstance(decision, str):
            self._skip(decision)
            return
        skip = self._skip_reason()
        if skip:
            self._skip(skip)
            return
        self._done = True
        self._insert_at, self._tag = position, decision
        self.injected, self.reason, self.offset = True, reason, position

    def _skip_reason(self) -> str | None:
        """inject_script's skips, in its order, from what the stream showed."""
        if not self._nonws_seen:
            return "empty"
        if _is_wide_encoding(self._prefix, self._charset):
            return "unsupported-charset"
        # The first bytes after the BOM and whitespace (looked for in the prefix: a page whose
        # first 4 KB are blank is judged by its tags alone).
        first = _LEADING_WS.match(self._prefix, self._content_start).end()
        if self._prefix.startswith(_NOT_HTML_PREFIXES, first) or not self._any_tag:
            return "not-html"
        if self._marker_seen:
            stopped = self._tok_stopped_at
            if self._install_seen or any(stopped is not None and start >= stopped for start in self._region_installs):
                return "already-present"
        if self._frameset:
            return "frameset"
        return None

    def _skip(self, reason: str) -> None:
        self._done = True
        self.injected, self.reason, self.offset = False, reason, None

    # ---- output ----------------------------------------------------------------------------

    def _limit(self) -> int:
        """Up to where the bytes can go out now."""
        if self._done:
            return self._total
        if self._placement == "head":
            if self._head_decided is not None:
                return self._head_decided[0]
            return self._head_fallback()[0] if self._content_start is not None else 0
        candidate = self._body_end if self._body_end is not None else self._html_end
        if candidate is not None:
            return max(self._out, candidate)
        if self._released:
            return max(self._out, self._total - TAIL)
        if self._reg is None:
            return 0
        return self._open_at if self._open_at is not None else self._reg

    def _emit(self) -> bytes:
        limit = self._limit()
        out = b""
        if limit > self._out:
            lo, hi = self._out - self._base, limit - self._base
            insert = self._insert_at
            if insert is not None and self._out <= insert <= limit:
                cut = insert - self._base
                out = b"".join((self._buf[lo:cut], self._tag, self._buf[cut:hi]))
                self._insert_at = None
            else:
                out = self._buf[lo:hi]
            self._out = limit
        elif self._insert_at is not None and self._insert_at == limit == self._out:
            out, self._insert_at = self._tag, None
        self._trim()
        return out

    def _trim(self) -> None:
        if self._done and self._since_anchor:
            self._since_anchor.clear()
        keep = self._out
        if not self._done:
            if self._tok is not None:
                keep = min(keep, self._tok)
            if self._reg is not None:
                keep = min(keep, self._reg)
            if self._placement == "head" and self._head_decided is None and self._content_start is not None:
                keep = min(keep, self._content_start)  # the prolog fallback looks from there
        if keep > self._base:
            self._buf = self._buf[keep - self._base:]
            self._base = keep
