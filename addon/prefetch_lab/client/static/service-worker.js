/* Prefetch Lab service worker: Edgio's Prefetcher (CacheFirst over a "prefetch" cache with its
 * PrefetchPlugin storage rules) plus the DeepFetchPlugin. Served after manifest-eval.js, so
 * self.PrefetchLabRules is defined. Window side: install.js. */
"use strict";

const CACHE_PREFIX = "prefetch-lab-";
const STORAGE_FORMAT = "1"; // bump when what is stored (or how it is keyed) changes
const DEFAULT_MAX_AGE_SECONDS = 120; // Edgio's defaultMaxAgeSeconds
const MAX_ENTRIES = 500;
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const STORED_AT_HEADER = "x-prefetch-lab-sw-stored-at";
// Every response that passes the edge carries it. A navigation answered without it means the edge
// is no longer in front of this site (the proxy is gone, or the site is reached directly): this
// worker then removes itself and what it stored, and leaves nothing behind in the browser.
const EDGE_MARKER = "x-prefetch-lab-edge";
const PRESENCE_URL = "/__edgio__/lab/presence";
let left = false; // once leaving, this worker handles nothing more (opening a cache would remake it)
const Rules = self.PrefetchLabRules;

// The rules come with the worker, so a rules change is a worker update (bytes differ).
try {
  importScripts("/__edgio__/cache-manifest.js");
} catch (error) {
  console.warn("[prefetch-lab] no cache manifest; deep fetching is off:", error.message);
}
const MANIFEST = self.__EDGIO_CACHE_MANIFEST__ || { rules: [] };

function fnv1a(text) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(36);
}

// One cache per rules version: a new worker is in control (and answering) before its activate
// event has run, so it must never read or write the cache an older worker filled under older rules.
const CACHE_NAME = CACHE_PREFIX + STORAGE_FORMAT + "-" + fnv1a(JSON.stringify(MANIFEST));

// A new version takes over at once, and drops what older versions stored.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX) && n !== CACHE_NAME).map((n) => caches.delete(n))))
      .then(() => self.clients.claim())
  );
});

const isOurs = (url) => url.origin === self.location.origin && !url.pathname.startsWith("/__edgio__/");

function maxAgeOf(requestUrl, response) {
  const ttl = Rules.queryValue(new URL(requestUrl).search.slice(1), "edgio_prefetch_ttl");
  if (ttl !== null && ttl !== "" && !Number.isNaN(Number(ttl))) return Number(ttl);
  const header = /max-age=(\d+)/i.exec(response.headers.get("x-sw-cache-control") || "");
  return header ? Number(header[1]) : null;
}

/** Edgio's PrefetchPlugin.cacheWillUpdate, with only 200s kept (412/503 refusals never are). */
function storableMaxAge(requestUrl, response) {
  const url = new URL(requestUrl);
  if (!isOurs(url) || response.status !== 200 || response.redirected || response.type === "opaque") return 0;
  if (response.headers.get("content-length") === "0") return 0;
  // Never buffer streams or big downloads: the edge did not cache them either.
  if (Number(response.headers.get("content-length")) > MAX_BODY_BYTES) return 0;
  if (/text\/event-stream/i.test(response.headers.get("content-type") || "")) return 0;
  if (response.headers.get("x-edg-caching-status") === "body-too-big") return 0;
  const maxAge = maxAgeOf(requestUrl, response);
  const isPrefetch = url.searchParams.has("edgio_dt_pf");
  if (maxAge !== null) return maxAge > 0 ? maxAge : 0;
  return isPrefetch ? DEFAULT_MAX_AGE_SECONDS : 0; // a plain navigation is kept only if the edge says so
}

async function store(requestUrl, response, maxAge) {
  const headers = new Headers(response.headers);
  headers.set(STORED_AT_HEADER, String(Date.now()));
  headers.set("x-sw-cache-control", `max-age=${maxAge}`);
  const copy = new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  const cache = await caches.open(CACHE_NAME);
  await cache.put(Rules.cacheKeyUrl(requestUrl), copy);
  if (Date.now() - lastSweep > SWEEP_INTERVAL_MS) await expireEntries(cache);
}

function isFresh(response, now = Date.now()) {
  const storedAt = Number(response.headers.get(STORED_AT_HEADER));
  const maxAge = /max-age=(\d+)/.exec(response.headers.get("x-sw-cache-control") || "");
  return storedAt > 0 && now < storedAt + (maxAge ? Number(maxAge[1]) : DEFAULT_MAX_AGE_SECONDS) * 1000;
}

