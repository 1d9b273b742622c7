"""Byte-level injection of the install.js <script> tag into an HTML document.

Works on the decoded body bytes and inserts an ASCII-only tag, so every ASCII-compatible charset
(UTF-8, windows-1252, Shift_JIS, EUC-*, GBK...) stays intact and all other bytes are unchanged.

Positions are found with a small tokenizer that knows just enough of the HTML parser to tell a
"real" tag from text that only looks like one: comments (`<!-- -->`, `<!...>`, `<?...>`) and the
raw-text / RCDATA elements (script, style, textarea, title, noscript, xmp, iframe, noembed,
noframes, plaintext), including the script-data escape states (`<!-- <script> ... </script> -->`
inside a script). Body placement finds the same regions with one regex (`_WHOLE_REGION`) that
hands the rare hard cases back to the tokenizer.

Ordinary tags are not parsed on the way; only a `</body>` or `</html>` about to be chosen is
checked (`_inside_tag`): one inside a quoted attribute value (`<div title="</body>">`) is text,
not the end of the body, and the search goes on before it. A frameset document (a `<frameset>`
before any `<body>`) is left byte-identical (`frameset`): the parser drops a script after the
`<frameset>` (where body placement puts it, and head placement when the head has no end), and
the frames are documents of their own that get the tag; a frameset page has no links to
prefetch from. Placing it in the head instead would make the streaming injector hold the page
from the head's end until it knows no frameset follows, for a rare kind of page.

Known approximations: head placement does not parse ordinary tags (`<div title="</head>">` is
taken as a real `</head>`), nor does the region scan (`<div title="<!--">` opens a comment); a
`</body>` inside a tag but outside a quoted value (`<div </body>>`, an unquoted value) is taken
as real; foreign content (SVG/MathML, where `<style>` is not raw text) is not tracked, except
that a self-closing `<style/>`-like tag with no end tag is treated as empty.
"""

from __future__ import annotations

import bisect
import html
import math
import operator
import re
from dataclasses import dataclass
from typing import Iterator, Literal, NamedTuple

INSTALL_MARKER = b"/__edgio__/prefetch/"

Placement = Literal["head", "body"]

