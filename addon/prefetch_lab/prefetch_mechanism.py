"""Which mechanism issued a prefetch the edge recorded: the speculation rules the edge served
(`speculation`), the site's own rules (`site`), or Edgio's service worker, for a page (`edgio`) or
a subresource of one (`deep-fetch`). The trail says speculation or edgio; telling a page from a
subresource takes the response's type, else what the walk saw, else the URL's extension. Shared
by the audit's computed prefetches and the report's trail view. Pure module.
"""

from __future__ import annotations

from urllib.parse import urlsplit

ASSET_EXTENSIONS = frozenset(
    "css js mjs json png jpg jpeg gif webp avif svg ico bmp woff woff2 ttf otf eot mp4 webm mp3 wasm map txt xml pdf".split()
)


def is_html(content_type: str | None) -> bool:
    return bool(content_type) and ("html" in content_type.lower())


def looks_like_asset(url: str) -> bool:
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    return "." in last and last.rsplit(".", 1)[-1].lower() in ASSET_EXTENSIONS


def mechanism(record: dict, url: str, documents: set[str], resources: set[str]) -> str:
    """The mechanism of a prefetch-* record for `url` (its normalized key); `documents` and
    `resources` are the keys the browser loaded as pages and as subresources."""
    if record.get("event") == "prefetch-forwarded" and record.get("reason") == "site-speculation":
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
