"""The speculation headers (http/speculation_headers.py): Sec-Purpose, Sec-Speculation-Tags,
Speculation-Rules, each read as an RFC 9651 List."""

from __future__ import annotations

import pytest

from prefetch_lab.http import speculation_headers
from prefetch_lab.http.speculation_headers import (
    COMMON_PURPOSES,
    OURS_ALONE,
    TAG,
    is_prerender,
    is_prerender_subresource,
    is_speculative,
    merge_header,
    parsed_purpose,
    parsed_refusal_applies,
    refusal_applies,
)
from prefetch_lab.http.structured import parse_list
from prefetch_lab.rules.speculation_rules import RULES_PATH


def strings(value: str) -> list[str]:
    """The bare items of a List, parameters dropped."""
    return [item for item, _ in parse_list(value)]


# ---------------------------------------------------------------- Speculation-Rules


def test_merge_header_appends_ours_after_the_origins_values_in_order() -> None:
    merged = merge_header(['"/a.json"', '"/b.json", "/c.json"'], RULES_PATH)
    assert merged == f'"/a.json", "/b.json", "/c.json", "{RULES_PATH}"'
    assert strings(merged) == ["/a.json", "/b.json", "/c.json", RULES_PATH]


def test_merge_header_without_origin_values_is_ours_alone() -> None:
    assert merge_header([], RULES_PATH) == f'"{RULES_PATH}"'
    assert merge_header(["", "  "], RULES_PATH) == f'"{RULES_PATH}"'


def test_merge_header_does_not_add_ours_twice() -> None:
    already = f'"/a.json", "{RULES_PATH}";x=1'
    assert merge_header([already], RULES_PATH) == already
    twice = merge_header([merge_header([], RULES_PATH)], RULES_PATH)
    assert strings(twice) == [RULES_PATH]


def test_merge_header_counts_only_a_string_as_ours() -> None:
    # A Token with the same characters is not our URL (a URL path is not a valid Token anyway).
    assert merge_header(["a/b"], "a/b") == 'a/b, "a/b"'


def test_merge_header_keeps_an_unparsable_origin_value_verbatim() -> None:
    merged = merge_header(["/rules.json", '"/ok.json"'], RULES_PATH)
    assert merged == f'/rules.json, "/ok.json", "{RULES_PATH}"'


def test_merge_header_escapes_and_rejects_non_ascii() -> None:
    assert merge_header([], '/r"1\\.json') == '"/r\\"1\\\\.json"'
    assert strings(merge_header([], '/r"1\\.json')) == ['/r"1\\.json']
    with pytest.raises(ValueError):
        merge_header([], "/règles.json")


# ---------------------------------------------------------------- Sec-Speculation-Tags


@pytest.mark.parametrize(
    ("tags", "refuse"),
    [
        (None, True),  # older Chromium, <link rel=prefetch>, Edgio-style params
        ("", True),  # an empty list is the same as no header
        (f'"{TAG}"', True),
        (f'"{TAG}", "{TAG}"', True),
        (f'"{TAG}";p=1', True),
        ("null", False),  # the site's own untagged rules
        (f'null, "{TAG}"', False),
        (f'"{TAG}", "site-rules"', False),
        ('"site-rules"', False),
        (TAG, False),  # a token, not our quoted string
        (f'"{TAG}', False),  # not a valid list: cannot be sure it is only ours
    ],
)
def test_refusal_applies_only_when_our_tag_is_alone(tags: str | None, refuse: bool) -> None:
    assert refusal_applies(tags) is refuse


@pytest.mark.parametrize("tags", [OURS_ALONE, f" {OURS_ALONE} ", f"{OURS_ALONE};p=1", "null", f'"{TAG}x"',
                                  f'"{TAG.upper()}"', TAG, "", " ", "\t"])
def test_the_fast_path_for_our_tag_agrees_with_the_full_parse(tags: str) -> None:
    assert refusal_applies(tags) is parsed_refusal_applies(tags)
    assert OURS_ALONE == f'"{TAG}"'


# ---------------------------------------------------------------- Sec-Purpose


@pytest.mark.parametrize(
    ("sec_purpose", "legacy", "speculative"),
    [
        ("prefetch", None, True),
        ("prefetch;prerender", None, True),
        ("prefetch; prerender", None, True),
        ("prefetch;anonymous-client-ip", None, True),
        (" prefetch ", None, True),
        ("x, prefetch", None, True),
        ("prerender", None, False),
        ("", None, False),
        (None, None, False),
        (None, "prefetch", True),
        ("prefetchx", None, False),
        ('"prefetch"', None, False),  # a String, not the Token
        # Not valid Lists, or another case: read leniently, so that the gate fails closed
        # (Chromium sends none of these).
        ("Prefetch ; Prerender", None, True),
        ("Prefetch", None, True),
        ("prefetch,", None, True),
    ],
)
def test_is_speculative(sec_purpose: str | None, legacy: str | None, speculative: bool) -> None:
    assert is_speculative(sec_purpose, legacy) is speculative


@pytest.mark.parametrize("purpose, dest, prerender, subresource", [
    ("prefetch;prerender", "document", True, False),
    ("prefetch; prerender", "image", True, True),
    ("prefetch;prerender;anonymous-client-ip", "script", True, True),
    ("prefetch;prerender", None, True, False),  # no Sec-Fetch-Dest: treat as the document
    ("prefetch", "document", False, False),
    ("prefetch", "image", False, False),
    ("prefetch;anonymous-client-ip", "image", False, False),
    ("Prefetch;Prerender", "script", True, True),  # not a valid List: read leniently
    (None, "image", False, False),
])
def test_a_prerendered_pages_subresources_are_not_the_speculation(purpose, dest, prerender, subresource):
    assert is_prerender(purpose) is prerender
    assert is_prerender_subresource(purpose, dest) is subresource


PURPOSES = [*COMMON_PURPOSES, " prefetch", "prefetch ", "prefetch;prerender=?1", "prefetch;prerender=?0",
            "prefetch;anonymous-client-ip", "prefetch;prerender;anonymous-client-ip", "prerender",
            "prefetch, prefetch;prerender", "prefetch;prerender, prefetch", "Prefetch", "prefetch;Prerender",
            "prefetch ;prerender", "prefetch,", '"prefetch"', "(prefetch)", "prefetch=1", "\tprefetch",
            "préfetch", "prefetch;prerender;prerender", "x;prerender, prefetch"]


@pytest.mark.parametrize("value", PURPOSES)
def test_the_fast_path_for_common_purposes_agrees_with_the_full_parse(value: str) -> None:
    assert speculation_headers.purpose(value) == parsed_purpose(value)
    if value in COMMON_PURPOSES:
        assert COMMON_PURPOSES[value] == parsed_purpose(value)


def test_the_fast_path_table_holds_what_chromium_sends() -> None:
    assert set(COMMON_PURPOSES) >= {"prefetch", "prefetch;prerender"}
