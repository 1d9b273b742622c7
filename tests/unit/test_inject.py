import gzip
import random
import re

import pytest

from prefetch_lab.html import inject
from prefetch_lab.html.inject import build_script_tag, has_install_script, head_meta_tags, inject_script

TAG = build_script_tag("/__edgio__/prefetch/install.js", include_cache_misses=False, force_prefetch_ratio=None, nonce=None)


def injected(body: bytes, placement: str = "head", **kwargs) -> tuple[bytes, str]:
    """Inject, check that nothing but the tag changed, and return (text after the tag, reason)."""
    result = inject_script(body, TAG, placement, **kwargs)
    assert result.body is not None, result.reason
    assert result.body.count(TAG) == body.count(TAG) + 1
    assert result.body[result.offset:result.offset + len(TAG)] == TAG
    assert result.body[:result.offset] + result.body[result.offset + len(TAG):] == body
    return result.body[result.offset + len(TAG):], result.reason


def skipped(body: bytes, placement: str = "head", **kwargs) -> str:
    result = inject_script(body, TAG, placement, **kwargs)
    assert result.body is None and result.offset is None
    return result.reason


# --- build_script_tag ---------------------------------------------------------------------------

def test_tag_is_deferred_and_has_only_the_attributes_asked_for():
    assert TAG == b'<script src="/__edgio__/prefetch/install.js" defer></script>'
    tag = build_script_tag("/x.js", include_cache_misses=True, force_prefetch_ratio=0.5, nonce="abc+/=")
    assert tag == (
        b'<script src="/x.js" defer data-include-cache-misses="true" '
        b'data-force-prefetch-ratio="0.5" nonce="abc+/="></script>'
    )


def test_tag_escapes_attribute_values_and_stays_ascii():
    tag = build_script_tag('/a"b<c>&é.js', include_cache_misses=False, force_prefetch_ratio=0.0, nonce="n\"'")
    assert tag.isascii()
    assert b'src="/a&quot;b&lt;c&gt;&amp;&#233;.js"' in tag
    assert b'nonce="n&quot;&#x27;"' in tag
    assert b'data-force-prefetch-ratio="0.0"' in tag


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan"), float("inf")])
def test_tag_rejects_ratios_outside_zero_to_one(ratio):
    with pytest.raises(ValueError):
        build_script_tag("/x.js", include_cache_misses=False, force_prefetch_ratio=ratio, nonce=None)


# --- head placement -----------------------------------------------------------------------------

def test_gzip_decoded_utf8_page_without_declared_charset():
    original = "<html><head><title>Café — 東京</title></head><body>é</body></html>".encode()
    decoded = gzip.decompress(gzip.compress(original))
    after, reason = injected(decoded)
    assert reason == "before-head-end" and after.startswith(b"</head>")


def test_latin1_page_keeps_its_bytes():
    page = "<html><head><title>Café</title></head><body>naïve résumé</body></html>".encode("latin-1")
    after, _ = injected(page, charset="iso-8859-1")
    assert after.startswith(b"</head>") and b"na\xefve" in after


def test_shift_jis_page_with_backslash_trail_bytes():
    page = "<html><head><title>ソフト表示</title></head><body>ソ表能</body></html>".encode("shift_jis")
    assert b"\\" in page  # trail bytes 0x5C: the text is not ASCII-safe, but tags still are
    after, reason = injected(page, charset="Shift_JIS")
    assert reason == "before-head-end" and after.startswith(b"</head>")


@pytest.mark.parametrize("end_tag", [b"</HEAD>", b"</Head >", b"</head\n>", b"</head foo>"])
def test_head_end_tag_case_and_whitespace(end_tag):
    after, reason = injected(b"<HTML><HEAD><META charset=utf-8>" + end_tag + b"<BODY>x</BODY></HTML>")
    assert reason == "before-head-end" and after.startswith(end_tag)


