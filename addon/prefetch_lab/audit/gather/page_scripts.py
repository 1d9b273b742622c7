"""The scripts both browser drivers run in the pages they measure (playwright_driver.py,
cdp_driver.py), and how a press's result is told apart: a new document, or a soft navigation.

OBSERVERS_JS runs in every document before its own scripts; COLLECT_JS reads what it saw at the
end of a step's dwell; VISIBLE_LINKS_JS lists the links a person could press now.

Soft navigations (client-side routing: a press changes the URL through the History or Navigation
API, and no document is requested). Navigation Timing and the page's LCP still describe the
document the visitor landed on, so they say nothing of a soft navigation. What is measured
instead, from the press's release (the click: where a document navigation's start is too):
- `url_change`: when the URL changed (the Navigation API's `currententrychange`; the History
  API's pushState/replaceState/popstate where there is no Navigation API);
- `first_paint` and `lcp` (the largest paint of the new view), by Chromium's soft-navigation
  heuristics where the running Chromium has them (Chromium 156 does, by default: the
  `soft-navigation` entry's presentationTime, and the `interaction-contentful-paint` entry of the
  same navigationId, whose largestContentfulPaint is the new view's largest paint) - method
  "chromium";
- else (an older Chromium, or a route change its heuristics did not count, e.g. one that painted
  nothing contentful) by our own: the start of the first animation frame after a DOM change since
  the press, and of the last one before the dwell ended - method "own". A frame's start comes
  about one frame (~16 ms) before Chromium's presentation time, and "the last DOM change" is not
  the largest paint: the figures are labelled by method and never pooled with Chromium's.
"""

from __future__ import annotations

# Where the page is before a press: its document (time origin) and URL (navigation_kind).
WHERE_JS = "() => [performance.timeOrigin, location.href]"
# A User Timing mark made just before a trace stops: the page's clock on the trace's (trace_frames.py).
CLOCK_MARK_JS = "(name) => performance.mark(name).startTime"

# Runs in every document before its own scripts: FCP, LCP (with its entry, for the attribution)
# and CLS as the page reports them. CLS as web-vitals computes it: layout shifts without recent
# input, grouped in session windows (a gap under 1 s, at most 5 s long), the largest window's sum.
OBSERVERS_JS = """(() => {
  const pl = window.__prefetchLab = {fcp: null, lcp: null, lcpElement: null, lcpEntry: null, cls: 0,
                                     wasPrerendering: document.prerendering === true};
  const describe = (el) => el ? el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") : null;
  let session = 0, first = null, last = null;

  // Soft navigations (see the module's docstring): the press, URL changes without a new document,
  // Chromium's soft-navigation entries and the largest paint after each, and our own frame times.
  pl.press = null; pl.click = null; pl.urlChanges = []; pl.soft = []; pl.icp = {}; pl.ownFirst = null; pl.ownLast = null;
  addEventListener("pointerdown", (e) => { pl.press = e.timeStamp; pl.ownFirst = pl.ownLast = null; }, true);
  addEventListener("click", (e) => { pl.click = e.timeStamp; }, true);
  let lastUrl = location.href;
  const urlChanged = () => {
    if (location.href === lastUrl) return;
    lastUrl = location.href;
    if (pl.urlChanges.length < 100) pl.urlChanges.push({url: location.href, t: performance.now()});
  };
  if (window.navigation) navigation.addEventListener("currententrychange", urlChanged);
  else for (const name of ["pushState", "replaceState"]) {
    const original = history[name];
    history[name] = function (...args) { const result = original.apply(this, args); urlChanged(); return result; };
  }
  addEventListener("popstate", urlChanged);
  let framePending = false;
  new MutationObserver(() => {
    if (pl.press === null || framePending) return;
    framePending = true;
    requestAnimationFrame((t) => { framePending = false; if (pl.ownFirst === null) pl.ownFirst = t; pl.ownLast = t; });
  }).observe(document, {childList: true, subtree: true, characterData: true});
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (pl.soft.length < 100) pl.soft.push({
        url: e.name, id: e.navigationId, start: e.startTime, type: e.navigationType || null,
        firstPaint: e.presentationTime || e.startTime + e.duration});
    }).observe({type: "soft-navigation", buffered: true});
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const l = e.largestContentfulPaint;
        pl.icp[e.navigationId] = l ? {t: l.presentationTime || l.renderTime || l.startTime, element: describe(l.element), url: l.url || null}
                                   : {t: e.presentationTime || e.startTime + e.duration, element: null, url: null};
      }
    }).observe({type: "interaction-contentful-paint", buffered: true});
  } catch (e) { /* no soft-navigation heuristics: our own method (pl.ownFirst, pl.ownLast) */ }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (e.name === "first-contentful-paint") pl.fcp = e.startTime;
    }).observe({type: "paint", buffered: true});
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        pl.lcp = e.startTime; pl.lcpElement = describe(e.element) || e.url || null;
        pl.lcpEntry = {startTime: e.startTime, url: e.url || null, element: e.element || null,
                       tag: e.element ? e.element.tagName.toLowerCase() : null, id: e.element ? e.element.id || null : null};
      }
    }).observe({type: "largest-contentful-paint", buffered: true});
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        if (e.hadRecentInput) continue;
        if (session && e.startTime - last < 1000 && e.startTime - first < 5000) { session += e.value; }
        else { session = e.value; first = e.startTime; }
        last = e.startTime;
        pl.cls = Math.max(pl.cls, session);
      }
    }).observe({type: "layout-shift", buffered: true});
  } catch (e) { /* an old browser: the fields stay null */ }
})();"""

