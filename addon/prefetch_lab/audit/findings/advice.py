"""Why a navigation was not prefetched, and the remedy a user can apply (the audit's `advice`).

Pure module. `explain` classifies one navigation from the evidence not_prefetched.py gathered;
`build_advice` counts and ranks the reasons (audit/analyze.py), `top_advice` gives the first few
as lines for the terminal. docs/audit-json.md lists every reason code.
"""

from __future__ import annotations

from collections import defaultdict

# Chromium's prefetch statuses (CDP Preload.PrefetchStatus), in words close to DevTools'
# "Speculative loads" panel, with what a Prefetch Lab user can do about each.
BROWSER_STATUSES: dict[str, tuple[str, str]] = {
    "PrefetchFailedNon2XX": (
        "the prefetch got a non-2xx response (here usually the edge's 412/503 refusal)",
        "see the edge's refusal reason for this URL; a warm edge answers prefetches with 200"),
    "PrefetchFailedNetError": (
        "the prefetch failed with a network error", "check the origin and the proxy's log for this URL"),
    "PrefetchFailedMIMENotSupported": (
        "the prefetch's Content-Type is not one Chromium uses for a navigation", "only HTML documents are worth prefetching"),
    "PrefetchFailedIneligibleRedirect": (
        "the prefetch was redirected to a URL that is not eligible", "link to the final URL instead of one that redirects"),
    "PrefetchFailedInvalidRedirect": (
        "the prefetch was redirected, and the redirect was invalid", "link to the final URL instead of one that redirects"),
    "PrefetchIneligibleRetryAfter": (
        "an earlier prefetch to this origin got a 503 with Retry-After, so Chromium stopped prefetching from it",
        "never send Retry-After on refusals (prefetch_refusal_status 412, or 503 without it) and check the origin for 503s"),
    "PrefetchIsStale": (
        "too much time passed between the prefetch and the click, so Chromium discarded it",
        "prefetch closer to the click (conservative or moderate eagerness)"),
    "PrefetchNotEligibleUserHasCookies": (
        "the URL is cross-site and the user has cookies for it", "only same-site links can be prefetched for a user with cookies"),
    "PrefetchNotEligibleUserHasServiceWorker": (
        "a service worker controls the origin, so Chromium does not prefetch it by speculation rules",
        "use the edgio arm on this site (its own service worker serves prefetches), or drop the site's worker"),
    "PrefetchNotEligibleSchemeIsNotHttps": (
        "the URL is not https", "audit the https site, with the proxy's CA trusted"),
    "PrefetchNotEligibleBatterySaverEnabled": (
        "Battery Saver is on", "a browser setting: turn it off for the audit"),
    "PrefetchNotEligibleDataSaverEnabled": (
        "Data Saver is on", "a browser setting: turn it off for the audit"),
    "PrefetchNotEligiblePreloadingDisabled": (
        "speculative loading is disabled in the browser", "enable preloading in the browser's settings"),
    "PrefetchNotEligibleBrowserContextOffTheRecord": (
        "the browser is in Incognito or Guest mode", "use a normal profile"),
    "PrefetchNotEligibleExistingProxy": (
        "the browser's network context uses a proxy that Chromium will not prefetch through",
        "a Chromium limitation for some proxy setups: check the driver's proxy flags"),
    "PrefetchNotEligibleHostIsNonUnique": (
        "the host is not publicly routable and the prefetch needed a proxy", "audit a public host name"),
    "PrefetchNotUsedCookiesChanged": (
        "cookies for the cross-site URL changed while the prefetch was in flight, so it was out of date",
        "the page sets cookies for that site: prefetch only links that do not depend on them"),
    "PrefetchNotUsedProbeFailed": (
        "the prefetch was blocked by the network (a probe failed)", "check the network path to the origin"),
    "PrefetchFailedPerPageLimitExceeded": (
        "the page already had too many prefetches in flight", "fewer candidate links per page, or conservative eagerness"),
    "PrefetchEvicted": (
        "the prefetch was discarded before it was used", "fewer prefetches per page, so the one the user picks survives"),
    "PrefetchEvictedForNewerPrefetch": (
        "the prefetch was discarded for newer ones (the page had too many)",
        "fewer prefetches per page (Chromium keeps only 2 moderate/conservative ones)"),
    "PrefetchEvictedAfterCandidateRemoved": (
        "no speculation rule on the page asked for this URL any more", "check the page does not remove the link or rules"),
    "PrefetchEvictedAfterBrowsingDataRemoved": (
        "browsing data was cleared", "nothing to change on the site"),
    "PrefetchNotFinishedInTime": (
        "the navigation started before the prefetch had finished",
        "give the prefetch more lead time (moderate eagerness fires on hover) and keep the edge warm and near"),
    "PrefetchSuccessfulButNotUsed": (
        "the prefetch succeeded, but the navigation did not use it", "check the prefetched URL matches the link exactly"),
    "PrefetchIsPrivacyDecoy": (
        "the prefetch was sent only as a decoy and never used", "same-site links avoid decoys"),
}