def test_header_and_bodyguard_elements_are_not_head_or_body():
    after, reason = injected(b"<html><header>x</header><bodyguard></bodyguard></html>")
    assert reason == "after-html-start" and after == b"<header>x</header><bodyguard></bodyguard></html>"


@pytest.mark.parametrize(
    "decoy",
    [
        b"<!-- </head> -->",
        b"<!-- a -- </head> --!>",
        b"<script>var s = '</head>';</script>",
        b"<script type=module>if (a</head>b) {}</script>",
        b"<style>p::after{content:'</head>'}</style>",
        b"<title>About </head> tags</title>",
        b"<noscript></head></noscript>",
        b"<textarea></head></textarea>",
        b"<script data-x='>'>var s = '</head>'</script>",
        b"<script><!-- <script> </script> </head> --></script>",
        b"<!DOCTYPE </head>>",
    ],
)
def test_head_end_inside_comment_or_raw_text_is_not_real(decoy):
    page = b"<html><head>" + decoy + b"<meta name=x></head><body></body></html>"
    after, reason = injected(page)
    assert reason == "before-head-end"
    assert after == b"</head><body></body></html>"


def test_script_escape_ends_at_first_end_tag_when_not_double_escaped():
    page = b"<head><script><!-- x </script></head><body>"
    after, _ = injected(page)
    assert after == b"</head><body>"


def test_no_head_end_inserts_before_body():
    after, reason = injected(b"<!doctype html><html><title>t</title><body><p>x</p></body></html>")
    assert reason == "before-body" and after.startswith(b"<body>")


def test_body_start_before_a_late_head_end_wins():
    after, reason = injected(b"<html><body><p>x</p></body><head></head></html>")
    assert reason == "before-body" and after.startswith(b"<body>")


def test_head_without_end_and_without_body_goes_after_head_start():
    after, reason = injected(b"<html><head lang=en><title>t</title><p>x")
    assert reason == "after-head-start" and after.startswith(b"<title>")


def test_no_head_no_body_goes_after_html_start():
    after, reason = injected(b"<!DOCTYPE html>\n<html lang='en' data-x=\"a>b\"><p>x</p></html>")
    assert reason == "after-html-start" and after == b"<p>x</p></html>"


def test_fragment_goes_after_doctype_and_comments():
    after, reason = injected(b"<!DOCTYPE html>\n<!-- generated -->\n<p>fragment</p>")
    assert reason == "after-prolog" and after == b"\n<p>fragment</p>"


def test_bare_fragment_goes_at_start_but_after_a_bom():
    after, reason = injected(b"<p>one</p><p>two</p>")
    assert reason == "document-start" and after == b"<p>one</p><p>two</p>"
    result = inject_script(b"\xef\xbb\xbf<p>x</p>", TAG, "head")
    assert result.offset == 3 and result.body.startswith(b"\xef\xbb\xbf" + TAG)


# --- body placement -----------------------------------------------------------------------------

def test_body_placement_before_last_real_body_end():
    page = b"<html><body><script>x = '</body>'</script><p>a</p></BODY>\n<!-- </body> --></html>"
    after, reason = injected(page, "body")
    assert reason == "before-body-end" and after == b"</BODY>\n<!-- </body> --></html>"


def test_body_placement_ignores_decoys_in_every_raw_text_kind():
    page = (
        b"<body><p>a</p></body><textarea></body></textarea><noscript></body></noscript>"
        b"<iframe></body></iframe><xmp></body></xmp><noembed></body></noembed>"
        b"<noframes></body></noframes><title></body></title><style></body></style>"
    )
    after, _ = injected(page, "body")
    assert after.startswith(b"</body><textarea>")


def test_body_placement_falls_back_to_html_end_then_document_end():
    after, reason = injected(b"<html><p>x</p></html>\n", "body")
    assert reason == "before-html-end" and after == b"</html>\n"
    after, reason = injected(b"<p>x</p>", "body")
    assert reason == "document-end" and after == b""


