// Runs Edgio's own browser-side rule evaluation (@edgio/core's CacheManifest.shouldPrefetch,
// what @edgio/prefetch's watchLinks calls for every link) and our manifest-eval.js on served
// cache-manifest.js bodies. Input (stdin, JSON): {core, ours, cases: [{manifest, urls}]}, where
// `manifest` is the body of /__edgio__/cache-manifest.js. Output (stdout, JSON): per case, per
// URL, {href, edgio, ours}; `edgio` is true/false or "error: ..." when Edgio's code throws.
"use strict";
const fs = require("fs");
const path = require("path");
const vm = require("vm");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
const { CacheManifest } = require(path.join(input.core, "router", "CacheManifest.js"));

const oursContext = { console, URL, URLSearchParams };
oursContext.self = oursContext;
vm.createContext(oursContext);
vm.runInContext(fs.readFileSync(input.ours, "utf8"), oursContext, { filename: "manifest-eval.js" });
const Rules = oursContext.PrefetchLabRules;

function load(body) {
  const sandbox = {};
  sandbox.self = sandbox;
  vm.createContext(sandbox);
  vm.runInContext(body, sandbox, { filename: "cache-manifest.js" });
  // Through JSON, so both evaluators see plain objects of this realm.
  return JSON.parse(JSON.stringify(sandbox.__EDGIO_CACHE_MANIFEST__));
}

const output = input.cases.map(({ manifest, urls }) => {
  const parsed = load(manifest);
  const edgio = CacheManifest.from(JSON.parse(JSON.stringify(parsed)));
  return urls.map((href) => {
    const url = new URL(href);
    let verdict;
    try {
      verdict = edgio.shouldPrefetch(url);
    } catch (error) {
      verdict = "error: " + error.message;
    }
    const ours = Rules.isPrefetchable(Rules.featuresFor(parsed, url.href));
    return { href: url.href, edgio: verdict, ours };
  });
});
process.stdout.write(JSON.stringify(output));
