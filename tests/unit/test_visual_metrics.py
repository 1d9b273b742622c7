"""Visual metrics (audit/computed/visual_metrics.py) from synthetic filmstrips drawn with Pillow
and saved as JPEG, as the drivers save Chromium's screenshots: a page whose blocks appear at 0,
300 and 600 ms over known fractions of the viewport, the values worked out by hand."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw

from prefetch_lab.audit.computed.visual_metrics import filmstrip_visual, frames_visual, metrics

WIDTH, HEIGHT = 400, 300
FRAME_MS = 100  # the filmstrip's interval: the tolerance the issue allows
# (top row, bottom row, colour, painted at ms): 40 %, 30 % and 20 % of the viewport; 10 % stays white
BLOCKS = [(0, 120, (200, 30, 30), 0), (120, 210, (30, 60, 200), 300), (210, 270, (20, 150, 60), 600)]


def page_at(t_ms: float, header: bool = False, shown=None) -> Image.Image:
    """The page as painted at t_ms (blocks painted at or before it); `shown` forces a block list."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    for i, (top, bottom, colour, painted) in enumerate(BLOCKS):
        if (shown is None and painted <= t_ms) or (shown is not None and i in shown):
            draw.rectangle([0, top, WIDTH - 1, bottom - 1], fill=colour)
    if header:  # a dark bar on screen before and after the navigation: not the page's progress
        draw.rectangle([0, 0, WIDTH - 1, 15], fill=(40, 40, 40))
    return image


def save_strip(tmp_path, frames: list[tuple[float, Image.Image]]) -> list[dict]:
    strip = []
    (tmp_path / "frames").mkdir(exist_ok=True)
    for i, (t, image) in enumerate(frames):
        name = f"frames/step1-{i}-{t:g}ms.jpg"
        image.save(tmp_path / name, "JPEG", quality=80)
        strip.append({"t_ms": t, "file": name})
    return strip


def painted_strip(header: bool = False) -> list[tuple[float, Image.Image]]:
    """The before picture at t=0 (blank), then a frame every 100 ms from 16 ms to 916 ms; the block
    painted at 0 ms first shows in the frame at 16 ms (a vsync after the paint)."""
    times = [0.0] + [16.0 + FRAME_MS * k for k in range(10)]
    return [(0.0, page_at(-1, header))] + [(t, page_at(t - 16, header)) for t in times[1:]]


def by_hand() -> dict[str, float]:
    """From the blocks: progress is the painted share of what the page paints (90 % of the
    viewport): 4/9 from 0 ms, 7/9 from 300 ms, 1 from 600 ms."""
    content = sum(bottom - top for top, bottom, _, _ in BLOCKS)
    after_a = (BLOCKS[0][1] - BLOCKS[0][0]) / content
    after_b = after_a + (BLOCKS[1][1] - BLOCKS[1][0]) / content
    return {
        "first_visual_change_ms": 0.0,
        "speed_index_ms": 300 * (1 - after_a) + 300 * (1 - after_b),   # 166.7 + 66.7
        "visually_complete_85_ms": 600.0,  # 7/9 = 78 % < 85 % until the last block
        "visually_complete_ms": 600.0,
    }


@pytest.mark.parametrize("header", [False, True], ids=["blank", "unchanging-header"])
def test_blocks_at_0_300_600_ms_agree_with_the_hand_values_within_a_frame(tmp_path, header):
    visual = filmstrip_visual(save_strip(tmp_path, painted_strip(header)), tmp_path)
    expected = by_hand()
    for key, value in expected.items():
        assert visual[key] == pytest.approx(value, abs=FRAME_MS), key
    # and not by accident: each lands on the first frame after its block was painted
    assert visual["first_visual_change_ms"] == 16.0
    assert visual["visually_complete_ms"] == 616.0
    assert visual["visually_complete_85_ms"] == 616.0
    # the curve: the painted share of what changes (the header's 16 rows never do): without it
    # floor(100·120/270) = 44 from 16 ms, floor(100·210/270) = 77 from 316 ms, 100 from 616 ms
    # (JPEG noise may cost a point)
    fixed = 16 if header else 0
    progress = dict((t, p) for t, p in visual["progress"])
    assert progress[0.0] == 0 and progress[616.0] == progress[916.0] == 100
    for t, rows in ((16.0, 120), (316.0, 210)):
        share = 100 * (rows - fixed) / (270 - fixed)
        assert share - 2 <= progress[t] <= share, (t, progress)


def test_progress_is_the_painted_share_of_the_final_page():
    strip = painted_strip()
    picked = [strip[0], strip[1], strip[4], strip[7]]  # 0, 16, 316, 616 ms
    visual = frames_visual(picked)
    # floor(100·4/9) = 44 from 16 ms, floor(100·7/9) = 77 from 316 ms, 100 at 616 ms
    assert visual["speed_index_ms"] == pytest.approx(16 + 300 * 0.56 + 300 * 0.23, abs=3)