def test_body_placement_does_not_append_inside_an_unclosed_region():
    after, reason = injected(b"<p>x</p><script>var a = 1;", "body")
    assert reason == "document-end" and after == b"<script>var a = 1;"
    after, _ = injected(b"<p>x</p><!-- </body> never closed", "body")
    assert after == b"<!-- </body> never closed"


def test_body_end_far_from_the_end_is_still_found():
    page = b"<body><p>x</p></body>" + b"<!-- padding -->" * 20000
    after, reason = injected(page, "body")
    assert reason == "before-body-end" and after.startswith(b"</body><!--")


def test_self_closing_raw_text_tag_without_end_tag_is_treated_as_empty():
    page = b"<body><svg><style/></svg><p>x</p></body>"
    after, reason = injected(page, "body")
    assert reason == "before-body-end" and after == b"</body>"


@pytest.mark.parametrize("value", [
    b'"</body>"', b"'</body>'", b'"a>b </BODY >"', b"'say \"</body>\"'", b' = "</body></html>"',
])
def test_body_end_inside_a_quoted_attribute_value_is_text(value):
    # Taken for the end, the tag would land inside the value (issue 22): the real end comes before.
    page = b"<html><body><p>x</p></body>\n<div title" + (b"=" if not value.startswith(b" ") else b"") + value + b"></div></html>"
    after, reason = injected(page, "body")
    assert reason == "before-body-end" and after.startswith(b"</body>\n<div title")


def test_html_end_inside_a_quoted_value_of_an_end_tag_is_text():
    page = b"<body><p>x</p></p title='</html>'>"
    after, reason = injected(page, "body")
    assert reason == "document-end" and after == b""


def test_a_quoted_value_that_only_looks_open_is_not_parsed_further():
    # The last quote before </body> is a closing one: decided without walking the tags.
    page = b'<body><div title="</body>" class="a"></div></body>'
    after, reason = injected(page, "body")
    assert reason == "before-body-end" and after == b"</body>"
    assert not inject._inside_tag(page, 0, page.rindex(b"</body>"))
    assert inject._inside_tag(page, 0, page.index(b"</body>"))


@pytest.mark.parametrize("placement", ["head", "body"])
@pytest.mark.parametrize("page", [
    b'<html><head><title>f</title></head><frameset cols="50%,50%"><frame src=a><frame src=b></frameset></html>',
    b"<!doctype html><FRAMESET rows=2><noframes><body><p>no frames</p></body></noframes></FRAMESET>",
])
def test_a_frameset_document_is_left_as_it_is(page, placement):
    assert skipped(page, placement) == "frameset"


@pytest.mark.parametrize("page", [
    b"<html><body><p>x</p><frameset></frameset></body></html>",  # after <body>: the parser ignores it
    b"<html><body><!-- <frameset> --><p>x</p></body></html>",
    b"<html><body><p title='<frameset>'>x</p></body></html>",
])
def test_a_frameset_the_parser_ignores_does_not_stop_injection(page):
    _, reason = injected(page, "body")
    assert reason == "before-body-end"


def test_plaintext_swallows_the_rest():
    after, _ = injected(b"<body><p>a</p><plaintext></body>", "body")
    assert after == b"<plaintext></body>"


# --- skips --------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "src",
    [
        b"/__edgio__/prefetch/install.js",
        b"/__edgio__/prefetch/v7.13.13/install.js",
        b"https://www.example.com/__edgio__/prefetch/install.js?x=1",
    ],
)
def test_already_present_install_script(src):
    for quoted in (b'"' + src + b'"', b"'" + src + b"'", src):
        page = b"<html><head></head><body><SCRIPT defer SRC=" + quoted + b"></SCRIPT></body></html>"
        assert skipped(page) == "already-present"
        assert skipped(page, "body") == "already-present"


def test_install_path_outside_a_real_script_src_is_not_present():
    for page in (
        b"<head><!-- <script src='/__edgio__/prefetch/install.js'></script> --></head>",
        b"<head><link rel=preload href='/__edgio__/prefetch/install.js'></head>",
        b"<head><script data-src='/__edgio__/prefetch/install.js'></script></head>",
        b"<head></head><body><pre>&lt;script src=/__edgio__/prefetch/install.js&gt;</pre></body>",
    ):
        assert not has_install_script(page)
        injected(page)