let lastSweep = 0;
const SWEEP_INTERVAL_MS = 10000;

async function expireEntries(cache) {
  const now = Date.now();
  lastSweep = now;
  const live = [];
  for (const key of await cache.keys()) {
    const response = await cache.match(key);
    if (!response || !isFresh(response, now)) await cache.delete(key);
    else live.push([Number(response.headers.get(STORED_AT_HEADER)), key]);
  }
  live.sort((a, b) => a[0] - b[0]);
  for (const [, key] of live.slice(0, Math.max(0, live.length - MAX_ENTRIES))) await cache.delete(key);
}

async function cachedResponse(requestUrl) {
  const cache = await caches.open(CACHE_NAME);
  const key = Rules.cacheKeyUrl(requestUrl);
  const response = await cache.match(key, { ignoreVary: true });
  if (!response) return null;
  if (isFresh(response)) return response;
  await cache.delete(key);
  return null;
}

// --- Fetch handler: CacheFirst for same-origin GETs, storing what the edge marks for the browser. ---
self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (left || request.method !== "GET" || !isOurs(url) || request.headers.has("range")) return;
  if (request.cache === "only-if-cached" && request.mode !== "same-origin") return;
  event.respondWith(cacheFirst(event));
});

async function cacheFirst(event) {
  const request = event.request;
  const navigation = request.mode === "navigate";
  const hit = await cachedResponse(request.url);
  if (hit) {
    if (navigation) event.waitUntil(checkEdge().catch(reportFailure("edge check")));
    return hit;
  }
  const response = await fetch(request);
  if (navigation && response.type === "basic" && !response.headers.has(EDGE_MARKER)) {
    event.waitUntil(leave().catch(reportFailure("unregister")));
    return response;
  }
  const maxAge = storableMaxAge(request.url, response);
  if (maxAge > 0) {
    const stored = store(request.url, response.clone(), maxAge).catch(reportFailure("store"));
    event.waitUntil(stored);
    // A page's own <link rel=prefetch> carrying the edgio params is a seed too, as in Edgio.
    if (new URL(request.url).searchParams.has("edgio_dt_pf")) {
      const seed = response.clone();
      event.waitUntil(stored.then(() => deepFetch(request.url, seed, {})).catch(reportFailure("deep fetch")));
    }
  }
  return response;
}

/** A navigation served from our cache says nothing about the edge: ask it (a tiny request the
 * edge answers itself, any site's own answer otherwise). */
async function checkEdge() {
  const response = await fetch(PRESENCE_URL, { cache: "no-store", credentials: "omit" });
  if (!response.headers.has(EDGE_MARKER)) await leave();
}

/** No edge in front of this site any more: drop our caches and unregister. */
async function leave() {
  left = true;
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith(CACHE_PREFIX)).map((n) => caches.delete(n)));
  await self.registration.unregister();
}

// --- Prefetches requested by install.js (postMessage with a reply port). ---
self.addEventListener("message", (event) => {
  const message = event.data || {};
  const reply = (value) => event.ports[0] && event.ports[0].postMessage(value);
  if (left) {
    reply(null);
  } else if (message.action === "prefetch") {
    event.waitUntil(prefetch(message.url, message.as, message.options || {}).then(reply));
  } else if (message.action === "status") {
    event.waitUntil(status().then(reply));
  }
});

const ACCEPT_BY_DESTINATION = {
  image: "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
  style: "text/css,*/*;q=0.1",
  document: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
};

const inFlight = new Map(); // cache key -> promise of the result, so one URL is fetched once at a time

/** Fetch `url` as a prefetch (url already carries the edgio params), store it, deep fetch it. */
function prefetch(url, as, options) {
  const key = Rules.cacheKeyUrl(url);
  if (!inFlight.has(key)) {
    const work = prefetchOnce(url, as, options).finally(() => inFlight.delete(key));
    inFlight.set(key, work);
  }
  return inFlight.get(key);
}

