"""Cookies that kept pages out of the edge cache, or split them per visitor (the summary's
`summary.<arm>.cookies`, advice entries naming the cookies and the rule features that would change
it), and the `--what-if ignore-cookies=NAME,...` arm's result (audit.json's `what_if`), with the
risk. Read from the trail, warm-up included (it is the site's behaviour either way):
- `cache-bypass` with caching status `set-cookie`: the origin set a cookie on a response the rules
  made cacheable, so the edge stored nothing (the record's reason names the cookies);
- `cache-store` with caching status `cached-per-cookie`: stored as a variant of the visitor's
  cookies (the record's `cookies`), so no other visitor's request, nor a fresh profile's, hits it.
Pure module.
"""

from __future__ import annotations

import re

from prefetch_lab.stats import ratio

WHAT_IF_ARM = "ignore-cookies"
MAX_URLS = 10
_NAMES = re.compile(r"\(([^)]*)\)\s*$")
RISK = ("only safe when these pages are the same for every visitor: the edge then shares one copy whatever the "
        "visitor's cookies, and strips Set-Cookie from them, so a session or CSRF cookie the page sets (a login, "
        "a form token) never reaches the browser from a cached page; forms that need the token break, and a "
        "personalised page would be served to everyone")


def set_cookie_names(record: dict) -> list[str]:
    """The cookie names of a set-cookie refusal ("response sets a cookie (a, b)")."""
    found = _NAMES.search(str(record.get("reason") or ""))
    return [name.strip() for name in found.group(1).split(",") if name.strip()] if found else []


def cookie_effects(trail: list[dict]) -> dict:
    """What cookies did to the edge cache in one run's trail."""
    refused = [r for r in trail if r.get("event") == "cache-bypass" and r.get("caching_status") == "set-cookie"]
    variants = [r for r in trail if r.get("event") == "cache-store" and r.get("caching_status") == "cached-per-cookie"]
    return {
        "set_cookie_refusals": len(refused),
        "set_cookie_names": sorted({n for r in refused for n in set_cookie_names(r)}),
        "set_cookie_urls": list(dict.fromkeys(r.get("url") for r in refused if r.get("url")))[:MAX_URLS],
        "per_cookie_variants": len(variants),
        "variant_cookie_names": sorted({str(n) for r in variants for n in r.get("cookies") or []}),
        "variant_urls": list(dict.fromkeys(r.get("url") for r in variants if r.get("url")))[:MAX_URLS],
    }


def merge_effects(effects: list[dict]) -> dict:
    """One arm's runs together."""
    merged = cookie_effects([])
    for e in effects:
        for key in ("set_cookie_refusals", "per_cookie_variants"):
            merged[key] += e[key]
        for key in ("set_cookie_names", "variant_cookie_names"):
            merged[key] = sorted(set(merged[key]) | set(e[key]))
        for key in ("set_cookie_urls", "variant_urls"):
            merged[key] = list(dict.fromkeys(merged[key] + e[key]))[:MAX_URLS]
    return merged


def cookie_advice(by_arm: dict[str, dict]) -> list[dict]:
    """An entry for pages refused for Set-Cookie and one for per-cookie variants, over all arms."""
    arms = {arm: e for arm, e in by_arm.items() if arm != WHAT_IF_ARM}
    advice = []
    for count, names_key, urls_key, code, noun, reason, remedy in (
        ("set_cookie_refusals", "set_cookie_names", "set_cookie_urls", "cookie-set-cookie", "responses not stored",
         "the origin sets the cookie(s) {shown} on pages the rules make cacheable, so the edge stores none of them "
         "(x-edg-caching-status: set-cookie) and every request and prefetch of them is a miss",
         "a rule with headers.remove_origin_response_headers: [set-cookie] (Edgio's remove_origin_response_headers) "
         "and caching.cache_key_ignore_cookies: true for these pages would let the edge store and share them"),
        ("per_cookie_variants", "variant_cookie_names", "variant_urls", "cookie-variants", "responses stored per cookie",
         "the edge kept pages as variants of the visitor's cookie(s) {shown} (cached-per-cookie): a visitor with "
         "other cookies, or none, cannot hit them",
         "caching.cache_key_ignore_cookies: true on a rule for these pages shares one copy whatever the cookies"),
    ):
        found = {arm: e for arm, e in arms.items() if e[count]}
        if not found:
            continue
        names = sorted({n for e in found.values() for n in e[names_key]})
        urls = list(dict.fromkeys(u for e in found.values() for u in e[urls_key]))
        shown = ", ".join(names) or "unnamed"
        advice.append({
            "code": code, "detail": shown, "noun": noun,
            "count": sum(e[count] for e in found.values()), "arms": sorted(found),
            "reason": reason.format(shown=shown),
            "remedy": f"{remedy}; measure it with --what-if ignore-cookies={what_if_names(names)}. Risk: {RISK}",
            "example_urls": urls[:3], "cookies": names,
        })
    return advice


