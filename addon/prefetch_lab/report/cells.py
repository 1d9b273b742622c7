"""The report's small pieces of text and its table cells: plural nouns, URLs shortened to the
site's paths, the wording of each not-prefetched reason, and cells that carry their sort key
(numbers sort as numbers), tooltip and tone. Numbers become text through formatting.py only.
Pure module.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from prefetch_lab.formatting import fmt_ms, fmt_ratio

# Why a navigation was not prefetched (findings/advice codes), as the end of "… because …".
BECAUSE = {
    "edge-cold": "the edge was cold",
    "excluded-by-rule": "a rule excluded the page",
    "origin-uncacheable": "the origin forbids caching the page",
    "origin-error": "the origin failed",
    "edge-refused": "the edge refused the prefetch",
    "prefetch-failed": "the prefetch failed",
    "chromium-refused": "Chromium refused the prefetch",
    "csp-blocked": "the page's CSP blocked install.js",
    "not-injected": "install.js was not injected",
    "prefetched-not-used": "the prefetch was not used",
    "link-not-found": "the walk did not find the link",
    "not-triggered": "nothing triggered a prefetch",
}


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def short_url(url: str | None, site: str | None) -> str:
    """Path and query for the audited site's own URLs, the whole URL for others."""
    if not url:
        return "–"
    parts, home = urlsplit(url), urlsplit(site or "")
    if (parts.scheme, parts.netloc) == (home.scheme, home.netloc):
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return url


def cell(text: Any, sort: Any = None, title: str | None = None, tone: str | None = None) -> dict:
    """A table cell: what it shows, what it sorts by (numbers sort as numbers), an optional tooltip
    and tone (good / bad) for the stylesheet."""
    sort_key = sort if sort is not None else text
    if isinstance(sort_key, bool):
        sort_key = int(sort_key)
    return {"text": str(text), "sort": sort_key if isinstance(sort_key, (int, float)) else str(sort_key),
            "numeric": isinstance(sort_key, (int, float)), "title": title, "tone": tone}


def ms_cell(value: float | None) -> dict:
    return cell(fmt_ms(value), value if value is not None else -1)


def ratio_cell(value: float | None) -> dict:
    tone = None if value is None or value == 1 else ("good" if value < 0.95 else "bad" if value > 1.05 else None)
    return cell(fmt_ratio(value), value if value is not None else -1, tone=tone)


def table(columns: list[str], rows: list[list[dict]], numeric: set[str] = frozenset()) -> dict:
    return {"columns": [{"label": c, "numeric": c in numeric} for c in columns], "rows": rows}
