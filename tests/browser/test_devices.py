"""`--cpu-slowdown` and `--device` in both drivers, measured from inside the page: a CPU-bound
script's time, the viewport, the user agent, and the network the shaper puts under the page.

The CPU-bound page times a fixed loop itself (User Timing marks around each of five rounds); the
driver runs it unslowed and slowed in interleaved sessions, and the medians of all rounds are
compared, so a burst of another process on the shared machine moves neither much. (Chromium's
throttling suspends the page's thread for a share of wall time: under heavy load, which slows the
unslowed page too, the measured ratio falls; with the machine's load average near 10 on its 2
cores it was 3.6-3.8 for a rate of 4.) In the DevTools-pipe driver the measured page is a prerender the press activates: the
slowdown is set on each new target before it runs (cdp_driver.py), and this shows it applies there.

Each driver runs in a child process, as in an audit (tests/harness.py: one Playwright per process)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys

import pytest

from prefetch_lab.audit.gather.devices import preset
from prefetch_lab.audit.gather.netprofile import PROFILES
from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
START = b"""<!doctype html><meta name="viewport" content="width=device-width"><title>start</title><script type="speculationrules">
{"prerender": [{"source": "list", "urls": ["/cpu"], "eagerness": "immediate"}]}</script>
<a href="/cpu" style="display:block;font:40px sans-serif;padding:40px">cpu</a>"""
# About 100-200 ms of arithmetic unthrottled on this kind of machine, timed by the page itself.
CPU_PAGE = b"""<!doctype html><meta name="viewport" content="width=device-width"><title>cpu</title><p>working</p><script>
const work = () => {
  for (let round = 0; round < 5; round++) {
    performance.mark("cpu-start-" + round);
    let x = 0; for (let i = 0; i < 12e6; i++) x = (x * 31 + i) % 1000003;
    performance.mark("cpu-end-" + round);
    window.__sink = x;
  }
};
if (document.prerendering) document.addEventListener("prerenderingchange", work, {once: true}); else work();
</script>"""
PAGE_FACTS_JS = "() => ({width: innerWidth, height: innerHeight, dpr: devicePixelRatio, agent: navigator.userAgent})"
DRIVERS = ("playwright", "cdp-pipe")


def measure(driver_name: str, proxy_address: str, base: str, options: str, pairs: str = "3") -> dict:
    """In a child process: open / and press its link to /cpu with the driver built with `options`
    (JSON: throttle, mobile, device, cpu_slowdown); what the page measured and saw. Then `pairs`
    more sessions each unslowed and as built, interleaved, so load on the shared machine hits both
    alike: the CPU page's rounds in each (`script_ms`: [unslowed rounds, as built rounds] per pair)."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves
    from prefetch_lab.audit.gather.walk import Step

    chosen = json.loads(options)
    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, chosen.get("throttle", "none"), chosen.get("mobile", False),
                     device=chosen.get("device"), cpu_slowdown=chosen.get("cpu_slowdown", 1.0))
    walk = [Step(0, base + "/", "start"), Step(1, base + "/cpu", "link")]
    moves = Moves(dwell_ms=300, hover_ms=100)
    try:
        with browser.session(proxy_address, moves) as session:
            steps = session.walk(walk)
            facts = session.page.evaluate(PAGE_FACTS_JS) if driver is AuditBrowser else session.call(PAGE_FACTS_JS)
        emulation, built = browser.emulation(), browser.cpu_slowdown
        times = []
        for _ in range(int(pairs)):
            pair = []
            for rate in (1.0, built):
                browser.cpu_slowdown = rate  # read when a session starts
                with browser.session(proxy_address, moves) as session:
                    pair.append(rounds_ms(session.walk(walk)[1]))
            times.append(pair)
        return {"steps": steps, "facts": facts, "emulation": emulation, "script_ms": times}
    finally:
        browser.close()