def test_our_own_output_is_never_injected_twice():
    once = inject_script(b"<html><head></head><body></body></html>", TAG, "body").body
    assert skipped(once, "head") == "already-present"


@pytest.mark.parametrize(
    "page",
    [
        "<html><head></head><body>x</body></html>".encode("utf-16"),
        "<html><head></head><body>x</body></html>".encode("utf-16-be"),
        b"\xff\xfe\x00\x00" + "<p>x</p>".encode("utf-32-le"),
        "<html><head></head></html>".encode("utf-16-le"),  # no BOM: NUL-interleaved
    ],
)
def test_utf16_and_utf32_are_unsupported(page):
    assert skipped(page) == "unsupported-charset"


def test_wide_charset_declared_in_header_or_meta():
    page = b"<html><head></head><body>x</body></html>"
    assert skipped(page, charset="utf-16") == "unsupported-charset"
    assert skipped(page, charset="UTF-16LE") == "unsupported-charset"
    assert skipped(b"<html><head><meta charset='utf-16'></head></html>") == "unsupported-charset"
    assert skipped(
        b'<head><meta http-equiv="Content-Type" content="text/html; charset=UTF-32"></head>'
    ) == "unsupported-charset"
    injected(page, charset="utf-8")
    injected(b"<head><meta charset=utf-8><title>utf-16 vs utf-8</title></head>")


def test_utf8_bom_overrides_a_wide_header_charset():
    after, _ = injected(b"\xef\xbb\xbf<html><head></head></html>", charset="utf-16")
    assert after.startswith(b"</head>")


@pytest.mark.parametrize("body", [b"", b"  \n\t"])
def test_empty(body):
    assert skipped(body) == "empty"


@pytest.mark.parametrize(
    "body", [b'{"html": "<p>x</p>"}', b"\n [1, 2]", b"just some text, no tags", b"\x1f\x8b\x08\x00gzip<p>", b"%PDF-1.7 <</a>>"]
)
def test_not_html(body):
    assert skipped(body) == "not-html"


def test_unknown_placement_is_an_error():
    with pytest.raises(ValueError):
        inject_script(b"<p>x</p>", TAG, "footer")


# --- malformed input ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "page",
    [
        b"<html><head><!-- unclosed comment </head><body>",
        b"<html><head><script>never closed </head>",
        b"<html><head><script src=x",
        b"<html><head a='unclosed quote></head><body>",
        b"<html>< head>a < b </head>",
        b"<head>\x00\x00<meta \x00></head>\x00",
        b"<head><title>\xff\xfe\xc3(</title></head><body>\x80\x81</body>",
        b"<!", b"<!--", b"<?", b"<script", b"</", b"<!-->", b"<!--->",
    ],
)
@pytest.mark.parametrize("placement", ["head", "body"])
def test_malformed_pages_never_raise_and_stay_exact(page, placement):
    result = inject_script(page, TAG, placement)
    if result.body is not None:
        assert result.body.replace(TAG, b"", 1) == page


def test_unclosed_comment_in_head_falls_back_before_it():
    after, reason = injected(b"<html><head><meta x><!-- open </head><body>")
    assert reason == "after-head-start" and after.startswith(b"<meta x>")


SOUP_PIECES = [
    b"<", b">", b"</", b"<!--", b"-->", b"--!>", b"<!", b"<?", b"'", b'"', b"=", b" ", b"\n", b"\x00",
    b"script", b"SCRIPT", b"style", b"title", b"textarea", b"plaintext", b"head", b"body", b"html",
    b"meta", b"/", b"x", b"\xc3\xa9", b"\xff", b"<script>", b"</script>", b"</head>", b"<body>",
    b"</body>", b"<html>", b"/__edgio__/prefetch/", b"src=",
]


