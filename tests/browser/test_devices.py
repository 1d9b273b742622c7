"""`--cpu-slowdown` and `--device` in both drivers, measured from inside the page: a CPU-bound
script's time, the viewport, the user agent, and the network the shaper puts under the page.

The CPU-bound page times a fixed loop itself (User Timing marks around it, the shortest of three
rounds, so another process on the shared machine inflates the unthrottled time as little as
possible). In the DevTools-pipe driver the measured page is a prerender the press activates: the
slowdown is set on each new target before it runs (cdp_driver.py), and this shows it applies there.

Each driver runs in a child process, as in an audit (tests/harness.py: one Playwright per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from prefetch_lab.audit.gather.devices import preset
from prefetch_lab.audit.gather.netprofile import PROFILES
from tests.harness import CHROMIUM, ROOT, Mitmdump, Origin, Reply

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTML = {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}
START = b"""<!doctype html><title>start</title><script type="speculationrules">
{"prerender": [{"source": "list", "urls": ["/cpu"], "eagerness": "immediate"}]}</script>
<a href="/cpu" style="display:block;font:40px sans-serif;padding:40px">cpu</a>"""
# About 100-200 ms of arithmetic unthrottled on this kind of machine, timed by the page itself.
CPU_PAGE = b"""<!doctype html><title>cpu</title><p>working</p><script>
const work = () => {
  for (let round = 0; round < 3; round++) {
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


def measure(driver_name: str, proxy_address: str, base: str, options: str) -> dict:
    """In a child process: open / and press its link to /cpu with the driver built with `options`
    (JSON: throttle, mobile, device, cpu_slowdown); what the page measured and saw."""
    from prefetch_lab.audit.gather.cdp_driver import CdpBrowser
    from prefetch_lab.audit.gather.playwright_driver import AuditBrowser, Moves
    from prefetch_lab.audit.gather.walk import Step

    chosen = json.loads(options)
    driver = {"playwright": AuditBrowser, "cdp-pipe": CdpBrowser}[driver_name]
    browser = driver(CHROMIUM, None, chosen.get("throttle", "none"), chosen.get("mobile", False),
                     device=chosen.get("device"), cpu_slowdown=chosen.get("cpu_slowdown", 1.0))
    try:
        with browser.session(proxy_address, Moves(dwell_ms=300, hover_ms=100)) as session:
            steps = session.walk([Step(0, base + "/", "start"), Step(1, base + "/cpu", "link")])
            facts = session.page.evaluate(PAGE_FACTS_JS) if driver is AuditBrowser else session.call(PAGE_FACTS_JS)
        return {"steps": steps, "facts": facts, "emulation": browser.emulation()}
    finally:
        browser.close()


def run_child(*args: str) -> dict:
    child = subprocess.run(
        [sys.executable, "-c", "import json, sys; from tests.browser.test_devices import measure; "
         "print(json.dumps(measure(*sys.argv[1:])))", *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'addon'}"},
        capture_output=True, text=True, timeout=180)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def script_ms(result: dict) -> float:
    """The shortest of the CPU page's three rounds, as the page timed them."""
    page = result["steps"][1]["page"]
    marks = {m["name"]: m["startTime"] for m in page["marks"]}
    return min(marks[f"cpu-end-{r}"] - marks[f"cpu-start-{r}"] for r in range(3))


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
    plain = run_child(driver, proxy.address, origin.base, json.dumps({}))
    slowed = run_child(driver, proxy.address, origin.base, json.dumps({"cpu_slowdown": 4}))
    for result in (plain, slowed):
        assert all(step["error"] is None for step in result["steps"]), result["steps"]
    if driver == "cdp-pipe":  # the measured page was a prerender, activated by the press
        assert [s["delivery"] for s in (plain["steps"][1], slowed["steps"][1])] == ["prerender", "prerender"]
    assert script_ms(slowed) >= 3 * script_ms(plain), (script_ms(plain), script_ms(slowed))
    assert (plain["emulation"]["cpu_slowdown"], slowed["emulation"]["cpu_slowdown"]) == (1, 4)


@pytest.mark.parametrize("driver", DRIVERS)
def test_device_mobile_sets_viewport_user_agent_network_and_cpu(driver, origin, proxy):
    plain = run_child(driver, proxy.address, origin.base, json.dumps({}))
    mobile_preset = preset("mobile")
    # As settings.py resolves --device mobile: the preset's network and CPU, its screen.
    mobile = run_child(driver, proxy.address, origin.base, json.dumps(
        {"device": "mobile", "throttle": mobile_preset.throttle, "cpu_slowdown": mobile_preset.cpu_slowdown}))
    assert all(step["error"] is None for step in mobile["steps"]), mobile["steps"]
    facts = mobile["facts"]
    assert (facts["width"], facts["height"], facts["dpr"]) == (412, 823, 1.75), facts
    assert facts["agent"] == mobile_preset.user_agent
    assert plain["facts"]["width"] == 1280 and "Android" not in plain["facts"]["agent"]
    # The network, as the shaper runs it: the start page's document waited a 4g round trip at least.
    nav = mobile["steps"][0]["page"]["nav"]
    assert nav["responseStart"] - nav["requestStart"] >= PROFILES["4g"].rtt_ms, nav
    assert script_ms(mobile) >= 3 * script_ms(plain), (script_ms(plain), script_ms(mobile))
    assert mobile["emulation"] == {"device": "mobile", "cpu_slowdown": 4,
                                   "viewport": {"width": 412, "height": 823, "device_scale_factor": 1.75, "mobile": True},
                                   "user_agent": mobile_preset.user_agent}