def run_child(*args: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-c", "import json, sys; from tests.browser.test_devices import measure; "
         "print(json.dumps(measure(*sys.argv[1:])))", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
        capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def rounds_ms(step: dict) -> list[float]:
    """The CPU page's five rounds, as the page timed them."""
    assert step["error"] is None, step
    marks = {m["name"]: m["startTime"] for m in step["page"]["marks"]}
    return [marks[f"cpu-end-{r}"] - marks[f"cpu-start-{r}"] for r in range(5)]


def slowdown(result: dict) -> tuple[float, list]:
    """(as built) / (unslowed): the medians of every round of every session of each (a burst of
    load on the shared machine inflates a few rounds, which move neither median), and the times."""
    times = result["script_ms"]
    plain = statistics.median(ms for unslowed, _ in times for ms in unslowed)
    built = statistics.median(ms for _, slowed in times for ms in slowed)
    return built / plain, times


@pytest.fixture(scope="module")
def origin():
    with Origin({"/": Reply(200, HTML, START), "/cpu": Reply(200, HTML, CPU_PAGE)}) as server:
        yield server


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    with Mitmdump(tmp_path_factory.mktemp("devices"), {"prefetch_inject": "off"}) as running:
        yield running


@pytest.mark.parametrize("driver", DRIVERS)
def test_cpu_slowdown_4_makes_the_pages_script_at_least_3_times_slower(driver, origin, proxy):
    slowed = run_child(driver, proxy.address, origin.base, json.dumps({"cpu_slowdown": 4}))
    assert all(step["error"] is None for step in slowed["steps"]), slowed["steps"]
    if driver == "cdp-pipe":  # the measured page was a prerender, activated by the press
        page = slowed["steps"][1]["page"]
        assert slowed["steps"][1]["delivery"] == "prerender" and page["nav"]["activationStart"] > 0, page
        # Its LCP breakdown is from the activation, and still sums to the (adjusted) LCP.
        parts = page["lcp_attribution"]
        total = parts["ttfb_ms"] + parts["load_delay_ms"] + parts["load_time_ms"] + parts["render_delay_ms"]
        assert abs(total - max(page["lcp"] - page["nav"]["activationStart"], 0)) <= 1, (parts, page["lcp"])
        assert parts["ttfb_ms"] == 0 and parts["tag"] == "p", parts  # the document was there before the press
    ratio, times = slowdown(slowed)
    assert ratio >= 3, times
    assert slowed["emulation"]["cpu_slowdown"] == 4
    assert [step["filmstrip"] for step in slowed["steps"]] == [[], []]  # no frame folder: no trace


@pytest.mark.parametrize("driver", DRIVERS)
def test_device_mobile_sets_viewport_user_agent_network_and_cpu(driver, origin, proxy):
    mobile_preset = preset("mobile")
    # As settings.py resolves --device mobile: the preset's network and CPU, its screen.
    mobile = run_child(driver, proxy.address, origin.base, json.dumps(
        {"device": "mobile", "throttle": mobile_preset.throttle, "cpu_slowdown": mobile_preset.cpu_slowdown}), "2")
    assert all(step["error"] is None for step in mobile["steps"]), mobile["steps"]
    facts = mobile["facts"]
    assert (facts["width"], facts["height"], facts["dpr"]) == (412, 823, 1.75), facts
    assert facts["agent"] == mobile_preset.user_agent
    # The network, as the shaper runs it: the start page's document waited a 4g round trip at least.
    nav = mobile["steps"][0]["page"]["nav"]
    assert nav["responseStart"] - nav["requestStart"] >= PROFILES["4g"].rtt_ms, nav
    ratio, times = slowdown(mobile)
    assert ratio >= 3, times
    assert mobile["emulation"] == {"device": "mobile", "cpu_slowdown": 4,
                                   "viewport": {"width": 412, "height": 823, "device_scale_factor": 1.75, "mobile": True},
                                   "user_agent": mobile_preset.user_agent}


def test_without_a_device_the_page_has_the_default_desktop(origin, proxy):
    plain = run_child("cdp-pipe", proxy.address, origin.base, json.dumps({}), "0")
    assert (plain["facts"]["width"], plain["facts"]["height"], plain["facts"]["dpr"]) == (1280, 720, 1)
    assert "Android" not in plain["facts"]["agent"] and plain["emulation"]["cpu_slowdown"] == 1
