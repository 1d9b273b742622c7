"""The audit's browser: headless Chromium driven by Playwright, moving like a person.

An adapter (the only audit module that imports Playwright): it opens pages, shows the walk
planner what links a page makes visible, replays a planned walk (dwell, pointer over the link,
press, release) and reads back what the page measured: Navigation and Resource Timing, FCP and
LCP from PerformanceObservers, and Chromium's own prefetch statuses from the DevTools protocol.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from prefetch_lab.audit.gather import devices, netprofile
from prefetch_lab.audit.gather.walk import OpenedPage, Step
from prefetch_lab.audit.gather.netshaper import shaped
from prefetch_lab.audit.gather.page_scripts import (
    CLOCK_MARK_JS, COLLECT_JS, OBSERVERS_JS, PRESS_POINT_JS, VISIBLE_LINKS_JS, WHERE_JS, press_point, script_prefetch, settle_kind)
from prefetch_lab.audit.gather.trace_frames import CLOCK_MARK, TRACE_CATEGORIES, FrameFolder

logger = logging.getLogger(__name__)

# Chromium refuses to start as root with its sandbox; anyone else keeps it, since the audit
# browses third-party sites (the audit's `environment.sandbox` says which).
SANDBOXED = os.geteuid() != 0
CHROMIUM_ARGS = [
    *([] if SANDBOXED else ["--no-sandbox"]),
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Chromium's own background traffic would show up in the proxy (and fail on a closed network).
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-bypass-list=<-loopback>",  # test origins on 127.0.0.1 go through the proxy too
]
MOBILE_DEVICE = "Pixel 7"

@dataclass(frozen=True)
class Moves:
    """How the walk moves (documented defaults, like a person reading and clicking)."""

    dwell_ms: int = 2000  # on each page before moving to the next link (and before reading metrics)
    hover_ms: int = 250  # pointer over the link before pressing
    press_ms: int = 100  # between pointer down and up
    nav_timeout_ms: int = 30_000


def find_chromium(explicit: str | None) -> str | None:
    """--chromium PATH, else Debian's, else None (Playwright's own browser, where installed)."""
    if explicit:
        if not Path(explicit).exists():
            raise FileNotFoundError(f"--chromium {explicit}: no such file")
        return explicit
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


class AuditBrowser:
    """One Chromium for the whole audit; every measured run gets a fresh context (profile).

    The device: `mobile` is Playwright's Pixel 7, else `device` a devices.py preset's screen and
    user agent, else Playwright's default desktop context; `cpu_slowdown` (Emulation.setCPUThrottlingRate)
    and the network apply to measured sessions only."""

    def __init__(self, chromium: str | None, trusted_spki: str | None, throttle: str, mobile: bool,
                 device: str | None = None, cpu_slowdown: float = 1.0) -> None:
        from playwright.sync_api import sync_playwright

        self.network = netprofile.profile(throttle)
        self.cpu_slowdown = cpu_slowdown
        self._playwright = sync_playwright().start()
        args = list(CHROMIUM_ARGS)
        if trusted_spki:  # trust the proxy's CA, so service workers work on https sites
            args.append(f"--ignore-certificate-errors-spki-list={trusted_spki}")
        try:
            self.browser = self._playwright.chromium.launch(executable_path=chromium, headless=True, args=args)
        except Exception:
            self._playwright.stop()
            raise
        self.device = (dict(self._playwright.devices[MOBILE_DEVICE]) if mobile
                       else devices.preset(device).descriptor() if device else {})
        self.device.pop("default_browser_type", None)
        self.device_name = device_name(mobile, device)

    def emulation(self) -> dict:
        """What the measured pages ran on, for the audit's `environment`."""
        cdp = self.browser.new_browser_cdp_session()
        try:
            default_agent = cdp.send("Browser.getVersion")["userAgent"]
        finally:
            cdp.detach()
        return emulation_of(self.device_name, self.device, self.cpu_slowdown, default_agent)

    @property
    def version(self) -> str:
        return self.browser.version

    @contextmanager
    def session(self, proxy_server: str, moves: Moves, throttled: bool = True,
                frames: FrameFolder | None = None) -> Iterator["Session"]:
        """A fresh profile; `throttled=False` for what is not measured (planning, warming, training).
        With `frames`, every step's filmstrip is recorded there."""
        with shaped(proxy_server, self.network if throttled else None) as browser_proxy:
            context = self.browser.new_context(proxy={"server": browser_proxy}, **self.device)
            try:
                yield Session(context, moves, self.cpu_slowdown if throttled else 1.0, frames, self.browser)
            except BaseException:
                # Ctrl-C lands inside a Playwright call, whose connection then fails the close
                # ("Cannot find command to respond"): the interrupt, not that, is what happened.
                try:
                    context.close()
                except Exception as e:
                    logger.debug(f"closing the browser context after an interruption failed: {type(e).__name__}: {e}")
                raise
            context.close()

    def close(self) -> None:
        try:
            self.browser.close()
        finally:
            self._playwright.stop()