_TERMINATOR = rb"(?=[\t\n\f\r />]|\Z)"
_RAW_TEXT = (
    b"script", b"style", b"textarea", b"title", b"noscript",
    b"xmp", b"iframe", b"noembed", b"noframes", b"plaintext",
)
# What can hide markup from the parser: comments, bogus comments, raw-text start tags. Written
# as a trie without groups: the regex engine's cost per `<` dominates on big pages.
_REGION_OPENERS = (
    rb"!--|[!?]"
    rb"|(?:s(?:cript|tyle)|t(?:extarea|itle)|no(?:script|embed|frames)|xmp|iframe|plaintext)" + _TERMINATOR
)
_STRUCTURE_TAGS = rb"|/?(?:h(?:ead|tml)|body|meta|frameset)" + _TERMINATOR
# The leading lookahead lets the regex engine reject most `<` (`<div`, `<a`, `</p`...) at once.
_TOKEN = re.compile(
    rb"<(?=[!?/stnxiphbmfSTNXIPHBMF])(?:" + _REGION_OPENERS + _STRUCTURE_TAGS + rb")", re.IGNORECASE
)
_REGION_TOKEN = re.compile(rb"<(?=[!?stnxipSTNXIP])(?:" + _REGION_OPENERS + rb")", re.IGNORECASE)
_BODY_END = re.compile(rb"</body" + _TERMINATOR, re.IGNORECASE)
_HTML_END = re.compile(rb"</html" + _TERMINATOR, re.IGNORECASE)
# Rest of a tag up to its `>`; quoted attribute values may contain `>`. Possessive, so a tag
# without `>` fails in linear time instead of backtracking.
_TAG_REST = re.compile(rb"""(?:[^>"'=]++|=[\t\n\f\r ]*+"[^"]*+"|=[\t\n\f\r ]*+'[^']*+'|[="'])*+>""")
_COMMENT_END = re.compile(rb"--!?>")
_TAG_START = re.compile(rb"</?[a-zA-Z]")
# `_TAG_REST` where a value opened with a quote must be closed (no reading the quote as a plain
# character): over a body not all arrived, a tag it does not match may still grow.
_TAG_REST_CLOSED = re.compile(
    rb"""(?:[^>"'=]++|=[\t\n\f\r ]*+"[^"]*+"|=[\t\n\f\r ]*+'[^']*+'|=(?![\t\n\f\r ]*+["'])|["'])*+>"""
)
# The first `<frameset` or `<body`: a frameset counts only before any body, so the search stops at
# a page's `<body>`, near its start, instead of reading the whole page for a `<frameset` it lacks.
_FRAMESET_OR_BODY = re.compile(rb"<(?:[fF][rR][aA][mM][eE][sS][eE][tT]|[bB][oO][dD][yY])" + _TERMINATOR)
_WS = b"\t\n\f\r "
# Body placement's scan: one match per whole comment or raw-text element, so that Python runs per
# region, not per token step. Each branch does what `_tokens` does, possessively (one way to match
# or none); a region no branch can finish (unclosed, `<!--` inside a script, `<plaintext>`,
# `<style/>` without end tag...) falls to `hard`, which swallows the rest of the text: the scan
# stops there and `_tokens` takes that region over.
_WHOLE_REGION = re.compile(
    # Consuming the letter after `<` rejects most `<` faster than a lookahead; the lookbehind then
    # checks the whole opener from that letter (a lookahead inside it), as _REGION_TOKEN does.
    rb"<[!?stnxipSTNXIP](?<=(?=" + _REGION_OPENERS + rb")[!?stnxipSTNXIP])(?:"
    rb"(?<=!)--(?:>|->|[^-]*+(?:-(?!-!?>)[^-]*+)*+--!?>)"
    + b"".join(
        # `>|`: a tag without attributes ends where _TAG_REST would end it, without its loop.
        rb"|(?<=" + name[:1] + rb")" + name[1:] + _TERMINATOR + rb"(?:>|" + _TAG_REST.pattern + rb")"
        + rb"(?:[^<]++|<(?!/" + name + _TERMINATOR + (rb"|!--" if name == b"script" else b"") + rb"))*+"
        + rb"</" + name + _TERMINATOR + rb"(?:>|" + _TAG_REST.pattern + rb")"
        for name in _RAW_TEXT if name != b"plaintext"  # one branch each: faster than a backreference
    )
    + rb"|(?<=[!?])(?!(?<=!)--)[^>]*+>"  # bogus comment
    rb"|(?P<hard>)(?s:.*)"
    rb")",
    re.IGNORECASE,
)
_END_TAG = {name: re.compile(rb"</" + name + _TERMINATOR, re.IGNORECASE) for name in _RAW_TEXT}
_SCRIPT_ESCAPED = re.compile(rb"-->|<(/?)script" + _TERMINATOR, re.IGNORECASE)
_SRC_ATTR = re.compile(
    rb"""[\t\n\f\r /"']src[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]*))""",
    re.IGNORECASE,
)
_ANY_TAG = re.compile(rb"<[a-zA-Z!/?]")
_LEADING_WS = re.compile(rb"[\t\n\f\r ]*")
_TAIL_WINDOW = 256  # the end tags are usually in the last few hundred bytes

_UTF8_BOM = b"\xef\xbb\xbf"
# UTF-32LE's BOM starts with UTF-16LE's, so one prefix test covers both.
_WIDE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# WHATWG labels of UTF-16LE/BE, plus UTF-32 (not a web encoding, but never ASCII-compatible).
_WIDE_CHARSET = re.compile(
    rb"(?:utf-?(?:16|32)(?:le|be)?|ucs-?[24]|unicode(?:fffe|feff)?|csunicode|iso-10646-ucs-2)(?![a-z0-9-])",
    re.IGNORECASE,
)
_META_WIDE_CHARSET = re.compile(
    rb"<meta[\t\n\f\r /][^>]*?charset[\t\n\f\r ]*=[\t\n\f\r ]*[\"']?[\t\n\f\r ]*" + _WIDE_CHARSET.pattern,
    re.IGNORECASE,
)
_PRESCAN_BYTES = 4096
# Bodies that are plainly something else even though they were labelled text/html.
_NOT_HTML_PREFIXES = (b"{", b"[", b"%PDF-", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"PK\x03\x04", b"\x1f\x8b")


@dataclass(frozen=True)
class InjectResult:
    body: bytes | None     # None when skipped
    reason: str            # where it went ("before-head-end"...) or why not ("already-present"...)
    offset: int | None     # insertion offset in the original body


class _Token(NamedTuple):  # a tuple: cheap to create, there are thousands per big page
    kind: bytes            # b"<body", b"</head", b"<script", b"<!--", b"<!" (bogus comment)...
    start: int
    end: int               # end of the token's whole span (a raw-text element up to its end tag)
    tag_end: int           # end of the start tag itself (== end for tags without content)
    unclosed: bool = False  # the span runs to the end of the body (comment/tag/element never closed)


