"""The audit's browser without Playwright: headless Chromium over the DevTools pipe (cdp_pipe.py),
so speculation rules can prerender.

Why a second driver: Chromium refuses to prerender in a tab whose page has a DevTools session
attached directly (`PrerenderingDisabledByDevTools`), which is how Playwright attaches; here
every page is reached through its tab target, as Puppeteer does. An audit with a `learned` arm
drives every arm with this one (audit/run.py), so arms differ only in what the proxy serves; the
others keep Playwright (playwright_driver.py), whose sessions are the better-trodden path.

`CdpBrowser` and `CdpSession` have the interface of playwright_driver's `AuditBrowser` and `Session`
(session(proxy, moves), visible_links, warm, walk, steps, preload_events, console_errors), and
the same page scripts (OBSERVERS_JS, COLLECT_JS, VISIBLE_LINKS_JS). Each session is its own
Chromium process with a fresh profile and `--proxy-server`, which is what a fresh Playwright
context with a proxy is.

Pages and prerenders. The tab auto-attaches its pages paused (`waitForDebuggerOnStart`), so the
observers and device emulation are in place before a prerendered page runs a line;
a background thread sets each one up and resumes it. When a press activates a prerender, the
prerender's target becomes the tab's page (Chromium drops the old page's target), and the
session follows it. Per step the driver records `delivery`: "prerender" when the press activated
a prerendered page, else what Navigation Timing says ("prefetch", "cache", "service-worker",
"network").

Filmstrips: per step, a trace with screenshots (trace_frames.py) recorded on the *tab* target's
session. Chromium takes trace screenshots only for a trace started on a page or tab target (none
from the browser target's), and a trace on the page's session ends when a press activates a
prerender and that page's target goes; the tab's outlives it, and shows the activated page.

CPU slowdown (`Emulation.setCPUThrottlingRate`) is per target, like the rest of the emulation: it
is in every page's set-up, so a prerendered page, paused at its start until set up, runs its
first line already slowed (tests/browser/test_devices.py measures it in an activated prerender).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefetch_lab.audit.gather import devices, netprofile
from prefetch_lab.audit.gather.page_scripts import (
    COLLECT_JS, OBSERVERS_JS, PRESS_POINT_JS, VISIBLE_LINKS_JS, WHERE_JS, press_point, script_prefetch, settle_kind)
from prefetch_lab.audit.gather.playwright_driver import CHROMIUM_ARGS, MOBILE_DEVICE, Moves, device_name, emulation_of
from prefetch_lab.audit.gather.netshaper import shaped
from prefetch_lab.audit.gather.walk import OpenedPage, Step, without_fragment
from prefetch_lab.audit.gather.cdp_pipe import CdpError, PipeChromium
from prefetch_lab.audit.gather.trace_frames import CLOCK_MARK, TRACE_CATEGORIES, FrameFolder

logger = logging.getLogger(__name__)
# What Playwright 1.5x launches Chromium with (read from its process), minus what concerns Edge,
# extensions and the window: the same browser as the Playwright driver's, and quiet (without them
# Chromium's network-time and updater requests reach the proxy and count as origin requests).
PLAYWRIGHT_ARGS = [
    "--disable-field-trial-config", "--disable-background-networking", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--disable-back-forward-cache", "--disable-breakpad",
    "--disable-component-extensions-with-background-pages", "--disable-component-update", "--no-default-browser-check",
    "--disable-default-apps", "--disable-dev-shm-usage", "--disable-extensions", "--disable-pings", "--media-router=0",
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,HttpsUpgrades,"
    "HttpsFirstBalancedModeAutoEnable,LensOverlay,MediaRouter,PaintHolding,ThirdPartyStoragePartitioning,"
    "AvoidCorsURLLoaderRestartOnRedirect,OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,PreconnectToSearch",
    "--allow-pre-commit-input", "--disable-hang-monitor", "--disable-ipc-flooding-protection", "--disable-popup-blocking",
    "--disable-prompt-on-repost", "--disable-renderer-backgrounding", "--disable-updater-scheduler",
    "--force-color-profile=srgb", "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
    "--no-service-autorun", "--disable-search-engine-choice-screen", "--disable-stack-profiler", "--disable-infobars",
    "--hide-scrollbars", "--mute-audio",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
]
DESKTOP_VIEWPORT = (1280, 720)  # Playwright's default context viewport, so both drivers see the same links
PRELOAD_EVENTS = ("Preload.prefetchStatusUpdated", "Preload.prerenderStatusUpdated")
POLL_S = 0.02
POINTER_STEPS = 5  # like Playwright's mouse.move(steps=5)


def mobile_device() -> dict:
    """Playwright's descriptor of the phone --mobile emulates (its driver starts, no browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        return dict(playwright.devices[MOBILE_DEVICE])


