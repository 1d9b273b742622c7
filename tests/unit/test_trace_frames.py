"""trace_frames: the clock from a User Timing mark, and which screenshots a filmstrip keeps
(events shaped as Chromium 156 writes them, see the module's docstring)."""

from __future__ import annotations

import base64
import json

from prefetch_lab.audit.gather.trace_frames import (
    CLOCK_MARK,
    Frame,
    FrameFolder,
    Shot,
    choose_frames,
    filmstrip,
    parse_trace,
    screenshots,
    time_origin,
)

ORIGIN_US = 11_390_834_100  # the page's time origin on the trace clock


def shot(shown_ms: float, picture: str, *, ts_lag_us: int = 7000) -> dict:
    """A Chromium 156 Screenshot event shown `shown_ms` after the time origin."""
    shown_us = ORIGIN_US + int(shown_ms * 1000)
    return {"cat": "disabled-by-default-devtools.screenshot", "name": "Screenshot", "ph": "I", "ts": shown_us + ts_lag_us,
            "args": {"expected_display_time": str(shown_us), "frame_sequence": "4", "source_id": "1",
                     "snapshot": base64.b64encode(picture.encode()).decode()}}


def mark(name: str, start_ms: float) -> dict:
    return {"cat": "blink.user_timing", "name": name, "ph": "I", "ts": ORIGIN_US + int(start_ms * 1000) + 3,
            "args": {"data": {"startTime": start_ms, "navigationId": "N"}}}


def b64(picture: str) -> str:
    return base64.b64encode(picture.encode()).decode()


def test_the_time_origin_is_the_marks_trace_time_less_its_start_time():
    events = [mark("other", 5.0), mark(CLOCK_MARK, 1526.6)]
    assert abs(time_origin(events, CLOCK_MARK) - ORIGIN_US / 1000) < 0.01
    assert time_origin(events, "missing") is None
    # An older trace without args.data: what the page returned for the mark.
    bare = [{"cat": "blink.user_timing", "name": CLOCK_MARK, "ph": "R", "ts": ORIGIN_US + 2_000_000, "args": {}}]
    assert time_origin(bare, CLOCK_MARK, 2000.0) == ORIGIN_US / 1000
    assert time_origin(bare, CLOCK_MARK) is None


def test_screenshots_are_taken_at_their_display_time_and_old_events_at_their_ts():
    legacy = {"cat": "disabled-by-default-devtools.screenshot", "name": "Screenshot", "ph": "O", "id": "0x1",
              "ts": ORIGIN_US + 50_000, "args": {"snapshot": b64("old")}}
    events = [shot(300, "b"), legacy, shot(20, "a"), {"name": "Screenshot", "cat": "other", "ts": 1, "args": {"snapshot": "x"}}]
    assert [(round(s.shown_ms - ORIGIN_US / 1000, 3), s.jpeg_b64) for s in screenshots(events)] == [
        (20, b64("a")), (50, b64("old")), (300, b64("b"))]


def test_the_last_distinct_frame_of_each_bucket_with_the_before_picture():
    shots = [Shot(t, p) for t, p in [
        (-400, "old page"), (-30, "old page, link hovered"),
        (16, "blank"), (40, "header"), (90, "header, text"),  # bucket 0: the screen at its end (90)
        (130, "header, text"),  # the same as before: not a new frame
        (180, "text, image"),   # bucket 1's last distinct frame
        (420, "final"), (450, "final"), (480, "final"),  # the same picture again and again
        (2500, "after the dwell"),
    ]]
    kept = choose_frames(shots, start_ms=0, end_ms=2000)
    assert kept == [(0.0, "old page, link hovered"), (90, "header, text"), (180, "text, image"), (420, "final")]
    assert [t for t, _ in kept] == sorted(t for t, _ in kept)


def test_every_change_is_seen_within_a_bucket_and_the_final_state_always():
    # A blank frame opened bucket 0 and the block came 30 ms later; then the page stopped changing.
    shots = [Shot(t, p) for t, p in [(21, "blank"), (50, "block"), (210, "half"), (250, "all")]]
    assert choose_frames(shots, 0, 1000) == [(50, "block"), (250, "all")]
    # Without frames before the start there is no before picture; nothing after: nothing kept.
    assert choose_frames([Shot(-5, "before")], 0, 1000) == [(0.0, "before")]
    assert choose_frames([], 0, 1000) == []


def test_a_prerendered_page_is_timed_from_its_activation():
    activation = 1480.0
    events = [shot(1400, "old page"), shot(activation + 12, "activated page"), shot(activation + 330, "more"),
              mark(CLOCK_MARK, 3600.0)]
    frames = filmstrip(events, CLOCK_MARK, 3600.0, activation)
    assert [(f.t_ms, f.jpeg) for f in frames] == [(0.0, b"old page"), (12.0, b"activated page"), (330.0, b"more")]
    # The dwell ended at the mark: later frames are not the navigation's.
    assert [f.t_ms for f in filmstrip(events, CLOCK_MARK, 1450.0, 0.0)] == [1400.0]
    assert filmstrip(events, "no such mark", None, 0.0) == []


def test_frames_are_written_under_the_folder_and_named_relative_to_out(tmp_path):
    folder = FrameFolder(tmp_path, "frames/control-run0")
    strip = folder.write(2, [Frame(0.0, b"\xff\xd8a"), Frame(316.4, b"\xff\xd8b")])
    assert strip == [{"t_ms": 0.0, "file": "frames/control-run0/step2-00-0ms.jpg"},
                     {"t_ms": 316.4, "file": "frames/control-run0/step2-01-316ms.jpg"}]
    assert (tmp_path / strip[1]["file"]).read_bytes() == b"\xff\xd8b"


def test_a_trace_file_is_an_object_or_a_bare_list():
    events = [mark(CLOCK_MARK, 1.0)]
    assert parse_trace(json.dumps({"traceEvents": events, "metadata": {}})) == events
    assert parse_trace(json.dumps(events).encode()) == events
