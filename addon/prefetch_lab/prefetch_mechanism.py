"""Which mechanism issued a prefetch the edge recorded, and so whose it was: ours, the speculation
rules the edge served (`speculation`) or Edgio's service worker, for a page (`edgio`) or a
subresource of one (`deep-fetch`); or the site's own (`site`): its `<link rel=prefetch>`
prefetches and script fetches with `Sec-Purpose`, and its own speculation rules. (`preload` and
`modulepreload` send no `Sec-Purpose`: to the edge they are the page's ordinary requests.) Shared by the audit's computed prefetches and the report's trail view. Pure
module.

How the site's own are told from ours, first match wins:
- the arm injected nothing of ours (`injected=False`: the control and placebo arms): the site's;
- the edge forwarded it as the site's own rules (`site-speculation`: tagged, not with our tag);
- `edgio_*` params (`prefetch: edgio`): Edgio's client, ours;
- the request's `Sec-Speculation-Tags` (the trail's `speculation_tags`): with our tag, our
  rules; other tags (`null`: untagged rules), the site's rules;
- none (""), and not for a document: no speculation rule asked for it (Chromium tags every
  speculation; ours are documents), so a `<link rel=prefetch>` or a script's fetch: the site's.
Trails from before `speculation_tags` was recorded fall back to ours.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from prefetch_lab.http.speculation_headers import TAG

ASSET_EXTENSIONS = frozenset(
    "css js mjs json png jpg jpeg gif webp avif svg ico bmp woff woff2 ttf otf eot mp4 webm mp3 wasm map txt xml pdf".split()
)
OUR_TAG = f'"{TAG}"'  # as Sec-Speculation-Tags carries it (a String)
SITE_FORWARD_REASONS = ("site-speculation",)


def is_html(content_type: str | None) -> bool:
    return bool(content_type) and ("html" in content_type.lower())


def looks_like_asset(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last and last.rsplit(".", 1)[-1].lower() in ASSET_EXTENSIONS


def is_site_prefetch(record: dict, forwarded_reason: str | None = None) -> bool:
    """The prefetch-* record is of the site's own prefetching (in an arm that injected ours)."""
    reason = forwarded_reason or (record.get("reason") if record.get("event") == "prefetch-forwarded" else None)
    if reason in SITE_FORWARD_REASONS:
        return True
    if record.get("prefetch") != "speculation":
        return False
    tags = record.get("speculation_tags")
    if tags:
        return OUR_TAG not in tags
    return tags == "" and (record.get("dest") or "document") != "document"


def mechanism(record: dict, url: str, documents: set[str], resources: set[str], *,
              injected: bool = True, forwarded_reason: str | None = None) -> str:
    """The mechanism of a prefetch-* record for `url` (its normalized key); `documents` and
    `resources` are the keys the browser loaded as pages and as subresources; `injected`: the
    arm injected our prefetching; `forwarded_reason`: the reason of the flow's
    prefetch-forwarded record when the edge then served it (`record` is its prefetch-hit)."""
    if not injected or is_site_prefetch(record, forwarded_reason):
        return "site"
    if record.get("prefetch") == "speculation":
        return "speculation"
    content_type = record.get("content_type")
    if content_type:
        subresource = not is_html(content_type)
    elif url in documents:
        subresource = False
    else:
        subresource = url in resources or looks_like_asset(url) or record.get("dest") not in (None, "empty", "document")
    return "deep-fetch" if subresource else "edgio"
