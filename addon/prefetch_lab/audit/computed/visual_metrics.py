"""Visual metrics of a navigation from its filmstrip: visual progress per frame, first visual
change, Speed Index, visually complete at 85 % and 100 %. Pure module (Pillow and NumPy; the
one function that reads files, `filmstrip_visual`, only opens the JPEGs a filmstrip names).

Method: speedline's (Lighthouse's `speed-index`), chosen over WebPageTest's visualmetrics.py
because Lighthouse computes it from the same Chromium trace screenshots the audit keeps.
- Histograms: per frame, one 256-bin histogram per RGB channel, of the pixels that are not
  white; a pixel is white when all three channels are ≥ 249 (speedline's `isWhitePixel`: a
  page's blank background is not content, and JPEG noise keeps white a little under 255).
- Progress of a frame against the first frame (what was on screen at the navigation's start)
  and the last (the final page): per channel and bin, match += min(|cur − first|, |last − first|)
  and total += |last − first|; progress = floor(100 · match / total), and 100 when total is 0
  (first and last frames alike). Pixels that do not change between first and last frames cancel
  out (they weigh the same in all three histograms), so only what the page changed counts; a
  frame can only score what the final page has (min against the target's change).
- Speed Index: ∫ (1 − progress/100) dt from the navigation's start (t = 0) to the last frame,
  step-wise: each frame's progress holds until the next frame; before the first frame nothing
  new is on screen (progress 0). WebPageTest defines it the same way.
- First visual change: the first frame with progress > 0 (None when the first frame is already the
  final page). Visually complete: the first frame with
  progress ≥ 100 (85 for the 85 % variant), as speedline and WebPageTest take it: when progress
  goes back afterwards (a carousel, a late layout shift), the later dip still adds to the Speed
  Index but does not move visually complete.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

WHITE_MIN = 249  # speedline: a channel value at or above this, on all three channels, is white


def histogram(image: Image.Image) -> np.ndarray:
    """(3, 256) counts of each channel's values over the frame's non-white pixels."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.uint8).reshape(-1, 3)
    content = pixels[~np.all(pixels >= WHITE_MIN, axis=1)]
    return np.stack([np.bincount(content[:, c], minlength=256) for c in range(3)]).astype(np.int64)


def progress(current: np.ndarray, first: np.ndarray, last: np.ndarray) -> int:
    """speedline's calculateFrameProgress: a whole percentage (floor), 100 when first == last."""
    target_change = np.abs(last - first)
    total = int(target_change.sum())
    if total == 0:
        return 100
    match = int(np.minimum(np.abs(current - first), target_change).sum())
    return math.floor(100 * match / total)


def progress_curve(histograms: Sequence[np.ndarray]) -> list[int]:
    """Visual progress of each frame against the first and last."""
    if not histograms:
        return []
    return [progress(h, histograms[0], histograms[-1]) for h in histograms]


def metrics(times_ms: Sequence[float], curve: Sequence[int]) -> dict[str, float | None]:
    """The four metrics from frame times (ms from the navigation's start, ascending) and their
    progress. Fewer than two frames: nothing can have changed, every metric None."""
    empty = {"first_visual_change_ms": None, "speed_index_ms": None,
             "visually_complete_85_ms": None, "visually_complete_ms": None}
    if len(times_ms) < 2 or len(times_ms) != len(curve):
        return empty
    speed_index = max(0.0, times_ms[0])  # nothing new on screen before the first frame
    for (t, p), t_next in zip(zip(times_ms, curve), times_ms[1:]):
        speed_index += (t_next - t) * (1 - p / 100)

    def first_at(threshold: float, strictly: bool = False) -> float | None:
        return next((round(t, 1) for t, p in zip(times_ms, curve) if (p > threshold if strictly else p >= threshold)), None)

    return {
        # the first frame already the final page (first == last): nothing changed
        "first_visual_change_ms": None if curve[0] >= 100 else first_at(0, strictly=True),
        "speed_index_ms": round(speed_index, 1),
        "visually_complete_85_ms": first_at(85),
        "visually_complete_ms": first_at(100),
    }


def frames_visual(frames: Sequence[tuple[float, Image.Image]]) -> dict[str, float | None]:
    """The metrics of (t_ms, image) frames in time order."""
    return metrics([t for t, _ in frames], progress_curve([histogram(image) for _, image in frames]))


def filmstrip_visual(filmstrip: Sequence[dict], out_dir: Path | str | None) -> dict[str, float | None] | None:
    """A navigation's `visual` from its `filmstrip` ({"t_ms", "file"} with `file` relative to
    OUT): the metrics and `progress` ([t_ms, percent] per frame); None without frames or without OUT, or when a frame is missing or unreadable (the
    metrics of a strip with a hole would be wrong)."""
    entries = [f for f in filmstrip or [] if isinstance(f, dict) and isinstance(f.get("t_ms"), (int, float))
               and isinstance(f.get("file"), str)]
    if not entries or out_dir is None:
        return None
    histograms, times = [], []
    for entry in sorted(entries, key=lambda f: f["t_ms"]):
        try:
            with Image.open(Path(out_dir) / entry["file"]) as image:
                histograms.append(histogram(image))
        except OSError:
            return None
        times.append(float(entry["t_ms"]))
    curve = progress_curve(histograms)
    # the curve itself, for the report's visual progress chart: [t_ms, percent] per frame
    return {**metrics(times, curve), "progress": [[round(t, 1), p] for t, p in zip(times, curve)]}