def build_script_tag(
    src: str,
    *,
    include_cache_misses: bool,
    force_prefetch_ratio: float | None,
    nonce: str | None,
    service_worker: bool = True,
) -> bytes:
    """`<script src=... defer ...></script>` as ASCII bytes, attribute values HTML-escaped.

    service_worker=False (the page's CSP forbids our worker) tells install.js to use link
    prefetches from the start instead of a registration the browser would log as a violation."""
    attrs = [f'src="{_attr(src)}"', "defer"]
    if not service_worker:
        attrs.append('data-service-worker="false"')
    if include_cache_misses:
        # install.js turns this on for any non-empty value (even "false"), so omit it otherwise.
        attrs.append('data-include-cache-misses="true"')
    if force_prefetch_ratio is not None:
        ratio = float(force_prefetch_ratio)
        if not (math.isfinite(ratio) and 0.0 <= ratio <= 1.0):
            raise ValueError(f"force_prefetch_ratio must be between 0 and 1, got {force_prefetch_ratio!r}")
        attrs.append(f'data-force-prefetch-ratio="{ratio!r}"')
    if nonce is not None:
        attrs.append(f'nonce="{_attr(nonce)}"')
    return f"<script {' '.join(attrs)}></script>".encode("ascii")


def _attr(value: str) -> str:
    return html.escape(value, quote=True).encode("ascii", "xmlcharrefreplace").decode("ascii")


def inject_script(
    body: bytes,
    tag: bytes,
    placement: Placement = "head",
    marker: bytes = INSTALL_MARKER,
    charset: str | None = None,
) -> InjectResult:
    """Insert `tag` once into `body`; `charset` is the Content-Type header's charset, if any.

    Skip reasons: `empty`, `unsupported-charset`, `not-html`, `already-present`, `frameset`.
    A body without any tag-like `<x` is `not-html`: it may be text/plain mislabelled, or a
    fragment fetched by script, and injecting there would corrupt data rather than help.
    """
    if placement not in ("head", "body"):
        raise ValueError(f"placement must be 'head' or 'body', got {placement!r}")
    if _LEADING_WS.match(body).end() == len(body):
        return InjectResult(None, "empty", None)
    if _is_wide_encoding(body, charset):
        return InjectResult(None, "unsupported-charset", None)
    content_start = len(_UTF8_BOM) if body.startswith(_UTF8_BOM) else 0
    first = _LEADING_WS.match(body, content_start).end()
    if body.startswith(_NOT_HTML_PREFIXES, first) or not _ANY_TAG.search(body):
        return InjectResult(None, "not-html", None)
    if marker and marker in body and has_install_script(body, marker):
        return InjectResult(None, "already-present", None)
    # None: no `<frameset` anywhere. A first `<body` may sit in a comment before a real frameset,
    # so any match takes the tokenizer's answer (which stops at the first real `<body`).
    if _FRAMESET_OR_BODY.search(body, content_start) and is_frameset_document(body, content_start):
        return InjectResult(None, "frameset", None)
    if placement == "head":
        offset, reason = _head_position(body, content_start)
    else:
        offset, reason = _body_position(body, content_start)
    view = memoryview(body)  # join copies once; slicing bytes would copy each half again
    return InjectResult(b"".join((view[:offset], tag, view[offset:])), reason, offset)


def has_install_script(body: bytes, marker: bytes = INSTALL_MARKER) -> bool:
    """Does a real `<script>` start tag have a src containing `marker` (any install.js version)?"""
    if marker not in body:
        return False
    return any(
        token.kind == b"<script" and _is_install_tag(body, token.start, token.tag_end, marker)
        for token in _tokens(body, _TOKEN)
    )


def _is_install_tag(text: bytes, start: int, tag_end: int, marker: bytes = INSTALL_MARKER) -> bool:
    """Is the `<script ...>` start tag `text[start:tag_end]`'s src one containing `marker`?"""
    if marker not in text[start:tag_end]:
        return False
    for match in _SRC_ATTR.finditer(text, start + 7, tag_end):
        value = match.group(1) or match.group(2) or match.group(3) or b""
        return marker in value  # only the first src attribute counts, as in the parser
    return False


def head_meta_tags(body: bytes) -> list[bytes]:
    """The real `<meta ...>` start tags before `<body` (those the parser puts in the head)."""
    metas = []
    for token in _tokens(body, _TOKEN):
        if token.kind == b"<body" or token.unclosed:
            break
        if token.kind == b"<meta":
            metas.append(body[token.start:token.end])
    return metas