async function prefetchOnce(url, as, options) {
  const result = { url, key: Rules.cacheKeyUrl(url), status: 0, stored: false, cached: false, deep: [] };
  try {
    if (await cachedResponse(url)) return { ...result, status: 200, cached: true };
    const headers = ACCEPT_BY_DESTINATION[as] ? { accept: ACCEPT_BY_DESTINATION[as] } : {};
    const response = await fetch(url, { credentials: "same-origin", priority: "low", headers });
    result.status = response.status;
    result.refused = response.headers.get("x-prefetch-lab-refused") || undefined;
    const maxAge = storableMaxAge(url, response);
    if (maxAge > 0) {
      await store(url, response.clone(), maxAge);
      result.stored = true;
      if (!options.isDeepFetch) result.deep = await deepFetch(url, response, options);
    }
  } catch (error) {
    result.error = String((error && error.message) || error);
  }
  return result;
}

async function status() {
  const cache = await caches.open(CACHE_NAME);
  const keys = (await cache.keys()).map((request) => request.url);
  return { cache: CACHE_NAME, keys, rules: MANIFEST.rules.length, manifestVersion: MANIFEST.version || null };
}

function reportFailure(what) {
  return (error) => console.warn(`[prefetch-lab] ${what} failed:`, error);
}

// --- Deep fetching (Edgio's DeepFetchPlugin): assets named by the seed's rule in prefetched HTML/JSON. ---
async function deepFetch(seedUrl, response, options) {
  const configs = Rules.featuresFor(MANIFEST, Rules.cacheKeyUrl(seedUrl)).deep_fetch;
  if (!Array.isArray(configs) || configs.length === 0) return [];
  const type = response.headers.get("content-type") || "";
  const isHtml = /text\/html|application\/xhtml/i.test(type);
  const isJson = /[/+]json\b/i.test(type);
  if (!isHtml && !isJson) return [];
  const text = await response.text();
  const targets = [];
  for (const config of configs) {
    let found = [];
    if (isHtml && config.selector) found = htmlAttributeValues(text, config.selector, config.attribute || "src");
    if (isJson && config.json_query) found = jsonStrings(text, config.json_query);
    const limit = Number(config.max_matches) > 0 ? Number(config.max_matches) : found.length;
    for (const value of found.slice(0, limit)) targets.push({ value, as: config.as || "fetch" });
  }
  const base = isHtml ? baseHref(text, seedUrl) : seedUrl;
  const seen = new Set();
  const jobs = [];
  for (const target of targets) {
    let absolute;
    try {
      absolute = new URL(target.value.trim(), base);
    } catch (_) {
      continue;
    }
    if (!isOurs(absolute) || seen.has(absolute.href)) continue; // cross-origin assets are not ours to gate
    seen.add(absolute.href);
    // The seed's cache-miss policy carries over, its maxAgeSeconds does not (the asset's own rule
    // sets its TTL); and one level only: an asset's deep_fetch rules do not chain further.
    const assetOptions = { includeCacheMisses: options.includeCacheMisses, forcePrefetchRatio: options.forcePrefetchRatio, isDeepFetch: true };
    const assetUrl = Rules.withPrefetchParams(absolute.href, assetOptions);
    jobs.push(prefetch(assetUrl, target.as, assetOptions).then((r) => ({ url: r.url, status: r.status, stored: r.stored })));
  }
  return Promise.all(jobs);
}

function baseHref(html, seedUrl) {
  const base = scanTags(html).find((tag) => tag.name === "base" && tag.attributes.href);
  try {
    return base ? new URL(base.attributes.href, seedUrl).href : seedUrl;
  } catch (_) {
    return seedUrl;
  }
}