# The LCP attribution as web-vitals' attribution build computes it (onLCP, v4/v5), relative to
# the navigation's start (activationStart subtracted for a prerendered page): the four parts sum to
# the adjusted LCP, max(lcp - activationStart, 0).
COLLECT_JS = """() => {
  const pick = (e, keys) => Object.fromEntries(keys.map((k) => [k, e && e[k] !== undefined ? e[k] : null]));
  const nav = performance.getEntriesByType("navigation")[0];
  const pl = window.__prefetchLab || {};
  const attribution = () => {
    const lcp = pl.lcpEntry;
    if (!lcp || !nav) return null;
    const activation = nav.activationStart || 0;
    const resource = lcp.url ? performance.getEntriesByType("resource").find((e) => e.name === lcp.url) : null;
    const ttfb = Math.max(0, nav.responseStart - activation);
    const requestStart = Math.max(ttfb, resource ? (resource.requestStart || resource.startTime) - activation : 0);
    const responseEnd = Math.max(requestStart, resource ? resource.responseEnd - activation : 0);
    const renderTime = Math.max(responseEnd, lcp.startTime - activation);
    return {tag: lcp.tag, id: lcp.id, url: lcp.url, ttfb_ms: ttfb, load_delay_ms: requestStart - ttfb,
            load_time_ms: responseEnd - requestStart, render_delay_ms: renderTime - responseEnd};
  };
  // The soft navigation the last press made in this document (null: none, or no press yet).
  const softNavigation = () => {
    if (pl.press === null || pl.press === undefined) return null;
    const changes = (pl.urlChanges || []).filter((c) => c.t >= pl.press);
    const entries = (pl.soft || []).filter((e) => e.start >= pl.press);
    const entry = entries.length ? entries[entries.length - 1] : null;
    if (!entry && !changes.length) return null;
    const paint = entry ? (pl.icp || {})[entry.id] : null;
    return {method: entry ? "chromium" : "own", url: entry ? entry.url : changes[changes.length - 1].url,
            press: pl.press, start: entry ? entry.start : (pl.click !== null && pl.click >= pl.press ? pl.click : pl.press),
            url_change: changes.length ? changes[0].t : null, navigation_type: entry ? entry.type : null,
            first_paint: entry ? entry.firstPaint : pl.ownFirst, lcp: entry ? (paint ? paint.t : null) : pl.ownLast,
            lcp_element: paint ? paint.element : null, lcp_url: paint ? paint.url : null};
  };
  return {
    url: location.href,
    time_origin: performance.timeOrigin,
    nav: pick(nav, ["deliveryType", "activationStart", "startTime", "workerStart", "fetchStart", "requestStart",
                    "responseStart", "responseEnd", "domContentLoadedEventEnd", "loadEventEnd", "transferSize",
                    "encodedBodySize", "decodedBodySize", "type", "nextHopProtocol", "name"]),
    fcp: pl.fcp ?? null, lcp: pl.lcp ?? null, lcp_element: pl.lcpElement ?? null,
    lcp_attribution: attribution(), cls: pl.cls ?? null, soft_navigation: softNavigation(),
    visibility: document.visibilityState,
    was_prerendered: !!pl.wasPrerendering,
    resources: performance.getEntriesByType("resource").map((e) => pick(e, [
      "name", "initiatorType", "startTime", "workerStart", "fetchStart", "requestStart", "responseStart",
      "responseEnd", "transferSize", "encodedBodySize", "decodedBodySize", "deliveryType", "renderBlockingStatus"])),
    marks: performance.getEntriesByType("mark").map((e) => ({name: e.name, startTime: e.startTime})),
  };
}"""

