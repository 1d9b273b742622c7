"""What the audit says of soft navigations (client-side routing: the URL changed and no document
was requested, page_scripts.py): document prefetching cannot speed them up, so their figures are
reported apart and never judged as "not prefetched"; the advice says what would help (prefetching
each route's code and data) with what the soft navigations fetched after the press, and, when
most navigations were soft, a headline that says so. Pure module.
"""

from __future__ import annotations

from prefetch_lab.audit.computed.navigations import ROUTE_PARTS
from prefetch_lab.formatting import fmt_ms


def counts(summary: dict[str, dict]) -> tuple[int, int]:
    """(soft, document) navigations after the landing page, all arms."""
    return (sum(s.get("soft_navigations") or 0 for s in summary.values()),
            sum(s.get("navigations") or 0 for s in summary.values()))


def soft_navigation_advice(summary: dict[str, dict], soft_navigations: list[dict]) -> list[dict]:
    """One advice entry (code "soft-navigations") when any arm measured a soft navigation; its
    `headline` is set when they were most of the navigations after the landing page."""
    soft, documents = counts(summary)
    if not soft:
        return []
    arms = [arm for arm, s in summary.items() if s.get("soft_navigations")]
    paints = ", ".join(f"{arm} {fmt_ms(summary[arm]['soft_navigations_p50']['largest_paint_ms'])}" for arm in arms)
    routes = {part: sum(summary[arm]["soft_navigations_p50"]["route_requests"][part] for arm in arms)
              for part in ROUTE_PARTS}
    reason = (f"{soft:,} of {soft + documents:,} navigations after the landing page were soft: the page changed its URL "
              "through the History or Navigation API and fetched the new view's code and data itself, requesting no "
              "document (client-side routing). Document prefetching (speculation rules, Edgio's page prefetch) cannot "
              f"speed these up; the TTFB, FCP and LCP figures cover only the {documents:,} document navigations, and "
              f"the soft ones are measured apart (largest paint of the new view after the press, p50: {paints})")
    remedy = ("prefetch each route's code and data rather than its document: Edgio's manual prefetch and deep fetch "
              "(the route's JS chunks and JSON), or the framework's own router prefetch, with a max_age rule so the "
              f"edge keeps them. After the press the soft navigations made {routes['browser']:,} requests: "
              f"{routes['from_browser_cache']:,} from the browser's cache (the site's own prefetches among them); "
              f"the edge answered {routes['edge_cache']:,} from its cache and sent {routes['origin']:,} to the origin")
    entry = {"reason": reason, "code": "soft-navigations", "detail": None, "count": soft, "noun": "soft navigations",
             "arms": arms, "example_urls": list(dict.fromkeys(n["url"] for n in soft_navigations))[:3], "remedy": remedy,
             "headline": None}
    if soft > documents:
        entry["headline"] = (
            f"Most navigations on this site are soft ({soft:,} of {soft + documents:,}: client-side routing, no "
            "document requested), so document prefetching can neither speed them up nor be judged on them: the "
            "figures below describe the document navigations only. What would help is prefetching each route's code "
            f"and data (Edgio's manual prefetch and deep fetch). Soft navigations' largest paint p50: {paints}.")
    return [entry]


def deploy_notes(summary: dict[str, dict]) -> list[str]:
    """The deployment README's first words on a site that routes on the client ([]: no soft navigation)."""
    soft, documents = counts(summary)
    if not soft:
        return []
    return [f"{soft:,} of {soft + documents:,} navigations the audit made after the landing page were soft (client-side "
            "routing: no document requested). The speculation rules here speed up document navigations only: a "
            "visit from a link elsewhere, a reload, a link opened in a new tab, pages the router does not handle. For "
            "the soft ones, prefetch each route's code and data (Edgio's manual prefetch and deep fetch, or the "
            "framework's router prefetch) and give those URLs a rule with `max_age`, so the edge keeps them."]