class CdpBrowser:
    """One Chromium for the whole audit; every session gets a fresh browser context (profile)
    with the session's proxy, as a Playwright context with a proxy is. Chromium's own
    background requests stay outside the proxy (its default context has none)."""

    def __init__(self, chromium: str | None, trusted_spki: str | None, throttle: str, mobile: bool,
                 device: str | None = None, cpu_slowdown: float = 1.0) -> None:
        if chromium is None:
            raise FileNotFoundError("the DevTools-pipe driver needs a Chromium binary (--chromium PATH)")
        self.network = netprofile.profile(throttle)
        self.cpu_slowdown = cpu_slowdown
        self.device = mobile_device() if mobile else devices.preset(device).descriptor() if device else None
        self.device_name = device_name(mobile, device)
        width, height = (self.device["viewport"]["width"], self.device["viewport"]["height"]) if self.device else DESKTOP_VIEWPORT
        args = [*PLAYWRIGHT_ARGS, *CHROMIUM_ARGS, f"--window-size={width},{height}"]
        if trusted_spki:
            args.append(f"--ignore-certificate-errors-spki-list={trusted_spki}")
        if self.device:  # also on what a prerendered page requests, which no page session sees first
            args.append(f"--user-agent={self.device['user_agent']}")
        self.chromium = PipeChromium(chromium, args)
        try:
            about = self.chromium.send("Browser.getVersion")
            self.version = about["product"].split("/", 1)[-1]  # "HeadlessChrome/156.…"
            self.default_agent = about["userAgent"]
            self.chromium.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False,
                                                        "flatten": True, "filter": [{"type": "tab"}]})
        except BaseException:
            self.chromium.close()
            raise

    @contextmanager
    def session(self, proxy_server: str, moves: Moves, throttled: bool = True,
                frames: FrameFolder | None = None) -> Iterator["CdpSession"]:
        """A fresh profile; `throttled=False` for what is not measured (planning, warming, training).
        With `frames`, every step's filmstrip is recorded there."""
        with shaped(proxy_server, self.network if throttled else None) as browser_proxy:
            yield from self._session(browser_proxy, moves, self.cpu_slowdown if throttled else 1.0, frames)

    def _session(self, proxy_server: str, moves: Moves, cpu_slowdown: float = 1.0,
                 frames: FrameFolder | None = None) -> Iterator["CdpSession"]:
        context = self.chromium.send("Target.createBrowserContext", {
            "disposeOnDetach": True, "proxyServer": proxy_server, "proxyBypassList": "<-loopback>"})["browserContextId"]
        try:
            since = self.chromium.mark()
            page = self.chromium.send("Target.createTarget", {"url": "about:blank", "browserContextId": context})["targetId"]
            tab = self._tab_of(page, context, since)
            session = CdpSession(self.chromium, tab, page, moves, self.device, cpu_slowdown, frames)
            try:
                yield session
            finally:
                session.close()
        finally:
            try:
                self.chromium.send("Target.disposeBrowserContext", {"browserContextId": context})
            except CdpError as error:  # the browser is gone: close() reports nothing more
                logger.debug(f"browser context not disposed: {error}")

    def _tab_of(self, page: str, context: str, since: int) -> str:
        """The session of the tab target holding `page`. A new context's window brings tabs of
        its own (the omnibox popup's WebUI...): ask each new tab in the context for its page, and
        leave the others."""
        deadline = time.monotonic() + 10
        asked: set[str] = set()
        while time.monotonic() < deadline:
            tabs = [e["params"]["sessionId"] for e in self.chromium.events[since:] if e["method"] == "Target.attachedToTarget"
                    and e["params"]["targetInfo"]["type"] == "tab" and e["params"]["targetInfo"].get("browserContextId") == context]
            for tab in tabs:
                if tab in asked:
                    continue
                asked.add(tab)
                mark = self.chromium.mark()
                self.chromium.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True}, tab)
                try:
                    found = self.chromium.event("Target.attachedToTarget", session=tab, since=mark, timeout=1)
                except CdpError:
                    found = None
                if found and found["params"]["targetInfo"]["targetId"] == page:
                    return tab
                self.chromium.post("Target.detachFromTarget", {"sessionId": tab})
            time.sleep(POLL_S)
        raise CdpError(f"no tab holds the new page {page}")

    def emulation(self) -> dict:
        """What the measured pages ran on, for the audit's `environment`."""
        return emulation_of(self.device_name, self.device, self.cpu_slowdown, self.default_agent)

    def close(self) -> None:
        self.chromium.close()


