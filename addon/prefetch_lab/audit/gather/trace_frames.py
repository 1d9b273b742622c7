"""A navigation's filmstrip from a Chromium trace: which screenshots to keep, and when each was shown.

Pure module: takes the trace's events (plain dicts, as Chromium writes them) and returns the
chosen frames; `FrameFolder` writes them. The drivers (playwright_driver.py, cdp_driver.py) record
the trace with the `disabled-by-default-devtools.screenshot` category, as Lighthouse does.

Screenshots. Chromium 156 writes one `Screenshot` event (phase "I") per compositor frame it
draws, with `args.snapshot` (a base64 JPEG) and `args.expected_display_time` (when the frame is
presented, on the trace clock); older builds wrote phase "O" events without the display time, and
their `ts` is used. A frame is taken to be seen from its display time.

The clock. Trace timestamps are microseconds of Chromium's monotonic clock, not the page's
`performance.now()`. Just before the trace stops, the driver makes a User Timing mark in the
page (`performance.mark(name)`); Chromium traces it (category `blink.user_timing`) with its
`ts` and `args.data.startTime`, the same mark on both clocks. So the page's time origin on the
trace clock is `ts / 1000 - startTime` (error: the mark's two readings are taken microseconds
apart; `performance.now()` is coarsened to 0.1 ms). The navigation's start is that origin, plus
`activationStart` for a prerendered page (which was loaded before the press and shown at
activation): the same zero as Navigation Timing, FCP and LCP. For a press, the time origin is
when the renderer began the navigation, at the press's release. A frame's display time is
Chromium's expected one: the LCP entry's time (the frame's presentation as reported to the page)
came up to about 10 ms after the display time of the frame that shows the LCP element (seen in
audits on this machine): the frame showing the LCP element is the last one at or before LCP.

Which frames: WebPageTest's filmstrip shows the screen every 100 ms (its video is captured at
10 frames a second: what is on screen at each tick). Here, of the distinct frames (a frame
identical to the one before shows nothing new), the *last* of each 100 ms bucket of page time is
kept, at its own display time, from t=0 until the mark (the end of the dwell): the state the
screen had at the end of that bucket. So every change is seen within one bucket (100 ms) of
being displayed, and the final, visually complete frame is always kept. (The first frame of each
bucket, which the issue's interface first named, loses changes: a blank frame at 21 ms opened
bucket 0 and the block painted at 50 ms was not seen until the next frame, 300 ms later; on a
page that stops changing, never.) The last frame before t=0 is kept as t=0, the "before"
picture (the page the press left, or the blank tab), so bucket 0 may hold two frames.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SCREENSHOT_CATEGORY = "disabled-by-default-devtools.screenshot"
# What the drivers record: the screenshots, and the User Timing marks that give the clock.
TRACE_CATEGORIES = [SCREENSHOT_CATEGORY, "blink.user_timing"]
BUCKET_MS = 100.0
CLOCK_MARK = "prefetch-lab-clock"


@dataclass(frozen=True)
class Shot:
    """One screenshot: when it was shown (trace clock, ms) and its JPEG, base64."""

    shown_ms: float
    jpeg_b64: str


@dataclass(frozen=True)
class Frame:
    """A kept frame: ms from the navigation's start, and its JPEG."""

    t_ms: float
    jpeg: bytes


def screenshots(events: Iterable[dict]) -> list[Shot]:
    """Every screenshot of the trace, in display order."""
    shots = []
    for event in events:
        if event.get("name") != "Screenshot" or SCREENSHOT_CATEGORY not in (event.get("cat") or ""):
            continue
        args = event.get("args") or {}
        snapshot = args.get("snapshot")
        if not snapshot:
            continue
        shown = args.get("expected_display_time")
        shots.append(Shot(int(shown) / 1000 if shown not in (None, "", "0", 0) else event["ts"] / 1000, snapshot))
    return sorted(shots, key=lambda s: s.shown_ms)


