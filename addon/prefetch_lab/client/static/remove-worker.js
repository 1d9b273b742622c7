/* Prefetch Lab's worker, once the edge no longer injects Edgio's client on this site
 * (prefetch_inject without edgio, or `prefetch.forget`): it replaces the worker a browser has
 * registered, removes what that stored and unregisters, so nothing of ours stays behind. */
"use strict";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const names = await caches.keys();
      await Promise.all(names.filter((n) => n.startsWith("prefetch-lab-")).map((n) => caches.delete(n)));
      await self.registration.unregister();
    })()
  );
});