# Where a person would press a link: the centre of the first of its boxes whose centre is the
# link itself (a link that wraps onto two lines has a box per line, and the centre of their
# bounding rectangle can fall between them, on the paragraph: a press there goes nowhere), else of
# its bounding rectangle; in the viewport, and not covered there. `pointOf(a)` gives {x, y}, or
# {cover} naming what is on top of it (a cookie banner, a sticky header), or null (not in view).
LINK_POINT_JS = """
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + (el.classList && el.classList.length ? "." + Array.from(el.classList).slice(0, 2).join(".") : "");
  const pointOn = (a, r) => {
    if (r.width < 1 || r.height < 1 || r.bottom <= 0 || r.right <= 0 || r.top >= innerHeight || r.left >= innerWidth) return null;
    const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1);
    const y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
    const hit = document.elementFromPoint(x, y);
    return hit && (hit === a || a.contains(hit)) ? {x, y} : {cover: hit ? describe(hit) : "nothing"};
  };
  const pointOf = (a) => {
    let cover = null;
    for (const r of [...a.getClientRects(), a.getBoundingClientRect()]) {
      const found = pointOn(a, r);
      if (found && found.cover === undefined) return found;
      cover = cover || found;
    }
    return cover;
  };
"""

# The links a person can see and press now; those in view but covered come with `covered_by`
# (the walk never chooses them, and records why: walk.py).
VISIBLE_LINKS_JS = """() => {""" + LINK_POINT_JS + """
  const links = [];
  for (const a of document.querySelectorAll("a[href]")) {
    const point = pointOf(a);
    if (!point) continue;
    links.push({href: a.href, text: (a.innerText || a.textContent || "").trim().replace(/\\s+/g, " ").slice(0, 100),
                target: a.target || "", download: a.hasAttribute("download"),
                x: point.cover === undefined ? point.x : null, y: point.cover === undefined ? point.y : null,
                covered_by: point.cover === undefined ? null : point.cover});
  }
  return links;
}"""

# Where to press the link to `target` (its URL, any #fragment aside) in the measured walk. Not
# pressable where it is (covered, or out of view): scroll it to the middle of the viewport, clear
# of banners and sticky bars at the edges, and look again. {x, y, scrolled, covered_by} where it
# can be pressed (covered_by: what covered it before the scroll); {x: null, covered_by, found}
# where it cannot.
PRESS_POINT_JS = """(target) => {""" + LINK_POINT_JS + """
  const bare = (url) => url.split("#")[0];
  const links = Array.from(document.querySelectorAll("a[href]")).filter((a) => bare(a.href) === bare(target));
  let cover = null;
  for (const scrolled of [false, true]) {
    for (const a of links) {
      const point = pointOf(a);
      if (point && point.cover === undefined) return {x: point.x, y: point.y, scrolled, covered_by: cover};
      if (point) cover = cover || point.cover;
    }
    if (!scrolled && links.length) links[0].scrollIntoView({block: "center", inline: "nearest"});
  }
  return {x: null, y: null, scrolled: links.length > 0, covered_by: cover, found: links.length > 0};
}"""