REFUSAL_REMEDIES = {
    "method": "only GET and HEAD are prefetched: nothing to change",
    "no-content": "the edge holds a 204 for this URL, which a prefetch must never get (Chromium would cancel the click)",
    "edge-error": "the edge failed while answering; see the proxy's log",
    "cache-disabled": "prefetch_cache_mb is 0: give the edge a cache",
    "upgrade": "a WebSocket handshake is never prefetched",
}

UNCACHEABLE = {
    "set-cookie": "the origin sets cookies on this HTML",
    "private": "the origin sends Cache-Control private or no-store on this HTML",
    "no-max-age": "the origin sends no freshness (max-age, Expires) and no rule sets max_age",
    "code": "the origin's status code is not cacheable",
    "body-too-big": "the page is too big for the edge cache",
    "method": "the request method is not cacheable",
}


def browser_status_meaning(status: str | None) -> str:
    if not status:
        return "Chromium reported no status"
    meaning = BROWSER_STATUSES.get(status)
    return f"{status}: {meaning[0]}" if meaning else f"{status} (Chromium's prefetch status)"


# The A/A arm: the control's settings again (audit/settings.py), so nothing to explain there either.
PLACEBO_ARM = "placebo"


def is_2xx(status) -> bool:
    return isinstance(status, int) and 200 <= status < 300


def explain(nav: dict, evidence: dict) -> tuple[str, str | None]:
    """(reason code, detail) for a navigation after the first that was not prefetched."""
    arm = evidence.get("arm")
    if arm in (evidence.get("control_arm", "control"), PLACEBO_ARM):
        return "control", "nothing is injected in the control arm (nor in the placebo, its A/A twin)"
    prefetches = evidence.get("prefetches") or []
    if any(p["edge"] in ("hit", "stale", "forwarded") and is_2xx(p.get("status")) for p in prefetches):
        double = evidence.get("double_fetch")
        return "prefetched-not-used", double[0] if double else "unknown"
    refused = [p for p in prefetches if p["edge"] == "refused"]
    if refused:
        return refusal_reason(refused[-1], evidence.get("uncached_record"))
    forwarded = [p for p in prefetches if p["edge"] in ("hit", "stale", "forwarded")]
    if forwarded:
        return "prefetch-failed", f"the prefetch was answered {forwarded[-1].get('status')}"
    unsent = [p for p in prefetches if p["edge"] == "none"]
    if unsent:
        return "chromium-refused", unsent[-1].get("browser_status") or "unknown"
    skip = evidence.get("issuer_skip")
    if skip and arm in ("edgio", "both"):
        reason = str(skip.get("reason") or "unknown")
        return ("csp-blocked" if reason.startswith("csp-") else "not-injected"), reason
    if nav.get("trigger") == "goto":
        return "link-not-found", None
    return "not-triggered", None


def refusal_reason(refusal: dict, uncached: dict | None) -> tuple[str, str | None]:
    reason = refusal.get("edge_reason")
    if reason == "bypassed":
        return "excluded-by-rule", ", ".join(refusal.get("rules") or []) or None
    if reason == "not-cached" and uncached:
        status = uncached.get("caching_status")
        if uncached.get("event") == "origin-error":
            return "origin-error", uncached.get("reason")
        if status == "bypassed":
            return "excluded-by-rule", ", ".join(uncached.get("rules") or []) or None
        if status in UNCACHEABLE:
            return "origin-uncacheable", status
    if reason == "not-cached":
        return "edge-cold", None
    return "edge-refused", reason


# ---- advice ---------------------------------------------------------------------------------

def describe(code: str, detail: str | None) -> str:
    """One line saying what happened."""
    texts = {
        "edge-cold": "edge cold: the prefetch was refused because the page was not in the edge cache (412/503)",
        "excluded-by-rule": f"excluded by a rule (bypass_cache){': ' + detail if detail else ''}",
        "origin-uncacheable": f"the edge cannot store the page: {UNCACHEABLE.get(detail or '', detail)}",
        "origin-error": f"the origin failed when the edge fetched the page ({detail})",
        "edge-refused": f"the edge refused the prefetch ({detail})",
        "prefetch-failed": f"the prefetch did not succeed ({detail})",
        "chromium-refused": f"Chromium refused the prefetch: {browser_status_meaning(detail)}",
        "csp-blocked": f"the page's Content-Security-Policy blocked install.js ({detail})",
        "not-injected": f"install.js was not injected ({detail})",
        "prefetched-not-used": f"prefetched but not used: fetched again from the network (double fetch: {detail})",
        "link-not-found": "the walk did not find the link on the previous page and typed the address",
        "not-triggered": "no prefetch was issued: the link was never visible, or never pressed",
    }
    return texts.get(code, f"{code}{': ' + detail if detail else ''}")