def test_one_frame_measures_nothing(tmp_path):
    strip = save_strip(tmp_path, [(0.0, page_at(1000))])
    assert filmstrip_visual(strip, tmp_path) == {"first_visual_change_ms": None, "speed_index_ms": None,
                                                 "visually_complete_85_ms": None, "visually_complete_ms": None,
                                                 "progress": [[0.0, 100]]}


def test_identical_frames_show_no_change_and_are_complete_from_the_start():
    frames = [(t, page_at(1000)) for t in (0.0, 100.0, 200.0)]
    assert frames_visual(frames) == {"first_visual_change_ms": None, "speed_index_ms": 0.0,
                                     "visually_complete_85_ms": 0.0, "visually_complete_ms": 0.0}


def test_progress_that_goes_back_adds_to_the_speed_index_but_keeps_visually_complete():
    complete = [0, 1, 2]
    frames = [(0.0, page_at(-1)), (100.0, page_at(0, shown=complete)), (200.0, page_at(0, shown=[0])),
              (300.0, page_at(0, shown=complete))]
    visual = frames_visual(frames)
    assert visual["visually_complete_ms"] == 100.0
    assert visual["first_visual_change_ms"] == 100.0
    # 100 ms at 0 %, 100 ms at 100 %, 100 ms at 44 % (the dip), then complete
    assert visual["speed_index_ms"] == pytest.approx(100 + 100 * (1 - 0.44), abs=2)


def test_step_wise_integral_from_plain_values():
    assert metrics([0, 200, 500], [0, 50, 100]) == {"first_visual_change_ms": 200, "speed_index_ms": 350.0,
                                                    "visually_complete_85_ms": 500, "visually_complete_ms": 500}
    # the first frame after the start: nothing new was on screen before it
    assert metrics([50, 100], [0, 100])["speed_index_ms"] == 100.0


def test_missing_frame_file_or_no_out_gives_none(tmp_path):
    strip = save_strip(tmp_path, painted_strip()[:3])
    assert filmstrip_visual(strip, None) is None
    (tmp_path / strip[1]["file"]).unlink()
    assert filmstrip_visual(strip, tmp_path) is None
    assert filmstrip_visual([], tmp_path) is None


# ---- through the analysis: per navigation and per arm, with the frames under OUT

def test_analyze_reads_the_frames_under_out_and_joins_the_verdicts(tmp_path):
    from prefetch_lab.audit.analyze import analyze
    from tests.unit.test_auditanalysis import nav_of, run, step

    def with_paint(s, strip, lcp_parts, cls):
        s["filmstrip"] = strip
        s["page"]["lcp_attribution"] = {"tag": "img", "id": "hero", "url": "https://shop.example/hero.jpg",
                                        **dict(zip(("ttfb_ms", "load_delay_ms", "load_time_ms", "render_delay_ms"), lcp_parts))}
        s["page"]["cls"] = cls
        return s

    slow = save_strip(tmp_path, painted_strip())  # complete at 616 ms
    fast_frames = [(0.0, page_at(-1)), (16.0, page_at(1000)), (116.0, page_at(1000))]
    (tmp_path / "fast").mkdir()
    fast = save_strip(tmp_path / "fast", fast_frames)
    fast = [{"t_ms": f["t_ms"], "file": "fast/" + f["file"]} for f in fast]
    runs = []
    for index in range(3):
        runs.append(run("control", [step(0, "/", 1.0), with_paint(step(1, "/a", 10.0), slow, (300, 20, 200, 80), 0.12)],
                        [], index=index))
        runs.append(run("speculation", [step(0, "/", 1.0), with_paint(step(1, "/a", 10.0), fast, (0, 5, 40, 55), 0.0)],
                        [], index=index))
    audit = analyze(runs, out_dir=tmp_path)
    nav = nav_of(audit, "control", 1)
    assert nav["filmstrip"] == slow
    assert nav["visual"]["visually_complete_ms"] == 616.0
    assert nav["lcp_breakdown"] == {"ttfb_ms": 300, "load_delay_ms": 20, "load_time_ms": 200, "render_delay_ms": 80}
    assert nav["lcp_element"] == {"tag": "img", "url": "https://shop.example/hero.jpg"}
    assert nav["cls"] == 0.12
    control, spec = audit["summary"]["control"], audit["summary"]["speculation"]
    assert control["visual_p50"]["visually_complete_ms"] == 616.0
    assert spec["visual_p50"]["speed_index_ms"] == 16.0
    assert spec["lcp_breakdown_p50"] == {"ttfb_ms": 0, "load_delay_ms": 5, "load_time_ms": 40, "render_delay_ms": 55}
    assert (control["cls_p50"], spec["cls_p50"]) == (0.12, 0.0)
    compared = spec["vs_control"]["speed_index_ms"]
    assert compared["n_pairs"] == 3 and compared["median_diff_ms"] == round(16.0 - control["speed_index_ms_p50"], 1)
    # without OUT the frames cannot be read: no visual metrics, and no Speed Index comparison
    blind = analyze(runs)
    assert nav_of(blind, "control", 1)["visual"] is None
    assert "speed_index_ms" not in blind["summary"]["speculation"]["vs_control"]
