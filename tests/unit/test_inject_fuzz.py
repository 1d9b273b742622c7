"""Fuzzing the injectors with html5lib as the oracle (issue 22): generated pages made of tag soup
(unclosed comments and scripts, raw-text elements holding `</body>`, `<plaintext>`, BOMs,
templates, tables, foreign content, quoted `>` in attributes), through the whole-body injector
and the streaming one at random chunk sizes. Either the page comes back byte-identical (the
injector chose not to inject) or parsing it gives the original page's tree plus exactly our one
script element, wherever that element went. A fast seeded run here; `-m slow` runs many more.

Also generated: `</body>` and `</html>` inside quoted attribute values of ordinary start and end
tags (" and ', with `>` and the other quote inside), which must not be taken for the end of the
body, and frameset documents, which come back byte-identical with body placement.
Not generated (documented approximations, inject.py): comment or raw-text openers inside
attribute values, `</body>` inside a tag outside a quoted value, an ordinary tag left open at
the end of the page.
"""

from __future__ import annotations

import random

import html5lib
import pytest

from prefetch_lab.html.inject import build_script_tag, inject_script
from prefetch_lab.html.stream_inject import StreamInjector

SRC = "/__edgio__/prefetch/install.js"
TAG = build_script_tag(SRC, include_cache_misses=False, force_prefetch_ratio=None, nonce=None, service_worker=True)
FRAGMENTS = [
    b"<!doctype html>", b"<html>", b"<html lang=en>", b"<head>", b"</head>", b"<body>", b"<body class='a>b'>",
    b"</body>", b"</html>", b"<title>t</body></title>", b"<meta charset=utf-8>", b"<style>p{}</body></style>",
    b"<script>var s = '</body>';</script>", b"<script>if (a<b) {}", b"<!-- </body> -->", b"<!-- unclosed",
    b"<textarea></body></textarea>", b"<xmp></body></xmp>", b"<noscript><p>n</p></noscript>", b"<plaintext>",
    b"<p>text", b"hello", b"  \n", b"<table><tr><td>cell", b"</table>", b"<template><p>t</template>",
    b"<svg><title></body></title></svg>", b"<math><mi>x</mi></math>", b"<iframe></body></iframe>",
    b"<noembed></body></noembed>", b"<div data-x=\"a>b\">", b"</div>", b"<![CDATA[ x ]]>", b"<br/>",
    b"<select><option>o", b"</select>", b"&amp;&lt;", b"<a href=/x>a</a>", b"<? pi ?>",
    b"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0//EN\">", b"<head><script src=/app.js></script>",
    b"</body></html><!-- after -->", b"<BODY>", b"</BODY>", b"<script type=module>x</script>",
    # end tags inside quoted attribute values
    b"<div title=\"</body>\">", b"<p data-x='</body></html>'>", b"<a title = \"x'</BODY>y\" href=/a>a</a>",
    b"<img alt='say \"</body>\" >' src=/i.png>", b"<div a=\"1\" b='</html>'>", b"</p title=\"</body>\">",
    b"<span title=\"a>b\" data-q='</body>'>s</span>", b"<input value=\"</body\">", b"<div title=\"\">",
    # frameset documents, and a frameset the parser ignores (after body content)
    b"<frameset cols=50%>", b"<frame src=/f1>", b"</frameset>", b"<noframes><p>no frames</body></noframes>",
]


def page(rng: random.Random) -> bytes:
    body = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 12)))
    return (b"\xef\xbb\xbf" if rng.random() < 0.05 else b"") + body


def tokens(html: bytes) -> list[tuple]:
    """The parse as a token stream, text runs merged (a script between two texts splits one)."""
    document = html5lib.parse(html.decode("latin-1"), treebuilder="dom", namespaceHTMLElements=False)
    out: list[tuple] = []
    for token in html5lib.getTreeWalker("dom")(document):
        kind = token["type"]
        if kind in ("Characters", "SpaceCharacters"):
            if out and out[-1][0] == "text":
                out[-1] = ("text", out[-1][1] + token["data"])
            else:
                out.append(("text", token["data"]))
        else:
            attributes = tuple(sorted(token.get("data", {}).items(), key=str)) if kind in (
                "StartTag", "EmptyTag") else token.get("data")
            out.append((kind, token.get("namespace"), token.get("name"), attributes))
    return out


def without_ours(stream: list[tuple]) -> tuple[list[tuple], int]:
    """The stream less our script element (its start and end tags); how many we found."""
    out, found, skip_end = [], 0, False
    for token in stream:
        if token[0] == "StartTag" and token[2] == "script" and (None, "src") in dict(token[3]) and \
                dict(token[3])[(None, "src")] == SRC:
            found += 1
            skip_end = True
            continue
        if skip_end and token[0] == "EndTag" and token[2] == "script":
            skip_end = False
            continue
        if token[0] == "text" and out and out[-1][0] == "text":
            out[-1] = ("text", out[-1][1] + token[1])
            continue
        out.append(token)
    return out, found


def split_comments(stream: list[tuple]) -> tuple[list[tuple], list[str]]:
    """Elements and text, and the comments' texts (sorted). A comment or white space before
    <html> moves into the implied <head> when a script comes first: where a comment hangs, or
    white space between elements, is not the page."""
    rest: list[tuple] = []
    for token in stream:
        if token[0] == "Comment":
            continue
        if token[0] == "text" and not token[1].strip(" \t\n\f\r"):
            continue
        if token[0] == "text" and rest and rest[-1][0] == "text":
            rest[-1] = ("text", rest[-1][1] + token[1])
        else:
            rest.append(token)
    return rest, sorted(token[3] for token in stream if token[0] == "Comment")


def check(original: bytes, injected: bytes | None) -> None:
    if injected is None or injected == original:
        return  # the injector chose not to inject: the page is byte-identical
    rest, found = without_ours(tokens(injected))
    assert found == 1, f"{found} script elements of ours in {injected!r}"
    assert split_comments(rest) == split_comments(tokens(original)), \
        f"the page's own tree changed: {original!r} -> {injected!r}"


def streamed(body: bytes, placement: str, rng: random.Random) -> bytes:
    injector = StreamInjector(lambda metas: TAG, placement, max_hold=None)
    out, at = [], 0
    while at < len(body):
        size = rng.randint(1, 64)
        out.append(injector.feed(body[at:at + size]))
        at += size
    out.append(injector.finish())
    return b"".join(out)


def run(seed: int, cases: int) -> None:
    rng = random.Random(seed)
    for _ in range(cases):
        original = page(rng)
        for placement in ("head", "body"):
            whole = inject_script(original, TAG, placement).body
            check(original, whole)
            stream = streamed(original, placement, rng)
            check(original, stream)
            assert stream == (whole if whole is not None else original), "the stream differs from the whole body"


def test_generated_pages_keep_their_tree_plus_our_script():
    run(seed=17, cases=1500)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_many_more_generated_pages(seed):
    run(seed=1000 + seed, cases=8000)