def remedy(code: str, detail: str | None, arms: list[str]) -> str:
    if code == "edge-cold":
        return ("warm the edge (--edge warm, or browse the pages once), set prefetch_warm_on_refusal=true, "
                "and give the rule a stale_while_revalidate and a longer max_age so entries stay servable "
                "(Edgio's 'Reducing 412s')")
    if code == "excluded-by-rule":
        return (f"rule {detail or '(see the trail)'} sets bypass_cache for these URLs; if they change no state "
                "and are not personalised, narrow that rule or add a later one with max_age and service_worker_max_age")
    if code == "origin-uncacheable":
        if detail in ("set-cookie", "private"):
            return ("a rule with caching.ignore_origin_no_cache: true and a max_age caches the page anyway; "
                    "only safe for pages that are not personalised (the same HTML for every user)")
        return {
            "no-max-age": "add a rule with caching.max_age (and service_worker_max_age) for these pages",
            "code": "list the status in the rule's cacheable_status_codes if it is safe to cache",
            "body-too-big": "raise prefetch_cache_mb (objects over 1/8 of the budget are not cached)",
        }.get(detail or "", "see the trail's cache-bypass record for this URL")
    if code == "origin-error":
        return "the origin did not answer the edge: check it is up and reachable from the proxy"
    if code == "edge-refused":
        return REFUSAL_REMEDIES.get(detail or "", "see the trail's prefetch-refused record for this URL")
    if code == "prefetch-failed":
        return "the origin answered the prefetch with an error or redirect: link to the final, working URL"
    if code == "chromium-refused":
        meaning = BROWSER_STATUSES.get(detail or "")
        return meaning[1] if meaning else "see Chromium's status in DevTools → Application → Speculative loads"
    if code == "csp-blocked":
        return ("allow the edge's /__edgio__/ script in the page's script-src (for instance 'self' or a nonce the "
                "page already uses), or use the speculation arm: speculation rules are a header, not a script")
    if code == "not-injected":
        return "try --set prefetch_inject_at=head (or body), or the speculation arm, which needs no script"
    if code == "prefetched-not-used":
        return double_fetch_remedy(detail)
    if code == "link-not-found":
        return "give --path link texts the pages really have, so the walk presses a link that can be prefetched"
    return not_triggered_remedy(arms)


def double_fetch_remedy(reason: str | None) -> str:
    if reason == "expired":
        return "raise the rule's service_worker_max_age (the worker's lifetime) above the time users take to click"
    if reason == "vary":
        return "the response varies on request headers, so the prefetched copy does not match: drop needless Vary headers"
    if reason == "not-stored":
        return "the worker keeps only 200 responses: link to the final URL, not a redirect or an error"
    if reason in BROWSER_STATUSES:
        return BROWSER_STATUSES[reason][1]
    return "compare the prefetch and the navigation in the HAR (URL, headers, timing) to see why the copy was not reused"


def not_triggered_remedy(arms: list[str]) -> str:
    parts = []
    if any(a in ("speculation", "both") for a in arms):
        parts.append("speculation: with conservative eagerness only pressing the link prefetches it; "
                     "try --eagerness moderate (hover), and check the speculation rules allow the URL")
    if any(a in ("edgio", "both") for a in arms):
        parts.append("edgio: install.js prefetches only links visible in the viewport after the load event whose "
                     "rules set max_age and a positive service_worker_max_age; check the rule and the link's position")
    return "; ".join(parts) or "check the link was visible and pressed, and that the rules make the URL prefetchable"


def build_advice(navigations: list[dict], control_arm: str = "control") -> list[dict]:
    """Reasons navigations were not prefetched (step ≥ 1, non-control arms), most frequent first."""
    groups: dict[tuple[str, str | None], list[dict]] = defaultdict(list)
    for nav in navigations:
        code = nav.get("not_prefetched_reason")
        if nav.get("arm") == control_arm or nav.get("step", 0) < 1 or nav.get("prefetched") or not code or code == "control":
            continue
        groups[(code, nav.get("not_prefetched_detail"))].append(nav)
    advice = []
    for (code, detail), navs in groups.items():
        arms = sorted({n["arm"] for n in navs})
        examples = list(dict.fromkeys(n["url"] for n in navs if n.get("url")))[:3]
        advice.append({"reason": describe(code, detail), "code": code, "detail": detail, "count": len(navs),
                       "arms": arms, "example_urls": examples, "remedy": remedy(code, detail, arms)})
    return sorted(advice, key=lambda a: (-a["count"], a["code"], a["detail"] or ""))


def top_advice(audit: dict, n: int = 3) -> list[str]:
    """The first n advice entries as one-line strings for the terminal."""
    lines = []
    for item in (audit.get("advice") or [])[:n]:
        arms = ", ".join(item.get("arms") or [])
        count = item.get("count", 0)
        noun = item.get("noun") or ("navigation" if count == 1 else "navigations")  # or what the entry counts
        lines.append(f"{count} {noun} ({arms}): {item.get('reason')}. Remedy: {item.get('remedy')}")
    return lines
