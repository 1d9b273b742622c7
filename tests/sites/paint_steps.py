"""A page that paints in known steps, for filmstrip and visual-metric tests.

`/paint` starts white; timers at 0, 300 and 600 ms after its script runs make full-width blocks
visible over 30 %, 30 % and 40 % of the viewport's height (top to bottom), each in its own flat
colour, and mark each step with `performance.mark("paint-step-<i>")` (so a test knows when the
page painted on the page's clock, in `record["page"]["marks"]`). Nothing else moves: after the
last step the page is visually complete. `/` is a start page with one big link to `/paint`, so a
walk can press it; `/prerendering` is the same with speculation rules that prerender `/paint`.

Visual progress by hand (the fraction of the viewport in its final colour): 0 before the first
step, then 0.3, 0.6 and 1.0 at the three marks; so Speed Index = 0.7 x (t1 - t0) + 0.4 x (t2 - t1)
+ 1.0 x t0 from the navigation's start, with t_i the times the blocks are first shown
(`expected_speed_index_ms`), and visually complete (100 %) at t2, 85 % also at t2.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from tests.harness import Reply

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}


@dataclass(frozen=True)
class PaintStep:
    timer_ms: int
    top: float  # fraction of the viewport's height where the block starts
    height: float  # fraction of the viewport's height it covers
    rgb: tuple[int, int, int]

    @property
    def css(self) -> str:
        return "#%02x%02x%02x" % self.rgb


STEPS = (
    PaintStep(0, 0.0, 0.3, (204, 0, 0)),
    PaintStep(300, 0.3, 0.3, (0, 160, 0)),
    PaintStep(600, 0.6, 0.4, (0, 0, 204)),
)


def paint_page() -> bytes:
    blocks = "".join(f'<div id="b{i}" style="top:{s.top * 100:g}vh;height:{s.height * 100:g}vh;background:{s.css}"></div>'
                     for i, s in enumerate(STEPS))
    timers = "".join(f"show({i}, {s.timer_ms});" for i, s in enumerate(STEPS))
    # A prerendered copy waits for its activation, so its steps are timed from when it is shown.
    return f"""<!doctype html><html><head><title>paint steps</title>
<style>html,body{{margin:0;background:#fff;overflow:hidden}}div{{position:fixed;left:0;width:100vw;visibility:hidden}}</style>
</head><body>{blocks}<script>
const show = (i, ms) => setTimeout(() => {{
  document.getElementById("b" + i).style.visibility = "visible"; performance.mark("paint-step-" + i); }}, ms);
const start = () => {{ {timers} }};
if (document.prerendering) document.addEventListener("prerenderingchange", start, {{once: true}}); else start();
</script></body></html>""".encode()


START_PAGE = (b'<!doctype html><title>start</title><body style="margin:0">'
              b'<a href="/paint" style="display:block;font:40px sans-serif;padding:40px">paint steps</a></body>')


# The same start page, whose speculation rules prerender /paint at once (a press then activates it).
PRERENDER_START_PAGE = START_PAGE.replace(b"<body", b"""<script type="speculationrules">
{"prerender": [{"source": "list", "urls": ["/paint"], "eagerness": "immediate"}]}</script><body""")


def routes() -> dict[str, Reply]:
    return {"/": Reply(200, HTML, START_PAGE), "/prerendering": Reply(200, HTML, PRERENDER_START_PAGE),
            "/paint": Reply(200, HTML, paint_page())}


def shown_steps(jpeg: bytes) -> list[bool]:
    """Which steps' blocks a frame shows: the centre of each block's band in its colour (JPEG
    blurs the edges, so the band's middle row, a tolerance of 40 per channel)."""
    from PIL import Image

    image = Image.open(io.BytesIO(jpeg)).convert("RGB")
    width, height = image.size
    shown = []
    for step in STEPS:
        pixel = image.getpixel((width // 2, int(height * (step.top + step.height / 2))))
        shown.append(all(abs(a - b) <= 40 for a, b in zip(pixel, step.rgb)))
    return shown


def marks(page: dict) -> list[float]:
    """The page's own times of its steps (ms from its time origin), in step order."""
    found = {m["name"]: m["startTime"] for m in page.get("marks") or []}
    return [found[f"paint-step-{i}"] for i in range(len(STEPS))]


def expected_speed_index_ms(shown_ms: list[float]) -> float:
    """Speed Index worked out by hand from when each block was first shown (see the docstring)."""
    progress, index, last = 0.0, 0.0, 0.0
    for t, step in zip(shown_ms, STEPS):
        index += (1 - progress) * (t - last)
        progress, last = progress + step.height, t
    return index