class CdpSession:
    """One Chromium tab, its current page followed through navigations and activations."""

    def __init__(self, chromium: PipeChromium, tab: str, page_target: str, moves: Moves, device: dict | None,
                 cpu_slowdown: float = 1.0, frames: FrameFolder | None = None) -> None:
        self.chromium = chromium
        self.tab = tab
        self.moves = moves
        self.device = device
        self.cpu_slowdown = cpu_slowdown
        self.frames = frames
        self.steps: list[dict] = []
        self.extra_headers: dict[str, str] = {}  # set_extra_headers: on every request of the tab's pages
        self.console_errors: list[str] = []
        self.pointer = (0.0, 0.0)
        self._targets: dict[str, str] = {}  # targetId -> sessionId, pages attached to the tab
        self._prerenders: set[str] = set()  # targetIds attached as prerenders (and not yet activated)
        self._stop = threading.Event()
        self._cursor = self._start = chromium.mark()
        chromium.send("Target.setAutoAttach", {"autoAttach": True, "waitForDebuggerOnStart": True, "flatten": True}, tab)
        # The tab's page is attached already (CdpBrowser found the tab by it): this reattaches
        # nothing, and only what comes next (prerenders) waits for its set-up.
        first = chromium.find("Target.attachedToTarget", session=tab, where=lambda p: p["targetInfo"]["targetId"] == page_target)
        if first is None:
            raise CdpError(f"the tab's page {page_target} is not attached")
        self.page, self.page_target = first["params"]["sessionId"], page_target
        self._targets[self.page_target] = self.page
        self._cursor = chromium.mark()  # the attacher takes the targets after this one
        for method, params in self._setup_commands():
            chromium.post(method, params, self.page)
        chromium.send("Runtime.runIfWaitingForDebugger", {}, self.page)
        self._attacher = threading.Thread(target=self._attach_new_targets, daemon=True)
        self._attacher.start()

    # ---- targets -------------------------------------------------------------------------

    def _setup_commands(self) -> list[tuple[str, dict]]:
        commands = [("Page.enable", {}), ("Page.addScriptToEvaluateOnNewDocument", {"source": OBSERVERS_JS}),
                    ("Runtime.enable", {}), ("Network.enable", {}), ("Preload.enable", {})]
        # The viewport exactly (the window's is smaller by what headless Chromium keeps for its
        # own chrome): Playwright's 1280 x 720, or the phone's.
        if self.device:
            viewport = self.device["viewport"]
            commands += [
                ("Emulation.setDeviceMetricsOverride", {"width": viewport["width"], "height": viewport["height"],
                                                        "deviceScaleFactor": self.device["device_scale_factor"],
                                                        "mobile": self.device["is_mobile"]}),
                ("Emulation.setTouchEmulationEnabled", {"enabled": self.device["has_touch"]}),
            ]
        else:
            width, height = DESKTOP_VIEWPORT
            commands.append(("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}))
        if self.extra_headers:
            commands.append(("Network.setExtraHTTPHeaders", {"headers": self.extra_headers}))
        if self.cpu_slowdown != 1:
            commands.append(("Emulation.setCPUThrottlingRate", {"rate": self.cpu_slowdown}))
        return commands

    def set_extra_headers(self, headers: dict[str, str]) -> None:
        """Headers sent with every request of this tab's pages from now on (navigations, and
        prerenders set up later): the audit's training names its visitor with one."""
        self.extra_headers = dict(headers)
        for session in list(self._targets.values()):
            self.chromium.send("Network.setExtraHTTPHeaders", {"headers": self.extra_headers}, session)

    def _attach_new_targets(self) -> None:
        """Set up and resume every target the tab attaches (a prerender is one, paused)."""
        while not self._stop.is_set():
            events = self.chromium.events
            while self._cursor < len(events):
                event = events[self._cursor]
                self._cursor += 1
                if event["method"] == "Target.attachedToTarget" and event.get("sessionId") == self.tab:
                    self._set_up(event["params"])
            time.sleep(POLL_S)

    def _set_up(self, params: dict) -> None:
        session, info = params["sessionId"], params["targetInfo"]
        try:
            if info["type"] == "page":
                self._targets[info["targetId"]] = session
                if info.get("subtype") == "prerender":
                    self._prerenders.add(info["targetId"])
                for method, command in self._setup_commands():
                    self.chromium.post(method, command, session)
            if params.get("waitingForDebugger"):
                self.chromium.post("Runtime.runIfWaitingForDebugger", {}, session)
        except CdpError as error:  # the browser is closing
            logger.debug(f"target set-up failed: {error}")

    def _activated_prerender(self, since: int) -> str | None:
        """The targetId of a prerender that became the tab's page since event index `since`."""
        found = self.chromium.find(
            "Target.targetInfoChanged", session=self.tab, since=since,
            where=lambda p: p["targetInfo"]["targetId"] in self._prerenders and p["targetInfo"]["type"] == "page"
            and p["targetInfo"].get("subtype") != "prerender")
        return found["params"]["targetInfo"]["targetId"] if found else None

    # ---- pages ---------------------------------------------------------------------------

    def evaluate(self, expression: str, timeout: float = 10):
        return self.chromium.evaluate(self.page, expression, timeout)

    def call(self, function_source: str):
        """Run one of page_scripts' page functions (`() => {...}`) in the current page."""
        return self.evaluate(f"({function_source})()")

    def call_with(self, function_source: str, argument):
        """Run a page function of one argument (`(x) => {...}`), the argument as JSON."""
        return self.evaluate(f"({function_source})({json.dumps(argument)})")

    def _wait_for_load(self, since: int, allow_activation: bool) -> bool:
        """Wait for the navigation started at event index `since` to reach its load event, or to
        change the main frame's URL without a document (a soft navigation); True when it was a
        prerender's activation (the session then follows the activated page)."""
        deadline = time.monotonic() + self.moves.nav_timeout_ms / 1000
        while time.monotonic() < deadline:
            if allow_activation and (target := self._activated_prerender(since)):
                self._prerenders.discard(target)
                self.page, self.page_target = self._targets[target], target
                self._wait_until(lambda: self.evaluate("document.readyState") == "complete", deadline)
                return True
            if self.chromium.find("Page.loadEventFired", session=self.page, since=since) or self.chromium.find(
                    "Page.navigatedWithinDocument", session=self.page, since=since,
                    where=lambda p: p.get("frameId") == self.page_target):
                return False
            time.sleep(POLL_S)
        raise TimeoutError(f"no page load within {self.moves.nav_timeout_ms} ms")

    def _wait_until(self, condition: Callable[[], bool], deadline: float) -> None:
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page did not finish loading within {self.moves.nav_timeout_ms} ms")
            time.sleep(POLL_S)

    def _goto(self, url: str) -> int:
        since = self.chromium.mark()
        result = self.chromium.send("Page.navigate", {"url": url}, self.page)
        if result.get("errorText"):
            raise CdpError(f"navigation to {url} failed: {result['errorText']}")
        self._wait_for_load(since, allow_activation=True)
        return since

    def _document_response(self, since: int, session: str, target: str) -> dict | None:
        """The page's document response (from `session`, at event index >= since): the
        network's, a prefetch's, or the one a prerender loaded before its activation. The main
        frame's id is the target's."""
        events = [e for e in self.chromium.events[since:] if e.get("sessionId") == session
                  and e["params"].get("type") == "Document" and e["params"].get("frameId") == target]
        found = [e for e in events if e["method"] == "Network.responseReceived"]
        if not found:
            return None
        response = found[-1]["params"]["response"]
        # The redirects on the way (each a requestWillBeSent carrying the answer that redirected).
        redirects = [{"url": e["params"]["redirectResponse"].get("url"), "status": e["params"]["redirectResponse"].get("status")}
                     for e in events if e["method"] == "Network.requestWillBeSent" and e["params"].get("redirectResponse")
                     and e["params"].get("loaderId") == found[-1]["params"].get("loaderId")]
        return {"status": response.get("status"), "headers": {k.lower(): v for k, v in (response.get("headers") or {}).items()},
                "from_service_worker": bool(response.get("fromServiceWorker")), "redirects": redirects}

    # ---- planning ------------------------------------------------------------------------

    def visible_links(self, url: str) -> OpenedPage:
        """Open `url` and list the links visible without scrolling (for the planner)."""
        return self._opened(self._goto(url))

    def _opened(self, since: int) -> OpenedPage:
        """The page a navigation begun at event index `since` opened, as the planner sees it."""
        time.sleep(0.2)  # late layout (web fonts, images without sizes)
        document = self._document_response(since, self.page, self.page_target) or {}
        return self.evaluate("location.href"), self.call(VISIBLE_LINKS_JS), document.get("status")

    def page_links(self) -> dict:
        """Every link of the page showing (gather/page_links.py), for the deployment's lint."""
        from prefetch_lab.audit.gather.page_links import PAGE_LINKS_JS
        return self.call(PAGE_LINKS_JS)

    def follow(self, url: str) -> OpenedPage:
        """Go to `url` as a visitor would: press the visible link to it on this page, else type it
        (a training walk: the edge sees each page view with its Referer)."""
        point = self._link_position(url)
        return self._opened(self._press(point)[0] if point else self._goto(url))

    def warm(self, urls: list[str]) -> None:
        """Popular traffic keeping the edge warm: open each page once (its subresources too)."""
        for url in urls:
            try:
                self._goto(url)
            except (CdpError, TimeoutError):  # a page that fails here fails in the measured run too
                continue

    # ---- measuring -----------------------------------------------------------------------

    @property
    def preload_events(self) -> list[dict]:
        """Chromium's prefetch and prerender statuses, from every page of the tab, as playwright_driver records them."""
        return [{"event": e["method"].split(".", 1)[1], "ts": e["received"], **e["params"]}
                for e in self._own_events() if e["method"] in PRELOAD_EVENTS]

    @property
    def script_prefetches(self) -> list[dict]:
        """The site's script prefetches in the tab's pages (page_scripts.script_prefetch)."""
        return [found for e in self._own_events() if e["method"] == "Network.requestWillBeSent"
                and (found := script_prefetch(e["params"]))]

    def _own_events(self) -> list[dict]:
        """The events of this session's pages (the browser's other sessions share the pipe)."""
        sessions = set(self._targets.values())
        return [e for e in self.chromium.events[self._start:] if e.get("sessionId") in sessions]

    def walk(self, plan: list[Step], before_step: Callable[[Step], None] = lambda step: None) -> list[dict]:
        """Take the steps in order; `self.steps` keeps those taken if `before_step` stops the walk."""
        try:
            for step in plan:
                before_step(step)
                self.steps.append(self._take(step))
        finally:
            self._collect_console_errors()
        return self.steps

    def _take(self, step: Step) -> dict:
        record = {"step": step.step, "url": step.url, "trigger": "start" if step.step == 0 else step.via,
                  "started": time.time(), "error": None, "document": None, "page": None, "delivery": None,
                  "filmstrip": [], "kind": None, "press": None, "press_problem": None}
        tracing = False
        try:
            point = press_point(self.call_with(PRESS_POINT_JS, step.url), record) if step.via == "link" else None
            if self.frames:
                self.chromium.send("Tracing.start", {"transferMode": "ReturnAsStream",
                                                     "traceConfig": {"includedCategories": TRACE_CATEGORIES}}, self.tab)
                tracing = True
            origin_before, url_before = self.call(WHERE_JS) if step.step else (None, None)
            record["started"] = time.time()
            before = self.page
            since, activated = self._press(point) if point else (self._goto(step.url), False)
            activated = activated or self.page != before
            record["document"] = self._document_response(0 if activated else since, self.page, self.page_target)
            time.sleep(self.moves.dwell_ms / 1000)
            record["page"] = self.call(COLLECT_JS)
            settle_kind(record, origin_before, url_before)
            record["delivery"] = "soft" if record["kind"] == "soft" else delivery(record["page"], activated)
            if tracing:
                mark = f"{CLOCK_MARK}-{step.step}"
                mark_start = self.evaluate(f"performance.mark({json.dumps(mark)}).startTime")
                tracing = False
                record["filmstrip"] = self.frames.keep(step.step, self._end_trace(), mark, mark_start, record["page"])
        except Exception as e:  # one failed page must not end the walk: report it and go on
            record["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        finally:
            if tracing:  # the next step starts its own trace: end this one whatever happened
                try:
                    self._end_trace()
                except (CdpError, TimeoutError) as e:
                    logger.debug(f"ending the trace failed: {e}")
        return record

    def _end_trace(self) -> bytes:
        """End the tab's trace and read it back from its stream."""
        since = self.chromium.mark()
        self.chromium.send("Tracing.end", {}, self.tab)
        done = self.chromium.event("Tracing.tracingComplete", session=self.tab, since=since, timeout=60)
        return self.chromium.read_stream(done["params"]["stream"], self.tab)

    def _link_position(self, url: str) -> tuple[float, float] | None:
        """Where to press the visible link to `url` (training walks: not scrolled for)."""
        target = without_fragment(url)
        for link in self.call(VISIBLE_LINKS_JS):
            if without_fragment(link["href"]) == target and link.get("x") is not None:
                return link["x"], link["y"]
        return None

    def _press(self, point: tuple[float, float]) -> tuple[int, bool]:
        """Like a person: move onto the link, rest there, press, release; wait for the next page."""
        (x0, y0), (x, y) = self.pointer, point
        for i in range(1, POINTER_STEPS + 1):
            self.chromium.mouse(self.page, x0 + (x - x0) * i / POINTER_STEPS, y0 + (y - y0) * i / POINTER_STEPS, ("mouseMoved",))
        self.pointer = point
        time.sleep(self.moves.hover_ms / 1000)
        since = self.chromium.mark()
        self.chromium.mouse(self.page, x, y, ("mousePressed",))
        time.sleep(self.moves.press_ms / 1000)
        self.chromium.mouse(self.page, x, y, ("mouseReleased",))
        return since, self._wait_for_load(since, allow_activation=True)

    def _collect_console_errors(self) -> None:
        for e in self._own_events():
            if e["method"] == "Runtime.exceptionThrown":
                details = e["params"].get("exceptionDetails") or {}
                text = (details.get("exception") or {}).get("description") or details.get("text") or "exception"
                self.console_errors.append(f"pageerror: {text.splitlines()[0]}")
            elif e["method"] == "Runtime.consoleAPICalled" and e["params"].get("type") == "error":
                self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in e["params"].get("args") or []))

    def close(self) -> None:
        self._stop.set()
        self._attacher.join(2)


def delivery(page: dict | None, activated: bool) -> str | None:
    """How the step's document arrived: an activated prerender, a prefetch, a cache, or the network."""
    if page is None:
        return None
    nav = page.get("nav") or {}
    if activated or (nav.get("activationStart") or 0) > 0:
        return "prerender"
    return {"navigational-prefetch": "prefetch", "cache": "cache", "cache-storage": "service-worker"}.get(
        nav.get("deliveryType") or "", "network")

