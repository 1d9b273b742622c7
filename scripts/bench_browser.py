"""Case 7 of bench.py: what prefetching buys, in real headless Chromium through the addon.

An origin with 300 ms added to every response. Per trial, page B is warmed at the edge by a normal
visit in its own browser context; then, in a fresh context (empty browser caches), page A is
opened and its link to B is pressed (pointer down, held, released: what conservative eagerness
waits for). The cold case is the same with B2, identical content at a URL nobody visited, whose
prefetch the edge refuses. On the landing page: the navigation entry's responseStart (from its
startTime) and the last largest-contentful-paint entry. Medians over the trials.

Two prefetch paths, each with its own proxy:
- speculation: Speculation-Rules header, eagerness conservative (Cloudflare Speed Brain);
- edgio: install.js and its service worker prefetch visible links at load (Edgio).
"""

from __future__ import annotations

from pathlib import Path

from tests.harness import Mitmdump, Origin, Reply, chromium_through  # first: it puts addon/ on sys.path

from prefetch_lab.stats import median

from bench_origin import no_nagle

ORIGIN_LATENCY = 0.3
HOLD_MS = 700
HTML = {"content-type": "text/html; charset=utf-8"}
PATHS = {
    "speculation": {"prefetch_inject": "speculation", "prefetch_eagerness": "conservative"},
    "edgio": {"prefetch_inject": "edgio"},
}
LANDING_TEXT = " ".join(["Prefetched pages paint as soon as the document is there."] * 40)
METRICS_JS = """async () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const lcp = await new Promise(resolve => {
        new PerformanceObserver(list => {
            const entries = list.getEntries();
            resolve(entries[entries.length - 1].startTime);
        }).observe({type: 'largest-contentful-paint', buffered: true});
        setTimeout(() => resolve(null), 3000);
    });
    return {response_start: nav.responseStart - nav.startTime, lcp, delivery_type: nav.deliveryType};
}"""


def landing_page(title: str) -> bytes:
    """Page B: its largest contentful paint is a big text block, in the document itself."""
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
        f'<p style="font-size:22px;max-width:900px">{LANDING_TEXT}</p></body></html>'
    ).encode()


def start_page(warm: str, cold: str) -> bytes:
    return (
        "<!doctype html><html><head><title>A</title></head><body><h1>Start</h1>"
        f'<p><a id="warm" href="{warm}" style="display:inline-block;padding:20px">warm</a></p>'
        f'<p><a id="cold" href="{cold}" style="display:inline-block;padding:20px">cold</a></p>'
        "</body></html>"
    ).encode()


def press_link(page, selector: str):
    """Pointer down, hold, release: the navigation (Playwright's response object)."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(HOLD_MS)
    with page.expect_navigation() as navigation:
        page.mouse.up()
    return navigation.value


def wait_for_edgio_prefetches(page, count: int, timeout_ms: int = 10_000) -> None:
    """install.js reports each finished prefetch in Edgio.status().results."""
    waited = 0
    while waited < timeout_ms:
        if page.evaluate("n => !!window.Edgio && Edgio.status().results.length >= n", count):
            return
        page.wait_for_timeout(50)
        waited += 50
    raise RuntimeError(f"install.js finished fewer than {count} prefetches in {timeout_ms} ms")


def visit(browser, url: str) -> None:
    """A normal visit in its own context: fills the edge, leaves this browser's caches alone."""
    context = browser.new_context()
    try:
        context.new_page().goto(url)
    finally:
        context.close()


def navigate(browser, path_name: str, start_url: str, selector: str) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(start_url)
        if path_name == "edgio":
            wait_for_edgio_prefetches(page, 2)  # warm stored, cold refused
        press_link(page, selector)
        page.wait_for_load_state("load")
        page.wait_for_timeout(200)  # let the paint happen and LCP be reported
        return page.evaluate(METRICS_JS)
    finally:
        context.close()


def measure_path(path_name: str, options: dict[str, str], trials: int, workdir: Path) -> dict:
    samples: dict[str, list[dict]] = {"prefetched": [], "cold": []}
    used = 0
    with Origin() as origin, Mitmdump(workdir / f"bench-browser-{path_name}", {"flow_detail": "0", **options}) as proxy:
        origin.extra_delay = ORIGIN_LATENCY
        no_nagle(origin)
        origin.server.handle_error = quiet  # a closed context drops requests in flight (favicon)
        with chromium_through(proxy) as browser:
            version = browser.version
            for trial in range(trials):
                warm, cold = f"/b/{trial}", f"/b2/{trial}"
                origin.routes[warm] = Reply(200, HTML, landing_page("B"))
                origin.routes[cold] = Reply(200, HTML, landing_page("B"))
                origin.routes[f"/a/{trial}"] = Reply(200, HTML, start_page(warm, cold))
                visit(browser, origin.base + warm)
                start = f"{origin.base}/a/{trial}"
                # Alternate which goes first, so neither always runs on a fresher browser.
                order = [("prefetched", "#warm"), ("cold", "#cold")]
                for kind, selector in order if trial % 2 == 0 else order[::-1]:
                    samples[kind].append(navigate(browser, path_name, start, selector))
                used += origin.paths_seen().count(warm) == 1  # only the warming visit reached the origin
    result: dict = {"trials": trials, "prefetch_used": used, "origin_latency_ms": ORIGIN_LATENCY * 1000,
                    "chromium": version}
    for kind, runs in samples.items():
        result[kind] = {
            "response_start": median([r["response_start"] for r in runs]),
            "lcp": median([r["lcp"] for r in runs]),
            "delivery_types": sorted({r["delivery_type"] or "(normal)" for r in runs}),
        }
    result["ratio"] = {
        figure: result["prefetched"][figure] / result["cold"][figure]
        if result["prefetched"][figure] is not None and result["cold"][figure] else None
        for figure in ("response_start", "lcp")
    }
    return result


def quiet(request, client_address) -> None:
    pass


def run(trials: int, workdir: Path) -> dict:
    results = {}
    for path_name, options in PATHS.items():
        try:
            results[path_name] = measure_path(path_name, options, trials, workdir)
        except Exception as e:  # a broken browser path is reported, the other still runs
            results[path_name] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
    return results