def what_if_names(names: list[str]) -> str:
    return ",".join(names) or "NAME,... (the trail did not name them)"


def name_the_cookies(advice: list[dict], cookie_entries: list[dict]) -> list[dict]:
    """The navigations' own `origin-uncacheable: set-cookie` entries get the cookies' names and the
    rule features that would change it (the standalone set-cookie entry then says nothing more)."""
    set_cookie = next((e for e in cookie_entries if e["code"] == "cookie-set-cookie"), None)
    named = False
    for entry in advice:
        if set_cookie and entry.get("code") == "origin-uncacheable" and entry.get("detail") == "set-cookie":
            entry.update(cookies=set_cookie["cookies"], remedy=set_cookie["remedy"],
                         reason=f"{entry['reason']} ({set_cookie['detail']})")
            named = True
    return advice + [e for e in cookie_entries if not (named and e is set_cookie)]


def what_if_result(summary: dict, base: str, names: list[str]) -> dict | None:
    """The what-if arm against the arm it copies (the same prefetching, without the rule)."""
    what_if, before = summary.get(WHAT_IF_ARM), summary.get(base)
    if not what_if or not before:
        return None
    metrics = {}
    for metric in ("ttfb", "fcp", "lcp"):
        was, now = before.get(f"{metric}_ms_p50"), what_if.get(f"{metric}_ms_p50")
        metrics[f"{metric}_ms_p50"] = {base: was, WHAT_IF_ARM: now,
                                       "difference_ms": round(now - was, 1) if was is not None and now is not None else None,
                                       "ratio": ratio(now, was)}
    return {
        "arm": WHAT_IF_ARM, "base_arm": base, "ignore_cookies": list(names),
        "rule": {"caching": {"cache_key_ignore_cookies": True}, "headers": {"remove_origin_response_headers": ["set-cookie"]}},
        **metrics,
        "origin_requests": {base: before.get("origin_requests"), WHAT_IF_ARM: what_if.get("origin_requests")},
        "coverage": {base: before.get("coverage"), WHAT_IF_ARM: what_if.get("coverage")},
        "served_from": {base: before.get("served_from"), WHAT_IF_ARM: what_if.get("served_from")},
        "risk": RISK,
    }


def what_if_advice(result: dict | None) -> list[dict]:
    if not result:
        return []
    base, lcp, ttfb = result["base_arm"], result["lcp_ms_p50"], result["ttfb_ms_p50"]
    origin = result["origin_requests"]
    reason = (f"what if the edge ignored the cookie(s) {', '.join(result['ignore_cookies'])}: LCP p50 "
              f"{lcp[WHAT_IF_ARM]} ms against {lcp[base]} ms in {base} ({fmt_difference(lcp['difference_ms'])}), "
              f"TTFB p50 {ttfb[WHAT_IF_ARM]} ms against {ttfb[base]} ms ({fmt_difference(ttfb['difference_ms'])}), "
              f"origin requests {origin[WHAT_IF_ARM]} against {origin[base]}")
    return [{"code": "what-if-ignore-cookies", "detail": ",".join(result["ignore_cookies"]), "noun": "what-if arm",
             "count": 1, "arms": [WHAT_IF_ARM], "reason": reason, "example_urls": [],
             "remedy": f"deploy the rule ({'; '.join(f'{k}: {v}' for k, v in result['rule'].items())}) only if the risk "
                       f"is acceptable. Risk: {result['risk']}"}]


def fmt_difference(value) -> str:
    return "no figure" if value is None else f"{value:+.0f} ms"