// A tolerant start-tag scanner: no DOMParser in workers. Comments and raw-text elements are
// removed first so markup inside <script>/<style>/<template> is not taken for real elements.
const RAW_TEXT = /<!--[\s\S]*?-->|<(script|style|template|textarea|noscript)\b[^>]*>[\s\S]*?<\/\1\s*>/gi;
const START_TAG = /<([a-zA-Z][a-zA-Z0-9:-]*)((?:\s+[^\s"'>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'>]+))?)*)\s*\/?>/g;
const ATTRIBUTE = /([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?/g;
const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" };

const decodeEntities = (text) =>
  text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name) => {
    if (name[0] === "#") {
      const code = name[1] === "x" || name[1] === "X" ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[name.toLowerCase()] ?? whole;
  });

function scanTags(html) {
  const tags = [];
  const source = html.replace(RAW_TEXT, (whole, rawTag) => (rawTag ? `<${rawTag}>` : ""));
  for (const match of source.matchAll(START_TAG)) {
    const attributes = {};
    for (const attr of (match[2] || "").matchAll(ATTRIBUTE)) {
      const name = attr[1].toLowerCase();
      if (!(name in attributes)) attributes[name] = decodeEntities(attr[2] ?? attr[3] ?? attr[4] ?? "");
    }
    tags.push({ name: match[1].toLowerCase(), attributes });
  }
  return tags;
}

/** Supported selectors: compound ones made of tag, *, .class, #id and [attr], [attr=v],
 * [attr~=v], [attr^=v], [attr$=v], [attr*=v] (values quoted or not), and comma lists of them.
 * Combinators (descendant, >, +, ~) and pseudo-classes are not supported: such a selector
 * matches nothing and logs a warning. */
function parseSelector(selector) {
  const compounds = [];
  for (const part of String(selector).split(",")) {
    const text = part.trim();
    const compound = { tag: null, classes: [], ids: [], attributes: [] };
    const piece = /^(\*|[a-zA-Z][a-zA-Z0-9-]*)|\.([\w-]+)|#([\w-]+)|\[\s*([\w:-]+)\s*(?:([~^$*]?=)\s*(?:"([^"]*)"|'([^']*)'|([^\]\s]+))\s*)?\]/y;
    let index = 0;
    while (index < text.length) {
      piece.lastIndex = index;
      const m = piece.exec(text);
      if (!m || (m[1] && index !== 0)) throw new Error(`unsupported selector ${JSON.stringify(selector)}`);
      if (m[1] && m[1] !== "*") compound.tag = m[1].toLowerCase();
      if (m[2]) compound.classes.push(m[2]);
      if (m[3]) compound.ids.push(m[3]);
      if (m[4]) compound.attributes.push({ name: m[4].toLowerCase(), op: m[5] || null, value: m[6] ?? m[7] ?? m[8] ?? "" });
      index = piece.lastIndex;
    }
    if (!text) throw new Error(`unsupported selector ${JSON.stringify(selector)}`);
    compounds.push(compound);
  }
  return compounds;
}

function attributeMatches(actual, { op, value }) {
  if (actual === undefined) return false;
  switch (op) {
    case null:
      return true;
    case "=":
      return actual === value;
    case "~=":
      return actual.split(/\s+/).includes(value);
    case "^=":
      return value !== "" && actual.startsWith(value);
    case "$=":
      return value !== "" && actual.endsWith(value);
    case "*=":
      return value !== "" && actual.includes(value);
  }
  return false;
}

function tagMatches(tag, compound) {
  if (compound.tag && tag.name !== compound.tag) return false;
  const classes = (tag.attributes.class || "").split(/\s+/);
  if (!compound.classes.every((c) => classes.includes(c))) return false;
  if (!compound.ids.every((id) => tag.attributes.id === id)) return false;
  return compound.attributes.every((condition) => attributeMatches(tag.attributes[condition.name], condition));
}

function htmlAttributeValues(html, selector, attribute) {
  let compounds;
  try {
    compounds = parseSelector(selector);
  } catch (error) {
    console.warn("[prefetch-lab] deep_fetch:", error.message);
    return [];
  }
  const name = attribute.toLowerCase();
  return scanTags(html)
    .filter((tag) => tag.name !== "a" && compounds.some((c) => tagMatches(tag, c))) // Edgio skips <a>
    .map((tag) => tag.attributes[name])
    .filter((value) => typeof value === "string" && value.trim() !== "");
}

/** Dot paths over JSON ("products.thumbnail", "data.items[*].image.url", "items[0].src"); arrays
 * on the way are walked element by element. Only string results count, as in Edgio. */
function jsonStrings(text, query) {
  let values;
  try {
    values = [JSON.parse(text)];
  } catch (_) {
    return [];
  }
  const steps = String(query).replace(/\[(\d+)\]/g, ".$1").replace(/\[\*\]/g, "").split(".").filter(Boolean);
  const spread = (list) => list.flatMap((value) => (Array.isArray(value) ? spread(value) : [value]));
  for (const step of steps) {
    const next = [];
    for (const value of values) {
      if (Array.isArray(value) && /^\d+$/.test(step)) next.push(value[Number(step)]);
      else for (const item of spread([value])) if (item && typeof item === "object" && step in item) next.push(item[step]);
    }
    values = next;
  }
  return spread(values).filter((value) => typeof value === "string");
}