def is_frameset_document(body: bytes, pos: int = 0) -> bool:
    """Is there a real `<frameset>` before any `<body>` (a `<body>` makes the parser ignore a later
    frameset; so does body text, which is not looked for: such a page is skipped needlessly)?"""
    for token in _tokens(body, _TOKEN, pos):
        if token.unclosed or token.kind == b"<body":
            return False
        if token.kind == b"<frameset":
            return True
    return False


def _inside_tag(text: bytes, anchor: int, pos: int, complete: bool = True) -> bool | None:
    """Is `pos` inside a quoted attribute value of an ordinary tag? `anchor` is before it, in the
    data state (after a region, or the content start), with no comment or raw-text region between.

    Inside a value quoted with `"`, the last `"` before `pos` is the one that opened it, after `=`
    (and so for `'`): when neither last quote is such an opener, which is nearly always, the
    answer is no without parsing. Otherwise the tags from `anchor` on are walked, each to its end
    as `_TAG_REST` finds it in the whole text (cut at `pos`, a value closed after it would look
    unclosed). `complete=False` (more text may follow): None when more could change the answer."""
    for quote in (0x22, 0x27):
        i = text.rfind(quote, anchor, pos)
        if i < 0:
            continue
        i -= 1
        while i >= anchor and text[i] in _WS:
            i -= 1
        if i >= anchor and text[i] == 0x3D:  # `=`
            break
    else:
        return False
    at = anchor
    while (tag := _TAG_START.search(text, at, pos)) is not None:
        rest = _TAG_REST.match(text, tag.end())
        if rest is None or rest.end() > pos:
            return True  # more text can only take a tag further
        if not complete and _TAG_REST_CLOSED.match(text, tag.end()) is None:
            return None  # a quote read as plain text, which a later quote may close
        at = rest.end()
    return False


def _is_wide_encoding(body: bytes, charset: str | None) -> bool:
    if body.startswith(_UTF8_BOM):
        return False  # a BOM overrides both the header and <meta>
    if body.startswith(_WIDE_BOMS):
        return True
    if charset and _WIDE_CHARSET.fullmatch(charset.strip().strip("\"'").encode("ascii", "replace")):
        return True
    head = body[:_PRESCAN_BYTES]
    if (not head or b"\x00" in head) and head.count(0) * 4 >= len(head):  # `in` is a fast memchr
        return True  # NUL-interleaved text: UTF-16/32 without a BOM
    # Browsers actually read a <meta charset=utf-16> as UTF-8; skipping is the cautious choice.
    return _META_WIDE_CHARSET.search(head) is not None


def _head_position(body: bytes, content_start: int) -> tuple[int, str]:
    head_start_end = html_start_end = None
    for token in _tokens(body, _TOKEN, content_start):
        if token.unclosed:
            break
        if token.kind == b"</head":
            return token.start, "before-head-end"
        if token.kind == b"<body":
            return token.start, "before-body"
        if token.kind == b"<head" and head_start_end is None:
            head_start_end = token.end
        elif token.kind == b"<html" and html_start_end is None:
            html_start_end = token.end
    if head_start_end is not None:
        return head_start_end, "after-head-start"
    if html_start_end is not None:
        return html_start_end, "after-html-start"
    prolog_end = _prolog_end(body, content_start)
    if prolog_end > content_start:
        return prolog_end, "after-prolog"
    return content_start, "document-start"


def _body_position(body: bytes, content_start: int) -> tuple[int, str]:
    regions, end = _regions(body, content_start)
    for end_tag, reason in ((_BODY_END, "before-body-end"), (_HTML_END, "before-html-end")):
        # The last end tag outside every region, searched back from `end` window by window
        # (inline: a generator would cost more than the search itself on a 20 KB page).
        hi, window = end, _TAIL_WINDOW
        while hi > content_start:
            lo = max(content_start, hi - window)
            # endpos leaves room for the end tag's terminator, so `\Z` cannot fire early.
            for match in reversed(list(end_tag.finditer(body, lo, hi + 8))):
                pos = match.start()
                if pos >= hi:
                    continue
                index = bisect.bisect_right(regions, pos, key=_start) - 1
                if index < 0 or pos >= regions[index].end():  # not inside a comment/raw-text region
                    if not _inside_tag(body, regions[index].end() if index >= 0 else content_start, pos):
                        return pos, reason
            hi, window = lo, window * 4
    return end, "document-end"


class _Span(NamedTuple):
    """A region found by `_tokens`, shaped like the `re.Match` of the ones `_WHOLE_REGION` finds."""
    begin: int
    finish: int

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.finish


_start = operator.methodcaller("start")