def time_origin(events: Iterable[dict], mark: str, start_time_ms: float | None = None) -> float | None:
    """The page's time origin on the trace clock (ms), from the User Timing mark `mark`
    (its trace `ts` less its `startTime`); `start_time_ms`, what the page returned for the mark,
    if the trace event does not carry it. None when the mark is not in the trace."""
    for event in events:
        if event.get("name") == mark and "blink.user_timing" in (event.get("cat") or ""):
            data = (event.get("args") or {}).get("data") or {}
            start = data.get("startTime", start_time_ms)
            if start is None:
                return None
            return event["ts"] / 1000 - float(start)
    return None


def choose_frames(shots: Sequence[Shot], start_ms: float, end_ms: float, bucket_ms: float = BUCKET_MS) -> list[tuple[float, str]]:
    """(t_ms, jpeg_b64) of the kept frames, `start_ms` and `end_ms` on the trace clock (see the
    module's docstring for the rule)."""
    distinct: list[Shot] = []
    for shot in shots:
        if shot.shown_ms > end_ms:
            break
        if not distinct or shot.jpeg_b64 != distinct[-1].jpeg_b64:
            distinct.append(shot)
    before = [s for s in distinct if s.shown_ms < start_ms]
    after = [s for s in distinct if s.shown_ms >= start_ms]
    kept: list[tuple[float, str]] = []
    if before:  # what was on screen at the start: the before picture
        kept.append((0.0, before[-1].jpeg_b64))
    last_of_bucket: dict[int, Shot] = {}
    for shot in after:  # in time order: a later frame of the same bucket replaces the earlier
        last_of_bucket[math.floor((shot.shown_ms - start_ms) / bucket_ms)] = shot
    kept += [(shot.shown_ms - start_ms, shot.jpeg_b64) for shot in last_of_bucket.values()]
    return kept


def filmstrip(events: Sequence[dict], mark: str, mark_start_ms: float | None, activation_start_ms: float | None) -> list[Frame]:
    """The navigation's kept frames from its trace, or [] when the clock mark is missing;
    `activation_start_ms`: where on the page's clock the navigation began (0: its time origin)."""
    origin = time_origin(events, mark, mark_start_ms)
    if origin is None:
        return []
    start = origin + (activation_start_ms or 0.0)
    end = origin + (mark_start_ms if mark_start_ms is not None else math.inf)
    return [Frame(round(t, 1), base64.b64decode(jpeg)) for t, jpeg in choose_frames(screenshots(events), start, end)]


@dataclass(frozen=True)
class FrameFolder:
    """Where one (arm, run)'s frames go: OUT/`folder`/step<S>-<i>-<t>ms.jpg, `file` relative to OUT."""

    out: Path
    folder: str  # e.g. "frames/control-run0"

    def keep(self, step: int, trace: bytes | str, mark: str, mark_start_ms: float | None, page: dict | None) -> list[dict]:
        """A measured step's filmstrip, as both drivers record it: its trace's frames, timed from
        the navigation's start (the activation, for a prerendered `page`; the press's release, for
        a soft navigation: page_scripts.py), written here."""
        page = page or {}
        soft = page.get("soft_navigation")
        start = soft.get("start") if isinstance(soft, dict) else (page.get("nav") or {}).get("activationStart")
        return self.write(step, filmstrip(parse_trace(trace), mark, mark_start_ms, start))

    def write(self, step: int, frames: Sequence[Frame]) -> list[dict]:
        directory = self.out / self.folder
        directory.mkdir(parents=True, exist_ok=True)
        strip = []
        for index, frame in enumerate(frames):
            name = f"{self.folder}/step{step}-{index:02d}-{frame.t_ms:.0f}ms.jpg"
            (self.out / name).write_bytes(frame.jpeg)
            strip.append({"t_ms": frame.t_ms, "file": name})
        return strip


def parse_trace(data: bytes | str) -> list[dict]:
    """A trace file's events: Chromium writes {"traceEvents": [...]} (or a bare list)."""
    value = json.loads(data)
    return value.get("traceEvents", []) if isinstance(value, dict) else value
