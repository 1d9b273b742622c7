"""The report's compare view (issue 19), as WebPageTest's: for one step of the walk, chosen in a
menu, the filmstrips of the control and every arm side by side on one time axis, a column every
100 ms (each cell the frame on screen at that time: the last one at or before it), the columns
where FCP and LCP happened outlined, a side-by-side animation of the same step, and (charts.py)
the arms' visual progress curves.

Frames are read from the audit's OUT (audit.json's `navigations[].filmstrip`, `file` relative to
OUT) and embedded, so the report stays one file that opens offline: each distinct frame once, as a
downscaled JPEG thumbnail in a CSS class (`.fr12 { background-image: url(data:…) }`), which every
cell showing it reuses; the animation as an animated WebP (Pillow), real time (100 ms per column),
holding the last frame 1.5 s, 200 px per arm.

Which run: per step, the run whose gain (the control's LCP − the median of the experiment arms'
LCPs for that run and step) is the median of that step's runs; the default step is the one whose
gain is the median over the steps.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

from PIL import Image, ImageDraw

from prefetch_lab.formatting import fmt_ms
from prefetch_lab.report.arms import arm_label, control_arm, experiment_arms
from prefetch_lab.stats import median

COLUMN_MS = 100
MAX_COLUMNS = 60  # 6 s: past that, a page still changing is shown at its last column
MAX_OPTIONS = 20
THUMB_WIDTH = 176
THUMB_QUALITY = 60
THUMB_CELL_WIDTH = 132  # shown smaller than stored: sharp on a 1.33× screen
ANIMATION_WIDTH = 200  # per arm
ANIMATION_QUALITY = 50
HOLD_LAST_MS = 1500
KEPT_WIDTH = max(THUMB_WIDTH, ANIMATION_WIDTH)


def navs_by_key(audit: dict) -> dict[tuple[str, int, int], dict]:
    return {(n.get("arm"), n.get("run"), n.get("step")): n for n in audit.get("navigations") or []}


def median_item(items: list, key):
    """The lower median item by key (a real navigation, never an average of two)."""
    ranked = sorted(items, key=key)
    return ranked[(len(ranked) - 1) // 2] if ranked else None


def paints(nav: dict | None) -> tuple[float | None, float | None]:
    """(first, largest) paint of a navigation: FCP and LCP of a document; of a soft navigation,
    its own first paint and the new view's largest paint, from the press."""
    nav = nav or {}
    if nav.get("kind") == "soft":
        soft = nav.get("soft") or {}
        return soft.get("first_paint_ms"), soft.get("largest_paint_ms")
    return nav.get("fcp_ms"), nav.get("lcp_ms")


def choose_options(audit: dict) -> list[dict]:
    """One option per step ≥ 1 with frames in the control and an experiment arm: the step's
    median-gain run. Ordered by step."""
    control = control_arm(audit)
    arms = experiment_arms(audit)
    if control is None or not arms:
        return []
    navs = navs_by_key(audit)
    candidates: dict[int, list[dict]] = {}
    for (arm, run, step), nav in navs.items():
        if arm != control or (step or 0) < 1 or not nav.get("filmstrip"):
            continue
        others = [navs.get((a, run, step)) for a in arms]
        lcps = [paints(o)[1] for o in others if o and o.get("filmstrip") and paints(o)[1] is not None]
        if not lcps or paints(nav)[1] is None:
            continue
        gain = paints(nav)[1] - median(lcps)
        candidates.setdefault(step, []).append({"run": run, "step": step, "gain": gain, "url": nav.get("url"),
                                                "soft": nav.get("kind") == "soft"})
    options = [median_item(runs, lambda c: (c["gain"], c["run"])) for _, runs in sorted(candidates.items())]
    for option in options:
        option["key"] = f"run{option['run']}-step{option['step']}"
        option["title"] = (f"step {option['step']} {option['url'] or ''} (run {option['run'] + 1}): "
                           f"{'largest paint' if option['soft'] else 'LCP'} gain {fmt_ms(option['gain'])}")
    return options[:MAX_OPTIONS]


def shown_at(strip: list[dict], t: float) -> str | None:
    """The frame file on screen at t: the last frame at or before t (None before the first)."""
    file = None
    for frame in strip:
        if frame["t_ms"] <= t:
            file = frame["file"]
        else:
            break
    return file


def first_column(columns: list[float], t: float | None) -> float | None:
    return next((c for c in columns if t is not None and c >= t), None)