def press_problem(found: dict | None) -> str | None:
    """Why the walk typed a link's address instead of pressing it (PRESS_POINT_JS's answer)."""
    if not found or found.get("x") is not None:
        return None
    if found.get("covered_by"):
        return f"covered by {found['covered_by']}, even scrolled to the middle of the viewport"
    return "no such link on the page" if not found.get("found") else "the link is not shown (no size, or hidden)"


def press_point(found: dict | None, record: dict) -> tuple[float, float] | None:
    """PRESS_POINT_JS's answer into the step's record: `press` (scrolled, covered_by), and where
    the link cannot be pressed, `press_problem` and the trigger `goto` (the address typed)."""
    found = found or {}
    record["press"] = {"scrolled": bool(found.get("scrolled")), "covered_by": found.get("covered_by")}
    if found.get("x") is None:
        record["trigger"], record["press_problem"] = "goto", press_problem(found)
        return None
    return found["x"], found["y"]


# A site's script prefetches (no Sec-Purpose: to the edge, ordinary requests): fetch() or XHR at
# low priority (quicklink's and many routers' `priority: "low"`), or with a prefetch hint header of
# the site's own (Next.js's Next-Router-Prefetch; the older Purpose, X-Purpose, X-Moz: prefetch).
PREFETCH_HINT_HEADERS = {"next-router-prefetch": "", "purpose": "prefetch", "x-purpose": "prefetch", "x-moz": "prefetch"}
LOW_PRIORITIES = ("VeryLow", "Low")


def script_prefetch(params: dict) -> dict | None:
    """A CDP Network.requestWillBeSent's params, as {url, ts (epoch s), type, hint} when it is a
    script's prefetch; None for any other request (one with Sec-Purpose the edge records itself)."""
    request = params.get("request") or {}
    if params.get("type") not in ("Fetch", "XHR") or params.get("redirectResponse"):
        return None
    headers = {str(k).lower(): str(v).lower() for k, v in (request.get("headers") or {}).items()}
    if "sec-purpose" in headers:
        return None
    hint = next((name for name, value in PREFETCH_HINT_HEADERS.items() if name in headers and value in headers[name]), None)
    if hint is None and request.get("initialPriority") in LOW_PRIORITIES:
        hint = f"priority {request['initialPriority']}"
    if hint is None:
        return None
    return {"url": request.get("url"), "ts": params.get("wallTime"), "type": params["type"], "hint": hint}


def navigation_kind(origin_before: float | None, url_before: str | None, page: dict | None) -> str | None:
    """What a press did, from the page's `time_origin` and URL before it and COLLECT_JS's result
    after: "document" (a new document: a new time origin), "soft" (the same document at a new
    URL), or None (the same document at the same URL: the press navigated nowhere)."""
    if page is None:
        return None
    if origin_before is None or page.get("time_origin") != origin_before:
        return "document"
    return "soft" if page.get("url") != url_before or page.get("soft_navigation") else None


def settle_kind(record: dict, origin_before: float | None, url_before: str | None) -> None:
    """Set a measured step's `kind` (and keep `page.soft_navigation` only on a soft step: a
    document's own URL changes after load are not navigations of the walk)."""
    page = record.get("page")
    kind = navigation_kind(origin_before, url_before, page) if record["trigger"] != "start" else "document"
    record["kind"] = kind
    if isinstance(page, dict) and kind != "soft":
        page["soft_navigation"] = None
    if kind is None and not record.get("error"):
        record["error"] = "NoNavigation: the press changed neither the document nor the URL"
