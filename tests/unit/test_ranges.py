from prefetch_lab.http.ranges import RangeAnswer, answer, coalesce, if_range_holds, parse

STORED = [("ETag", '"v1"'), ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Date", "Tue, 02 Jan 2024 00:00:00 GMT")]


def test_single_ranges_of_every_form():
    assert parse("bytes=0-1", 11) == [(0, 1)]
    assert parse("bytes=1-", 11) == [(1, 10)]
    assert parse("bytes=-1", 11) == [(10, 10)]
    assert parse("bytes=-50", 11) == [(0, 10)]  # a suffix longer than the body: all of it
    assert parse("bytes=5-500", 11) == [(5, 10)]  # a last byte past the end: up to the end
    assert parse("BYTES=0-1", 11) == [(0, 1)]  # the unit is case-insensitive


def test_unreadable_ranges_are_ignored_and_unsatisfiable_ones_dropped():
    assert parse("items=0-1", 11) is None
    assert parse("bytes=2-1", 11) is None
    assert parse("bytes=abc", 11) is None
    assert parse("bytes=-", 11) is None
    assert parse("bytes=11-", 11) == []
    assert parse("bytes=-0", 11) == []
    assert parse("bytes=20-30, 0-0", 11) == [(0, 0)]


def test_overlapping_and_adjacent_ranges_coalesce():
    assert coalesce([(5, 6), (0, 1), (2, 3)]) == [(0, 3), (5, 6)]
    assert coalesce([(0, 5), (3, 8)]) == [(0, 8)]


def test_the_answer_206_416_or_the_full_200():
    def ask(value, method="GET"):
        return answer(method, [("Range", value)], STORED, 11)

    assert ask("bytes=0-1") == RangeAnswer(206, 0, 1)
    assert ask("bytes=0-1").content_range(11) == "bytes 0-1/11"
    assert ask("bytes=0-1, 2-4") == RangeAnswer(206, 0, 4)
    assert ask("bytes=0-1, 5-6") is None  # several disjoint ranges: the full 200
    assert ask("bytes=50-60") == RangeAnswer(416)
    assert ask("bytes=50-60").content_range(11) == "bytes */11"
    assert ask("bytes=0-1", method="HEAD") is None
    assert ask("bytes=1-0") is None
    assert answer("GET", [], STORED, 11) is None


def test_if_range_matches_only_the_same_representation_strongly():
    def holds(value, stored=STORED):
        return if_range_holds([("If-Range", value)], stored)

    assert holds('"v1"') and not holds('"v2"') and not holds('W/"v1"')
    assert not holds('"v1"', [("ETag", 'W/"v1"')])
    assert holds("Mon, 01 Jan 2024 00:00:00 GMT") and not holds("Sun, 31 Dec 2023 00:00:00 GMT")
    # A Last-Modified within a second of the Date is weak: no range on it.
    weak = [("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), ("Date", "Mon, 01 Jan 2024 00:00:00 GMT")]
    assert not holds("Mon, 01 Jan 2024 00:00:00 GMT", weak)
    assert answer("GET", [("Range", "bytes=0-1"), ("If-Range", '"v2"')], STORED, 11) is None
    assert answer("GET", [("Range", "bytes=0-1"), ("If-Range", '"v1"')], STORED, 11) == RangeAnswer(206, 0, 1)