def soup_pages(count: int = 1500, seed: int = 7):
    """Random markup soup (also the streaming injector's differential corpus)."""
    rng = random.Random(seed)
    for _ in range(count):
        yield b"<p>" + b"".join(rng.choice(SOUP_PIECES) for _ in range(rng.randint(0, 40)))


def test_random_markup_soup_never_raises_and_stays_exact():
    for page in soup_pages():
        for placement in ("head", "body"):
            result = inject_script(page, TAG, placement)
            if result.body is not None:
                assert result.body[:result.offset] + result.body[result.offset + len(TAG):] == page


def test_large_page_is_exact():
    row = b"<div class=c><a href='/p/1'>x</a><!-- c --><script>var a='</body>'</script></div>\n"
    page = b"<html><head><title>t</title></head><body>" + row * 25000 + b"</body></html>"
    assert len(page) > 2_000_000
    after, _ = injected(page, "body")
    assert after == b"</body></html>"
    after, _ = injected(page, "head")
    assert after.startswith(b"</head><body>")


# --- head_meta_tags -----------------------------------------------------------------------------

def test_head_meta_tags_skips_comments_scripts_and_body():
    page = (
        b"<html><head><META charset=utf-8><!-- <meta name=a> --><script>'<meta name=b>'</script>"
        b"<meta name=c content='x>y'></head><meta name=d><body><meta name=e></body></html>"
    )
    assert head_meta_tags(page) == [b"<META charset=utf-8>", b"<meta name=c content='x>y'>", b"<meta name=d>"]


def test_tag_tells_install_js_when_the_worker_is_forbidden():
    from prefetch_lab.html.inject import build_script_tag

    common = dict(include_cache_misses=False, force_prefetch_ratio=None, nonce="n1")
    assert b'data-service-worker="false"' in build_script_tag("/x.js", service_worker=False, **common)
    assert b"data-service-worker" not in build_script_tag("/x.js", **common)


# --- body placement: fast region scan vs the exact tokenizer -------------------------------------

TAG_START = re.compile(rb"</?[a-zA-Z]")


def in_quoted_value(body: bytes, anchor: int, pos: int) -> bool:
    """inject._inside_tag written plainly: walk the tags from `anchor`; `pos` inside one whose
    last quote before `pos` (of either kind) follows `=`."""
    at = anchor
    while (tag := TAG_START.search(body, at, pos)) is not None:
        rest = inject._TAG_REST.match(body, tag.end())
        if rest is None or rest.end() > pos:
            break  # `pos` is inside this tag
        at = rest.end()
    else:
        return False
    for quote in b"\"'":
        i = body.rfind(quote, anchor, pos)
        before = body[anchor:i].rstrip(b"\t\n\f\r ")
        if i >= 0 and before.endswith(b"="):
            return True
    return False


def reference_body_position(body: bytes, content_start: int) -> tuple[int, str]:
    """Body placement as `_tokens` defines it, written plainly: every region, every end tag."""
    tokens = list(inject._tokens(body, inject._REGION_TOKEN, content_start))
    end = tokens[-1].start if tokens and tokens[-1].unclosed else len(body)
    for end_tag, reason in ((inject._BODY_END, "before-body-end"), (inject._HTML_END, "before-html-end")):
        positions = [m.start() for m in end_tag.finditer(body, content_start) if m.start() < end]
        for pos in reversed(positions):
            if not any(token.start <= pos < token.end for token in tokens):
                anchor = max([token.end for token in tokens if token.end <= pos], default=content_start)
                if not in_quoted_value(body, anchor, pos):
                    return pos, reason
    return end, "document-end"


def assert_same_as_tokenizer(body: bytes, content_start: int = 0) -> None:
    tokens = list(inject._tokens(body, inject._REGION_TOKEN, content_start))
    regions, end = inject._regions(body, content_start)
    closed = [(token.start, token.end) for token in tokens if not token.unclosed]
    assert [(region.start(), region.end()) for region in regions] == closed, body
    assert end == (tokens[-1].start if tokens and tokens[-1].unclosed else len(body)), body
    assert inject._body_position(body, content_start) == reference_body_position(body, content_start), body