class Session:
    """One browser profile on one page, with CDP listening for Chromium's prefetch statuses."""

    def __init__(self, context, moves: Moves, cpu_slowdown: float = 1.0, frames: FrameFolder | None = None,
                 browser=None) -> None:
        self.moves = moves
        self.frames = frames
        self.browser = browser
        context.add_init_script(OBSERVERS_JS)
        self.page = context.new_page()
        self.preload_events: list[dict] = []
        self.console_errors: list[str] = []
        self.steps: list[dict] = []
        self.page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.script_prefetches: list[dict] = []  # the site's script prefetches (page_scripts.script_prefetch)
        cdp = context.new_cdp_session(self.page)
        for event in ("Preload.prefetchStatusUpdated", "Preload.prerenderStatusUpdated"):
            cdp.on(event, self._preload_listener(event))
        cdp.on("Network.requestWillBeSent", self._keep_script_prefetch)
        cdp.send("Preload.enable")
        cdp.send("Network.enable")
        if cpu_slowdown != 1:  # the page's renderer; Playwright's pages never prerender (see cdp_driver.py)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu_slowdown})

    def _keep_script_prefetch(self, params: dict) -> None:
        if found := script_prefetch(params):
            self.script_prefetches.append(found)

    def _preload_listener(self, name: str) -> Callable[[dict], None]:
        def listen(params: dict) -> None:
            self.preload_events.append({"event": name.split(".", 1)[1], "ts": time.time(), **params})
        return listen

    # ---- planning ------------------------------------------------------------------------

    def visible_links(self, url: str) -> OpenedPage:
        """Open `url` and list the links visible without scrolling (for the planner)."""
        response = self.page.goto(url, wait_until="load", timeout=self.moves.nav_timeout_ms)
        self.page.wait_for_timeout(200)  # late layout (web fonts, images without sizes)
        return self.page.url, self.page.evaluate(VISIBLE_LINKS_JS), response.status if response else None

    def page_links(self) -> dict:
        """Every link of the page showing (gather/page_links.py), for the deployment's lint."""
        from prefetch_lab.audit.gather.page_links import PAGE_LINKS_JS
        return self.page.evaluate(PAGE_LINKS_JS)

    def warm(self, urls: list[str]) -> None:
        """Popular traffic keeping the edge warm: open each page once (its subresources too)."""
        for url in urls:
            try:
                self.page.goto(url, wait_until="load", timeout=self.moves.nav_timeout_ms)
            except Exception:  # a page that fails here fails in the measured run too, and is reported there
                continue

    # ---- measuring -----------------------------------------------------------------------

    def walk(self, plan: list[Step], before_step: Callable[[Step], None] = lambda step: None) -> list[dict]:
        """Take the steps in order; `self.steps` keeps those taken if `before_step` stops the walk."""
        for step in plan:
            before_step(step)
            self.steps.append(self._take(step))
        return self.steps

    def _take(self, step: Step) -> dict:
        record = {"step": step.step, "url": step.url, "trigger": "start" if step.step == 0 else step.via,
                  "started": time.time(), "error": None, "document": None, "page": None, "filmstrip": [],
                  "kind": None, "press": None, "press_problem": None}
        tracing = False
        try:
            point = self._press_point(step, record)
            if self.frames:
                # On the page's session: Chromium takes trace screenshots only for a page target.
                self.browser.start_tracing(page=self.page, screenshots=True, categories=list(TRACE_CATEGORIES))
                tracing = True
            origin_before, url_before = self.page.evaluate(WHERE_JS) if step.step else (None, None)
            record["started"] = time.time()
            # A soft navigation (pushState) ends the wait at once, with no response (Playwright's
            # same-document navigation): the dwell is the view's time to paint.
            response = self._press(point) if point else self._goto(step.url)
            record["document"] = describe_response(response)
            self.page.wait_for_timeout(self.moves.dwell_ms)
            record["page"] = self.page.evaluate(COLLECT_JS)
            settle_kind(record, origin_before, url_before)
            if tracing:
                mark = f"{CLOCK_MARK}-{step.step}"
                mark_start = self.page.evaluate(CLOCK_MARK_JS, mark)
                tracing = False
                record["filmstrip"] = self.frames.keep(step.step, self.browser.stop_tracing(), mark, mark_start, record["page"])
        except Exception as e:  # one failed page must not end the walk: report it and go on
            record["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            if tracing:  # one trace at a time per browser: end this one whatever happened
                try:
                    self.browser.stop_tracing()
                except Exception as e:
                    logger.debug(f"stopping the trace failed: {type(e).__name__}: {e}")
        return record

    def _press_point(self, step: Step, record: dict) -> tuple[float, float] | None:
        """Where to press the step's link (scrolled clear if covered); None, and the step typed
        instead with the reason recorded, where it cannot be pressed."""
        if step.via != "link":
            return None
        return press_point(self.page.evaluate(PRESS_POINT_JS, step.url), record)

    def _press(self, point: tuple[float, float]):
        mouse = self.page.mouse
        mouse.move(*point, steps=5)
        self.page.wait_for_timeout(self.moves.hover_ms)
        with self.page.expect_navigation(wait_until="load", timeout=self.moves.nav_timeout_ms) as navigation:
            mouse.down()
            self.page.wait_for_timeout(self.moves.press_ms)
            mouse.up()
        return navigation.value

    def _goto(self, url: str):
        return self.page.goto(url, wait_until="load", timeout=self.moves.nav_timeout_ms)


def device_name(mobile: bool, device: str | None) -> str:
    return f"{MOBILE_DEVICE} (--mobile)" if mobile else device or "default desktop"


def emulation_of(name: str, device: dict | None, cpu_slowdown: float, default_agent: str) -> dict:
    """The device as the audit's `environment` reports it: `device` a Playwright descriptor, or
    None/{} for the default desktop (1280 x 720, both drivers)."""
    device = device or {}
    viewport = device.get("viewport") or {"width": 1280, "height": 720}
    return {"device": name, "cpu_slowdown": cpu_slowdown,
            "viewport": {"width": viewport["width"], "height": viewport["height"],
                         "device_scale_factor": device.get("device_scale_factor", 1), "mobile": device.get("is_mobile", False)},
            "user_agent": device.get("user_agent") or default_agent}


def describe_response(response) -> dict | None:
    if response is None:
        return None
    # `headers`, not `all_headers()`: the raw headers of a navigation served from a prefetch never
    # arrive over CDP, and all_headers() then waits for ever (seen with Chromium 156).
    return {"status": response.status, "headers": dict(response.headers),
            "from_service_worker": response.from_service_worker, "redirects": redirect_chain(response.request)}


def redirect_chain(request, limit: int = 20) -> list[dict]:
    """The redirects before the document's request, first first: {url, status} each."""
    chain = []
    request = request.redirected_from
    while request is not None and len(chain) < limit:
        response = request.response()
        chain.append({"url": request.url, "status": response.status if response else None})
        request = request.redirected_from
    return chain[::-1]
