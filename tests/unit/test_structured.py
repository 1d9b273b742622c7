"""Structured Field Values (http/structured.py over http-sf, RFC 9651)."""

from __future__ import annotations

from decimal import Decimal

import http_sf
import pytest

from prefetch_lab.http.structured import (
    Token,
    is_string,
    is_token,
    parse_dictionary,
    parse_list,
    serialize_string,
)


@pytest.mark.parametrize(
    "value",
    ['"a', '"a" "b"', '"a",', '"a\\x"', "(\"a\"", '"a";', "1.2345", "é", '"é"', "a,,b"],
)
def test_parse_list_gives_none_for_invalid_lists(value: str) -> None:
    assert parse_list(value) is None


def test_parse_list_reads_items_parameters_and_inner_lists() -> None:
    items = parse_list('"a";q=1;r, tok/en:x, ?1, -7, 2.5, ("x" y);p="z"')
    assert items[0] == ("a", {"q": 1, "r": True})
    assert items[1] == (Token("tok/en:x"), {})
    assert items[2:5] == [(True, {}), (-7, {}), (Decimal("2.5"), {})]
    assert items[5] == ([("x", {}), (Token("y"), {})], {"p": "z"})


def test_several_field_lines_are_one_list() -> None:
    assert parse_list(['"a"', '"b", "c"']) == [("a", {}), ("b", {}), ("c", {})]
    assert parse_list("") == [] and parse_list([]) == []


def test_a_string_and_a_token_with_the_same_text_are_told_apart() -> None:
    (string, _), (token, _) = parse_list('"abc", abc')
    assert is_string(string, "abc") and not is_token(string)
    assert is_token(token, "abc") and not is_string(token)
    assert not is_token(token, "ABC")  # tokens are case-sensitive


def test_parse_dictionary_reads_booleans_integers_strings_and_parameters() -> None:
    members = parse_dictionary('max-age=60, no-store, private="set-cookie", max-age=60;prefetch-lab')
    assert members == {"max-age": (60, {"prefetch-lab": True}), "no-store": (True, {}),
                       "private": ("set-cookie", {})}


def test_a_repeated_dictionary_key_keeps_the_last_value() -> None:
    assert parse_dictionary(["max-age=60", "max-age=30"]) == {"max-age": (30, {})}


@pytest.mark.parametrize("value", ['"quoted', "max-age=60,,", "Max-Age=60", "max-age=60 s", "a=1;", "a=é"])
def test_parse_dictionary_gives_none_for_invalid_dictionaries(value: str) -> None:
    assert parse_dictionary(value) is None


def test_serialize_string_quotes_and_escapes() -> None:
    assert serialize_string('/r"1\\.json') == '"/r\\"1\\\\.json"'
    assert parse_list(serialize_string('/r"1\\.json')) == [('/r"1\\.json', {})]
    for bad in ("/règles.json", "a\nb", "\x7f", "\x1f"):
        with pytest.raises(ValueError):
            serialize_string(bad)


@pytest.mark.parametrize("value", ["", "/__edgio__/speculation-rules.json", 'a"b\\c', "~ !#", "\\\\", '"'])
def test_serialize_string_writes_what_http_sf_writes(value: str) -> None:
    # serialize_string writes printable ASCII itself (faster); http-sf is the reference.
    assert serialize_string(value) == http_sf.ser(value)