class Thumbnails:
    """Each frame file once, downscaled and base64-encoded, named by a CSS class."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.classes: dict[str, str | None] = {}
        self.rules: list[str] = []
        self.images: dict[str, Image.Image | None] = {}

    def image(self, file: str) -> Image.Image | None:
        if file not in self.images:
            try:
                with Image.open(self.out_dir / file) as opened:
                    image = opened.convert("RGB")
                # kept at the largest size shown (hundreds of frames stay a few tens of MB)
                self.images[file] = scaled(image, KEPT_WIDTH) if image.width > KEPT_WIDTH else image
            except OSError:
                self.images[file] = None
        return self.images[file]

    def css_class(self, file: str | None) -> str | None:
        if file is None:
            return None
        if file not in self.classes:
            image = self.image(file)
            if image is None:
                self.classes[file] = None
            else:
                name = f"fr{len(self.rules)}"
                self.rules.append(f".{name}{{background-image:url(data:image/jpeg;base64,{jpeg_base64(scaled(image, THUMB_WIDTH))})}}")
                self.classes[file] = name
        return self.classes[file]

    def css(self) -> str:
        return "\n".join(self.rules)


def scaled(image: Image.Image, width: int) -> Image.Image:
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


def jpeg_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=THUMB_QUALITY, optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def strip_rows(audit: dict, option: dict, thumbs: Thumbnails) -> dict:
    """The option's columns and one row per arm (the control first)."""
    navs = navs_by_key(audit)
    arms = [control_arm(audit), *experiment_arms(audit)]
    chosen = [(arm, navs.get((arm, option["run"], option["step"]))) for arm in arms]
    ends = [max([f["t_ms"] for f in nav.get("filmstrip") or []] + [paints(nav)[1] or 0]) for _, nav in chosen if nav]
    last = min(MAX_COLUMNS - 1, int(max(ends, default=0) // COLUMN_MS) + 1)
    columns = [float(k * COLUMN_MS) for k in range(last + 1)]
    rows = []
    for arm, nav in chosen:
        strip = sorted((nav or {}).get("filmstrip") or [], key=lambda f: f["t_ms"])
        first, largest = paints(nav)
        fcp, lcp = first_column(columns, first), first_column(columns, largest)
        cells, before = [], None
        for t in columns:
            file = shown_at(strip, t)
            marks = [m for m, at in (("fcp", fcp), ("lcp", lcp)) if at == t]
            if file != before and before is not None:
                marks.append("changed")
            cells.append({"t": t, "class": thumbs.css_class(file), "file": file, "marks": " ".join(marks)})
            before = file
        visual = (nav or {}).get("visual") or {}
        timing = (f"soft navigation: first paint {fmt_ms(first)} · largest paint {fmt_ms(largest)}"
                  if (nav or {}).get("kind") == "soft" else f"FCP {fmt_ms(first)} · LCP {fmt_ms(largest)}")
        rows.append({"arm": arm, "label": arm_label(arm), "cells": cells if strip else [],
                     "progress": visual.get("progress") or [],
                     "facts": (f"{timing} · Speed Index {fmt_ms(visual.get('speed_index_ms'))} · "
                               f"visually complete {fmt_ms(visual.get('visually_complete_ms'))}")})
    return {"columns": columns, "rows": rows}


def animation(rows: list[dict], columns: list[float], thumbs: Thumbnails) -> tuple[str, int] | None:
    """The option's rows side by side as an animated WebP (data URI, bytes), or None without frames."""
    files = [file for row in rows for file in (c["file"] for c in row["cells"]) if file]
    sample = next((thumbs.image(f) for f in files if thumbs.image(f) is not None), None)
    if sample is None:
        return None
    height = max(1, round(sample.height * ANIMATION_WIDTH / sample.width))
    label_height = 16
    canvas_size = (ANIMATION_WIDTH * len(rows) + 4 * (len(rows) - 1), height + 2 * label_height)
    frames = []
    for k, t in enumerate(columns):
        canvas = Image.new("RGB", canvas_size, "white")
        draw = ImageDraw.Draw(canvas)
        for i, row in enumerate(rows):
            x = i * (ANIMATION_WIDTH + 4)
            draw.text((x + 2, 2), row["arm"], fill=(30, 30, 30))
            file = row["cells"][k]["file"] if row["cells"] else None
            image = thumbs.image(file) if file else None
            if image is not None:
                canvas.paste(image.resize((ANIMATION_WIDTH, height), Image.Resampling.BILINEAR), (x, label_height))
        draw.text((2, height + label_height + 2), f"{t / 1000:.1f} s", fill=(30, 30, 30))
        frames.append(canvas)
    buffer = io.BytesIO()
    durations = [COLUMN_MS] * (len(frames) - 1) + [HOLD_LAST_MS]
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=durations, loop=0,
                   quality=ANIMATION_QUALITY, method=4)
    data = buffer.getvalue()
    return "data:image/webp;base64," + base64.b64encode(data).decode("ascii"), len(data)


def progress_series(view: dict | None) -> dict | None:
    """The visual progress curves of each option's arms, for charts.visual_progress_chart."""
    if not view:
        return None
    return {"default": view["default"], "options": view["options"],
            "steps": {s["key"]: [{"arm": r["arm"], "label": r["label"], "progress": r["progress"]} for r in s["rows"]]
                      for s in view["strips"]}}


def filmstrip_view(audit: dict, out_dir: Path | None) -> dict | None:
    """The compare view's content, or None when no step has frames in the control and an arm."""
    options = choose_options(audit) if out_dir is not None else []
    if not options:
        return None
    thumbs = Thumbnails(Path(out_dir))
    default = median_item(options, lambda o: (o["gain"], o["step"]))["key"]
    strips = []
    for option in options:
        strip = strip_rows(audit, option, thumbs)
        made = animation(strip["rows"], strip["columns"], thumbs)
        strips.append({"key": option["key"], "title": option["title"], **strip,
                       "animation": made[0] if made else None, "animation_bytes": made[1] if made else 0})
    sample = next((image for image in thumbs.images.values() if image is not None), None)
    return {"options": [{"key": o["key"], "title": o["title"]} for o in options], "default": default,
            "strips": strips, "css": thumbs.css(), "column_ms": COLUMN_MS, "thumb_width": THUMB_CELL_WIDTH,
            "aspect": f"{sample.width} / {sample.height}" if sample else "4 / 3"}