def _regions(body: bytes, pos: int) -> tuple[list[re.Match[bytes] | _Span], int]:
    """The comment/raw-text regions from `pos` on, exactly those of `_tokens(body, _REGION_TOKEN,
    pos)`; and where the body ends for placement: the start of a region left open at the end
    (appending inside it would be inert), else its size.
    """
    regions: list[re.Match[bytes] | _Span] = []
    while True:
        found = list(_WHOLE_REGION.finditer(body, pos))
        hard = found.pop() if found and found[-1].lastindex else None  # `hard` is the only group
        regions += found
        if hard is None:
            return regions, len(body)
        token = next(_tokens(body, _REGION_TOKEN, hard.start()))
        if token.unclosed:
            return regions, token.start
        regions.append(_Span(token.start, token.end))
        pos = token.end


def _prolog_end(body: bytes, pos: int) -> int:
    """End of the leading doctype / comments / processing instructions (`pos` if none)."""
    prolog_end = pos
    for token in _tokens(body, _TOKEN, pos):
        adjacent = _LEADING_WS.match(body, prolog_end).end() == token.start
        if token.unclosed or token.kind not in (b"<!--", b"<!") or not adjacent:
            break
        prolog_end = token.end
    return prolog_end


def _comment_end(text: bytes, after_opener: int) -> int:
    """End of a `<!--` comment (after its `-->`), or -1 when it runs to the end of the text."""
    if text.startswith(b">", after_opener):
        return after_opener + 1   # `<!-->`
    if text.startswith(b"->", after_opener):
        return after_opener + 2   # `<!--->`
    close = _COMMENT_END.search(text, after_opener)
    return close.end() if close else -1


def _tokens(text: bytes, token_re: re.Pattern[bytes], pos: int = 0) -> Iterator[_Token]:
    """Tokens found by `token_re` outside comments and raw text, in document order.

    Comments and raw-text elements come out as one token spanning to their end; a token with
    `unclosed` (it runs to the end of `text`) is the last one.
    """
    size = len(text)
    while match := token_re.search(text, pos):
        start = match.start()
        kind = match.group().lower()
        if kind == b"<!--":
            end = _comment_end(text, match.end())
        elif kind in (b"<!", b"<?"):
            kind = b"<!"  # bogus comment, up to the next `>`
            end = text.find(b">", start + 2) + 1 or -1
        else:
            rest = _TAG_REST.match(text, match.end())
            end = rest.end() if rest else -1
        if end < 0:
            yield _Token(kind, start, size, size, unclosed=True)
            return
        name = kind[1:]
        if name not in _RAW_TEXT:
            yield _Token(kind, start, end, end)
            pos = end
            continue
        element_end = _raw_text_end(text, name, end)
        if element_end is None:
            if text[end - 2:end - 1] == b"/":
                # `<style/>` never closed: almost surely SVG/MathML, where it is a void element.
                yield _Token(kind, start, end, end)
                pos = end
                continue
            yield _Token(kind, start, size, end, unclosed=True)
            return
        yield _Token(kind, start, element_end, end)
        pos = element_end


def _raw_text_end(text: bytes, name: bytes, content_start: int) -> int | None:
    """End (after `>`) of the end tag closing a raw-text element, or None if there is none."""
    if name == b"plaintext":
        return None  # nothing ever ends <plaintext>
    if name == b"script":
        end_tag_start = _script_end_tag(text, content_start)
    else:
        found = _END_TAG[name].search(text, content_start)
        end_tag_start = found.start() if found else None
    if end_tag_start is None:
        return None
    rest = _TAG_REST.match(text, end_tag_start + 2 + len(name))
    return rest.end() if rest else None


def _script_end_tag(text: bytes, pos: int) -> int | None:
    """Start of the `</script` ending a script, following the script-data escape states."""
    end_tag = _END_TAG[b"script"]
    while True:
        found = end_tag.search(text, pos)
        limit = found.start() if found else len(text)
        escape = text.find(b"<!--", pos, limit)
        if escape < 0:
            return found.start() if found else None
        # Escaped state: `-->` returns to script data; `</script` ends the element; `<script`
        # enters the double-escaped state, where `</script` only goes back to escaped.
        pos = escape + 2  # so that `<!-->` closes the escape at once
        double_escaped = False
        while True:
            step = _SCRIPT_ESCAPED.search(text, pos)
            if step is None:
                return None
            pos = step.end()
            if step.group() == b"-->":
                break
            if step.group(1):  # `</script`
                if not double_escaped:
                    return step.start()
                double_escaped = False
            else:
                double_escaped = True
