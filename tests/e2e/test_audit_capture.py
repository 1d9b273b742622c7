"""What an audit captures per navigation for issue 19, for real (`scripts/audit` against a local
origin, real mitmdump and headless Chromium): the LCP attribution (its parts sum to LCP on every
navigation; an image LCP has a load duration, a text LCP none), CLS, the filmstrip files, the
new Resource Timing fields, and the device the environment says ran (a preset, with overrides)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from prefetch_lab.audit.gather.devices import preset
from tests.e2e.test_audit import run_audit
from tests.harness import Origin, Reply

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.slow]

HTML = {"content-type": "text/html; charset=utf-8"}
IMAGE_DELAY_S = 0.3
NAV = b'<nav><a href="/">text</a> <a href="/image">image</a> <a href="/shift">shift</a></nav>'
TEXT_PAGE = b"<!doctype html><title>text</title>" + NAV + b'<p id="big" style="font-size:28px">' + b"words " * 120 + b"</p>"
IMAGE_PAGE = (b'<!doctype html><title>image</title>' + NAV +
              b'<img id="hero" src="/hero.png" width="380" height="300"><p>a caption</p>')
# A block inserted above the text after 300 ms pushes it down: a layout shift without input.
SHIFT_PAGE = (b"<!doctype html><meta name=viewport content=\"width=device-width\"><title>shift</title>" + NAV + b'<div id="slot"></div><p style="font-size:20px">' +
              b"shifted words " * 60 + b"</p><script>setTimeout(() => { document.getElementById('slot').style.height"
              b" = '200px'; }, 300);</script>")


def hero_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (380, 300), (30, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def audit(tmp_path_factory) -> tuple[Path, dict, list[dict]]:
    out = tmp_path_factory.mktemp("capture")
    routes = {"/": Reply(200, HTML, TEXT_PAGE), "/image": Reply(200, HTML, IMAGE_PAGE),
              "/shift": Reply(200, HTML, SHIFT_PAGE),
              "/hero.png": Reply(200, {"content-type": "image/png", "cache-control": "no-store"}, hero_png(),
                                 delay=IMAGE_DELAY_S)}
    walk = out / "walk.txt"
    walk.write_text("/\n/image\n/\n/shift\n")
    with Origin(routes) as origin:
        # --device desktop, with its network overridden: Lighthouse's desktop screen, loopback.
        # (Not mobile: with mobile emulation Chromium 156 flagged the shift page's shift as
        # hadRecentInput though nothing was pressed, and CLS, as web-vitals counts it, was 0.)
        document, _ = run_audit(out / "out", origin.base + "/", "--arms", "control,speculation", "--runs", "1",
                                "--path", str(walk), "--device", "desktop", "--throttle", "none")
    steps = [step for run in json.loads((out / "out" / "raw" / "runs.json").read_text())["runs"] for step in run["steps"]]
    return out / "out", document, steps


def adjusted_lcp(page: dict) -> float:
    return max(page["lcp"] - (page["nav"]["activationStart"] or 0), 0)


def test_the_lcp_parts_sum_to_lcp_on_every_navigation(audit):
    _, _, steps = audit
    assert len(steps) == 8 and all(step["error"] is None for step in steps), steps
    for step in steps:
        parts = step["page"]["lcp_attribution"]
        total = parts["ttfb_ms"] + parts["load_delay_ms"] + parts["load_time_ms"] + parts["render_delay_ms"]
        assert abs(total - adjusted_lcp(step["page"])) <= 1, (step["url"], parts, step["page"]["lcp"])
        assert min(parts["ttfb_ms"], parts["load_delay_ms"], parts["load_time_ms"], parts["render_delay_ms"]) >= 0


def test_an_image_lcp_has_a_load_duration_and_a_text_lcp_none(audit):
    _, _, steps = audit
    for step in steps:
        parts = step["page"]["lcp_attribution"]
        if step["url"].endswith("/image"):
            assert (parts["tag"], parts["id"]) == ("img", "hero") and parts["url"].endswith("/hero.png"), parts
            assert parts["load_time_ms"] >= IMAGE_DELAY_S * 1000 * 0.9, parts  # the origin held it 300 ms
        else:
            assert parts["tag"] == "p" and parts["url"] is None, parts
            assert parts["load_delay_ms"] == 0 and parts["load_time_ms"] == 0, parts


def test_cls_counts_the_shift_and_nothing_on_still_pages(audit):
    _, _, steps = audit
    for step in steps:
        cls = step["page"]["cls"]
        assert cls > 0.01 if step["url"].endswith("/shift") else cls == 0, (step["url"], cls)


def test_every_navigation_has_its_filmstrip_and_timing_fields(audit):
    out, _, steps = audit
    for step in steps:
        strip = step["filmstrip"]
        assert strip and [f["t_ms"] for f in strip] == sorted(f["t_ms"] for f in strip)
        assert all((out / f["file"]).is_file() and f["file"].startswith("frames/") for f in strip)
        nav = step["page"]["nav"]
        assert nav["fetchStart"] is not None and "workerStart" in nav
        for resource in step["page"]["resources"]:
            assert {"workerStart", "fetchStart", "requestStart", "deliveryType", "renderBlockingStatus"} <= set(resource)


def test_the_environment_says_what_ran(audit):
    _, document, _ = audit
    env = document["environment"]
    desktop = preset("desktop")
    assert (env["device"], env["cpu_slowdown"], env["user_agent"]) == ("desktop", 1, desktop.user_agent)
    assert env["viewport"] == {"width": 1350, "height": 940, "device_scale_factor": 1, "mobile": False}
    assert env["network"].startswith("unthrottled")  # --throttle none overrode the preset's network
    settings = document["settings"]
    assert (settings["device"], settings["throttle"], settings["cpu_slowdown"], settings["filmstrip"]) == ("desktop", "none", 1, True)
