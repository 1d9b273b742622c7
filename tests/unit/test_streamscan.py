"""stream_scan's shortcuts against the scans they stand for: a region left open at the end of what
arrived, resumed from its saved state, must be found exactly as a scan from its start finds it."""

import random

from prefetch_lab.html.stream_scan import TAIL, frontier, open_region_state, regions_and_ends, resume_open_region

from .test_inject import fragment_pages, realistic_pages, soup_pages


def spans(found):
    regions, stop, ends = found
    return [(region.start(), region.end()) for region in regions], stop, ends


def resume_then_compare(page: bytes, first: int, second: int, base: int) -> bool:
    """Scan `page[base:first]`, save its open region, resume over `page[base:second]`: same answer
    as `regions_and_ends` from the region's start? False when there was nothing to resume."""
    buf = page[base:first]
    _, end, _ = regions_and_ends(buf, 0)
    state = open_region_state(buf, base, end) if end < len(buf) else None
    if state is None:
        return False
    more = page[base:second]
    found, still_open = resume_open_region(more, base, end, state)
    if found is None:
        return False
    assert spans(found) == spans(regions_and_ends(more, end)), (page, first, second, base)
    if still_open is not None:
        assert still_open[0] == base + end and still_open[1] == base + len(more)
    return True


def test_resumed_open_region_matches_a_scan_from_its_start():
    rng = random.Random(5)
    pages = [body for body, _ in fragment_pages(1500)] + list(soup_pages(500)) + list(realistic_pages(10))
    resumed = 0
    for page in pages:
        for _ in range(6):
            first = rng.randint(0, len(page))
            second = rng.randint(first, len(page))
            base = rng.randint(0, first)
            resumed += resume_then_compare(page, first, second, base)
    assert resumed > 1000  # the corpus does reach the shortcut


def test_a_region_resumed_from_another_start_is_scanned_again():
    buf = b"<p><!-- open"
    state = open_region_state(buf, 0, 3)
    assert state is not None
    assert resume_open_region(buf + b" -->", 0, 0, state) == (None, None)


def test_frontier_holds_back_only_what_may_grow_into_a_token():
    assert frontier(b"<p>text</bo", 0) == len(b"<p>text")
    assert frontier(b"<p>text</h1", 0) == len(b"<p>text</h1")
    assert frontier(b"<p>text<p", 0) == len(b"<p>text")  # `<plaintext>`
    assert frontier(b"<p>text<a", 0) == len(b"<p>text<a")
    # Only the last TAIL bytes are looked at: an opener further back was settled by the scan.
    long = b"</bo" + b"x" * TAIL
    assert frontier(long, 0) == len(long)
