/* Prefetch Lab install.js: the window half of Edgio-style predictive prefetching.
 * Served after manifest-eval.js (self.PrefetchLabRules). Registers the service worker, loads the
 * cache manifest, watches links, and asks the worker to prefetch the ones the rules allow. Any
 * failure is reported (console + proxy audit) and the page carries on: nothing here may throw
 * into the page or leave a rejected promise behind. */
(function () {
  "use strict";
  if (window.Edgio && window.Edgio.prefetchLab) return; // injected twice: the first copy wins

  const Rules = self.PrefetchLabRules;
  const SERVICE_WORKER_PATH = "/__edgio__/prefetch/service-worker.js";
  const MANIFEST_PATH = "/__edgio__/cache-manifest.js";
  const SPECULATION_RULES_PATH = "/__edgio__/speculation-rules.json";
  const REPORT_PATH = "/__edgio__/lab/report";
  const MAX_URL_LENGTH = 8192; // Edgio skips longer URLs
  const PREFETCH_TIMEOUT_MS = 30000;
  const WORKER_TIMEOUT_MS = 10000;
  const MANIFEST_TIMEOUT_MS = 10000;

  // Only readable while this script runs (not from callbacks).
  const ownScript = document.currentScript;
  const attribute = (name) => (ownScript ? ownScript.getAttribute(name) : null);
  // Edgio takes any non-empty value as true; we also honour "false" (see docs/browser-runtime.md).
  const isOn = (value) => value !== null && value !== undefined && value !== "" && String(value).toLowerCase() !== "false";
  const asRatio = (value) => {
    const number = Number(value);
    return number > 0 && number <= 1 ? number : 0;
  };

  const options = {
    includeCacheMisses: isOn(attribute("data-include-cache-misses")),
    forcePrefetchRatio: asRatio(attribute("data-force-prefetch-ratio")),
    serviceWorker: attribute("data-service-worker") === null || isOn(attribute("data-service-worker")),
    viewport: true, // prefetch links when they become visible (Edgio)
    hover: false, // also prefetch allowed links on hover
    maxConcurrent: 4,
    prefetchPatterns: [], // RegExps on the pathname that prefetch regardless of the manifest
    watch: [], // [{selector, callback(element)}], called once when a matching element becomes visible
  };

  // The edge's learned predictions for this page (prefetch_edgio_predicted, written into this
  // bundle by the edge): "first" prefetches them before the visible links, "only" instead of them.
  const predictedMode = self.__PREFETCH_LAB_PREDICTED__ || "off";
  if (predictedMode === "only") options.viewport = false;

  const state = {
    mode: "starting", // "service-worker" | "link" (no worker: <link rel=prefetch>) | "starting"
    manifest: null,
    results: [],
    reports: [],
    predicted: [], // the predicted pages, most likely first
  };

  function report(event, detail) {
    state.reports.push({ event, detail });
    console.warn(`[prefetch-lab] ${event}: ${detail}`);
    try {
      const body = JSON.stringify({ event, detail, page: location.href });
      if (!(navigator.sendBeacon && navigator.sendBeacon(REPORT_PATH, body))) {
        fetch(REPORT_PATH, { method: "POST", body, keepalive: true }).catch(() => {});
      }
    } catch (_) {
      // reporting is best effort; the page must never see it fail
    }
  }

  const safely = (what, action) => {
    try {
      return action();
    } catch (error) {
      report("error", `${what}: ${(error && error.message) || error}`);
      return undefined;
    }
  };

  const withTimeout = (promise, ms, what) =>
    Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms))]);

  const pageLoaded = new Promise((resolve) => {
    if (document.readyState === "complete") resolve();
    else window.addEventListener("load", () => resolve(), { once: true });
  });

  // --- The cache manifest: fetched and parsed as JSON (no script injection, so no CSP script-src
  // dependency and no hang when it fails: Edgio's loader has no onerror). ---
  async function loadManifest() {
    try {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), MANIFEST_TIMEOUT_MS);
      const response = await fetch(MANIFEST_PATH, { credentials: "same-origin", signal: controller.signal });
      clearTimeout(timer);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const text = await response.text();
      const json = text.slice(text.indexOf("=") + 1).trim().replace(/;\s*$/, "");
      const manifest = JSON.parse(json);
      if (!manifest || !Array.isArray(manifest.rules)) throw new Error("no rules array");
      state.manifest = manifest;
    } catch (error) {
      report("manifest-unavailable", `${MANIFEST_PATH}: ${(error && error.message) || error}; only manual and pattern prefetches will run`);
    }
  }

  // The page's learned rules document lists the predicted next pages, most likely band first
  // (prerender, then prefetch list rules); the fallback document rule is not a prediction.
  async function loadPredictions() {
    if (predictedMode === "off") return;
    const page = Rules.cacheKeyUrl(location.href).slice(location.origin.length);
    const url = `${SPECULATION_RULES_PATH}?page=${encodeURIComponent(page)}`;
    try {
      const response = await withTimeout(fetch(url, { credentials: "same-origin" }), MANIFEST_TIMEOUT_MS, url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const rules = await response.json();
      for (const kind of ["prerender", "prefetch"]) {
        for (const rule of rules[kind] || []) {
          if (rule.source === "list" && Array.isArray(rule.urls)) state.predicted.push(...rule.urls);
        }
      }
    } catch (error) {
      report("predictions-unavailable", `${url}: ${(error && error.message) || error}`);
    }
  }

  function prefetchPredicted() {
    for (const href of state.predicted) {
      const url = sameOriginUrl(href);
      if (url && rulesAllow(url)) enqueue(url.href, "fetch", prefetchConfig());
    }
  }

  const networkIsConstrained = () => {
    const connection = navigator.connection;
    if (!connection) return null;
    if (connection.saveData) return "save-data";
    if (/(^|-)2g$/.test(connection.effectiveType || "")) return `effective-connection-${connection.effectiveType}`;
    return null;
  };

  // --- Transports: the service worker (preferred) or <link rel=prefetch> into the HTTP cache. ---
  let sendPrefetch = null;
  let transportReady;
  const transportPromise = new Promise((resolve) => (transportReady = resolve));

  async function startServiceWorker() {
    if (!options.serviceWorker) {
      report("service-worker-off", "the proxy says this page's CSP forbids workers; falling back to <link rel=prefetch>");
      return useLinkPrefetch();
    }
    if (!("serviceWorker" in navigator)) {
      report("service-worker-unavailable", "navigator.serviceWorker is missing (private window or insecure context); falling back to <link rel=prefetch>");
      return useLinkPrefetch();
    }
    try {
      const registration = await navigator.serviceWorker.register(SERVICE_WORKER_PATH, { scope: "/", updateViaCache: "none" });
      const worker = await withTimeout(activeWorker(registration), WORKER_TIMEOUT_MS, "service worker activation");
      state.mode = "service-worker";
      sendPrefetch = askWorker;
      navigator.serviceWorker.addEventListener("controllerchange", () => (state.worker = navigator.serviceWorker.controller));
      state.worker = worker;
      transportReady();
    } catch (error) {
      report("service-worker-failed", `${(error && error.message) || error}; falling back to <link rel=prefetch>`);
      useLinkPrefetch();
    }
  }

  function activeWorker(registration) {
    if (registration.active) return Promise.resolve(registration.active);
    const pending = registration.installing || registration.waiting;
    return new Promise((resolve, reject) => {
      if (!pending) return reject(new Error("registration has no worker"));
      pending.addEventListener("statechange", () => {
        if (pending.state === "activated") resolve(pending);
        if (pending.state === "redundant") reject(new Error("the service worker failed to install"));
      });
    });
  }

  /** Post `message` to the worker in charge and wait for its reply on a MessageChannel. A worker
   * replaced by an update (state "redundant") never answers what it had not answered yet: the
   * message then goes once to the registration's new active worker instead of waiting out the timeout. */
  function messageWorker(message, what, target = null) {
    const worker = target || ("serviceWorker" in navigator && navigator.serviceWorker.controller) || state.worker;
    if (!worker) return Promise.reject(new Error("no service worker"));
    const reply = new Promise((resolve, reject) => {
      const replaced = () => {
        if (worker.state !== "redundant") return false;
        reject(new Error("replaced"));
        return true;
      };
      const channel = new MessageChannel();
      channel.port1.onmessage = (event) => {
        worker.removeEventListener("statechange", replaced);
        resolve({ ...event.data, scriptURL: worker.scriptURL });
      };
      worker.addEventListener("statechange", replaced);
      if (!replaced()) worker.postMessage(message, [channel.port2]);
    });
    return withTimeout(reply, PREFETCH_TIMEOUT_MS, what).catch((error) => {
      if (target || worker.state !== "redundant") throw error;
      return withTimeout(navigator.serviceWorker.ready, WORKER_TIMEOUT_MS, "new service worker")
        .then((registration) => messageWorker(message, what, registration.active));
    });
  }

  const askWorker = (url, as, config) =>
    messageWorker({ action: "prefetch", url, as, options: config }, "prefetch").then((result) => ({ ...result, via: "service-worker" }));

  const askWorkerStatus = () =>
    messageWorker({ action: "status" }, "worker status")
      .then((status) => ({ ...status, controlled: Boolean(navigator.serviceWorker.controller) }))
      .catch(() => null);

  function useLinkPrefetch() {
    state.mode = "link";
    sendPrefetch = linkPrefetch;
    transportReady();
  }

  // Without a worker the edgio params would only put the response in the HTTP cache under a URL
  // no navigation uses, so the link asks for the plain URL; Chromium marks it `Sec-Purpose: prefetch`,
  // which the edge gates like edgio_prefetch=1.
  function linkPrefetch(url, as) {
    const plainUrl = Rules.cacheKeyUrl(url);
    return new Promise((resolve) => {
      const link = document.createElement("link");
      link.rel = "prefetch";
      link.href = plainUrl;
      link.fetchPriority = "low";
      if (["image", "style", "script", "font", "document"].includes(as)) link.as = as;
      const done = (outcome) => () => {
        const timing = performance.getEntriesByName(plainUrl).pop();
        resolve({ url: plainUrl, key: plainUrl, via: "link", outcome, status: (timing && timing.responseStatus) || 0 });
      };
      link.onload = done("load");
      link.onerror = done("error");
      (document.head || document.documentElement).appendChild(link);
    });
  }

  // --- The queue: deduplicated, capped, after load, skipped on constrained networks. ---
  const requested = new Map(); // cache key -> promise of the result
  const queue = [];
  let running = 0;
  let constrainedReported = false;

  function enqueue(target, as, config) {
    const key = Rules.cacheKeyUrl(target);
    if (!requested.has(key)) {
      requested.set(key, new Promise((resolve) => queue.push({ target, as, config, resolve })));
      pump();
    }
    return requested.get(key);
  }

  async function pump() {
    await transportPromise;
    while (running < options.maxConcurrent && queue.length) {
      const job = queue.shift();
      running++;
      runJob(job).finally(() => {
        running--;
        pump();
      });
    }
  }

  async function runJob({ target, as, config, resolve }) {
    const constrained = networkIsConstrained();
    let result;
    if (constrained) {
      if (!constrainedReported) report("prefetch-off", `${constrained}: prefetching is skipped`);
      constrainedReported = true;
      result = { url: target, skipped: constrained };
    } else {
      const url = Rules.withPrefetchParams(target, config);
      try {
        result = await sendPrefetch(url, as, config);
      } catch (error) {
        result = { url, error: String((error && error.message) || error) };
      }
    }
    state.results.push(result);
    resolve(result);
  }

  // --- What may be prefetched. ---
  function sameOriginUrl(href) {
    let url;
    try {
      url = new URL(href, document.baseURI);
    } catch (_) {
      return null;
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    if (url.origin !== location.origin || url.href.length > MAX_URL_LENGTH) return null;
    url.hash = ""; // "/p/1#reviews" is "/p/1"
    return url;
  }

  function linkTarget(anchor) {
    const href = anchor.getAttribute("href");
    if (href === null || anchor.hasAttribute("download")) return null;
    const url = sameOriginUrl(href);
    if (!url || (url.pathname === location.pathname && url.search === location.search)) return null;
    return url;
  }

  function rulesAllow(url) {
    if (options.prefetchPatterns.some((pattern) => new RegExp(pattern).test(url.pathname))) return true;
    return Boolean(state.manifest) && Rules.isPrefetchable(Rules.featuresFor(state.manifest, url.href));
  }

  const prefetchConfig = (extra = {}) => ({
    includeCacheMisses: options.includeCacheMisses,
    forcePrefetchRatio: options.forcePrefetchRatio,
    ...extra,
  });

  // --- Watching links (and `watch` selectors) as they appear and become visible. ---
  const handled = new WeakSet();
  let visibility = null;
  const visibleCallbacks = new WeakMap(); // element -> [callbacks]

  function whenVisible(element, callback) {
    if (!("IntersectionObserver" in window)) return callback(element);
    if (!visibility) {
      visibility = new IntersectionObserver(
        (entries) => {
          for (const entry of entries) {
            if (!entry.isIntersecting && entry.intersectionRatio <= 0) continue;
            visibility.unobserve(entry.target);
            const callbacks = visibleCallbacks.get(entry.target) || [];
            visibleCallbacks.delete(entry.target);
            for (const run of callbacks) safely("visible element", () => run(entry.target));
          }
        },
        { threshold: 0.01 }
      );
    }
    const callbacks = visibleCallbacks.get(element) || [];
    callbacks.push(callback);
    visibleCallbacks.set(element, callbacks);
    visibility.observe(element);
  }

  function considerLink(anchor) {
    if (!options.viewport || handled.has(anchor)) return;
    const url = linkTarget(anchor);
    if (!url || !rulesAllow(url)) return;
    handled.add(anchor);
    whenVisible(anchor, () => enqueue(url.href, "fetch", prefetchConfig()));
  }

  const watchedElements = new WeakMap(); // element -> Set of watch entries already scheduled

  function considerWatched(element, entry) {
    const seen = watchedElements.get(element) || new Set();
    if (seen.has(entry)) return;
    seen.add(entry);
    watchedElements.set(element, seen);
    whenVisible(element, (visible) => entry.callback(visible));
  }

  function scan(root) {
    if (!root || root.nodeType !== Node.ELEMENT_NODE) return;
    if (root.matches("a[href]")) considerLink(root);
    root.querySelectorAll("a[href]").forEach(considerLink);
    for (const entry of options.watch) {
      safely(`watch ${entry.selector}`, () => {
        if (root.matches(entry.selector)) considerWatched(root, entry);
        root.querySelectorAll(entry.selector).forEach((element) => considerWatched(element, entry));
      });
    }
  }

  function onHover(event) {
    if (!options.hover) return;
    const anchor = event.target && event.target.closest && event.target.closest("a[href]");
    const url = anchor && linkTarget(anchor);
    if (url && rulesAllow(url)) enqueue(url.href, "fetch", prefetchConfig());
  }

  let watching = false;
  function startWatching() {
    if (watching) return;
    watching = true;
    scan(document.documentElement);
    new MutationObserver((mutations) => {
      for (const mutation of mutations) {
        if (mutation.type === "attributes") scan(mutation.target);
        else mutation.addedNodes.forEach(scan);
      }
    }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ["href"] });
    document.addEventListener("pointerover", (event) => safely("hover", () => onHover(event)), { passive: true, capture: true });
  }

  // --- Public API, shaped like Edgio's window.Edgio. ---
  function prefetch(url, as = "fetch", config = {}) {
    return Promise.resolve().then(() => {
      if (config && config.headers) console.warn("[prefetch-lab] prefetch(): the headers option is not supported (as in Edgio 7)");
      const target = sameOriginUrl(String(url));
      if (!target) return { url: String(url), skipped: "not a same-origin http(s) URL" };
      return enqueue(target.href, as, prefetchConfig(config || {}));
    });
  }

  function install(extra = {}) {
    safely("install", () => {
      const { watch, prefetchPatterns, prefetchURLs, ...rest } = extra || {};
      for (const key of ["includeCacheMisses", "viewport", "hover", "maxConcurrent"]) {
        if (key in rest) options[key] = key === "maxConcurrent" ? Math.max(1, Number(rest[key]) || 1) : Boolean(rest[key]);
      }
      if ("forcePrefetchRatio" in rest) options.forcePrefetchRatio = asRatio(rest.forcePrefetchRatio);
      if (Array.isArray(prefetchPatterns)) options.prefetchPatterns.push(...prefetchPatterns);
      if (Array.isArray(watch)) options.watch.push(...watch.filter((w) => w && w.selector && typeof w.callback === "function"));
      if (watching) scan(document.documentElement);
      if (Array.isArray(prefetchURLs)) prefetchURLs.forEach((u) => prefetch(u));
    });
    return api;
  }

  const api = {
    prefetchLab: true,
    prefetch,
    install,
    /** For the console and tests: transport, manifest, and every prefetch outcome so far. */
    status: () => ({ mode: state.mode, manifestLoaded: Boolean(state.manifest), results: state.results.slice(), reports: state.reports.slice(), options: { ...options }, predicted: state.predicted.slice() }),
    /** What the controlling worker holds: cache name, stored URLs, manifest rules it runs with. */
    workerStatus: () => askWorkerStatus(),
    ready: () => pageLoaded.then(() => manifestLoaded).then(() => transportPromise).then(() => api.status()),
  };
  window.Edgio = Object.assign(window.Edgio || {}, api);

  const manifestLoaded = loadManifest();
  const predictionsLoaded = loadPredictions();
  install(window.__PREFETCH_LAB_OPTIONS__ || {});
  pageLoaded
    .then(() => safely("service worker", () => startServiceWorker()))
    .then(() => manifestLoaded)
    .then(() => predictionsLoaded)
    .then(() => safely("predicted pages", prefetchPredicted)) // queued before any visible link
    .then(() => safely("link watching", startWatching))
    .catch((error) => report("error", String((error && error.message) || error)));
})();