TRICKY_PIECES = [
    b"<!--", b"-->", b"--!>", b"<!-->", b"<!--->", b"-", b"--", b"!", b"<!", b"<?", b"<!x>", b"<!DOCTYPE html>",
    b"<script>", b"<script type=x>", b"<SCRIPT>", b"<script/>", b"</script>", b"</script >", b"</ScRiPt>",
    b"</script", b"<!--<script>", b"<scriptx>", b"</body>", b"</BODY >", b"</bodyx>", b"</body", b"</html>",
    b"</HTML\n>", b"<style>", b"</style>", b"<style/>", b"<textarea>", b"</textarea>", b"<title>", b"</title>",
    b"<noscript>", b"</noscript>", b"<xmp>", b"</xmp>", b"<iframe>", b"</iframe>", b"<noembed>", b"</noembed>",
    b"<noframes>", b"</noframes>", b"<plaintext>", b'"', b"'", b"=", b" a='>' ", b' b=">"', b">", b"<", b"/",
    b"\x00", b"\t", b" ", b"x", b"text ", b"<p>", b"</p>", b"<div class=a>", b"\xc3\xa9",
    b"<script", b"<style ", b"<title", b" x=\"", b" y='", b"=\"", b"='",  # tags left open for quotes and `>`
]


def fragment_pages(count: int = 6000, seed: int = 20240607):
    """(body, content_start) pairs of random tricky fragments."""
    rng = random.Random(seed)
    for _ in range(count):
        body = b"".join(rng.choice(TRICKY_PIECES) for _ in range(rng.randint(0, 30)))
        yield body, rng.choice((0, 0, min(3, len(body))))


def test_fast_body_position_matches_the_tokenizer_on_random_fragments():
    for body, content_start in fragment_pages():
        assert_same_as_tokenizer(body, content_start)


def realistic_pages(count: int = 80, seed: int = 99):
    """Realistic pages with decoys, end tags anywhere from the last byte to many KB back."""
    rng = random.Random(seed)
    blocks = [
        b"<div class=card><a href='/p/1'><img src=/i.jpg alt=\"a > b\"></a><p>some text</p></div>\n",
        b"<!-- card: <div> markup in a comment </body> -->\n",
        b"<script>window.cards = (window.cards || []).concat(['<div>1</div>', '</body>']);</script>\n",
        b"<style>#c1 h2 { color: #123; }</style>\n",
        b"<script type=module data-x='>'>if (a < b && c > d) {}</script>\n",
        b"<SCRIPT>document.write('<!--<script>x</script>-->')</SCRIPT>\n",  # script escape states
        b"<textarea name=t></body></textarea><title>a</title><noscript><img src=x></noscript>\n",
        b"<style data-x=\">x</style>\">p{}</style><title data-t='</title>'>t</title>\n",  # end tags in values
    ]
    ends = [b"</body></html>\n", b"</BODY>\n<!-- </body> --></html>", b"</html>", b"", b"<!-- open", b"<script>open"]
    for _ in range(count):
        # Text or decoys after the end tags put them anywhere from the last byte to many KB back.
        tail = rng.choice((b"", b"x" * rng.randint(0, 5000), b"<script>'</body>'</script>" * rng.randint(0, 200)))
        yield b"<!doctype html><html><head><title>t</title></head><body>" + b"".join(
            rng.choice(blocks) for _ in range(rng.randint(1, 400))
        ) + rng.choice(ends) + tail


def test_fast_body_position_matches_the_tokenizer_on_realistic_pages():
    for page in realistic_pages():
        assert_same_as_tokenizer(page)
        result = inject_script(page, TAG, "body")
        offset, reason = reference_body_position(page, 0)
        assert (result.offset, result.reason) == (offset, reason)
        assert result.body == page[:offset] + TAG + page[offset:]
