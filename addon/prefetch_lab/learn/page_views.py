"""What the traversal graph is fed: which requests are page views, and which page they came from.
Also the `prefetch_learned_thresholds` option's syntax. Pure module: no mitmproxy.

A page view is a document navigation that got a successful HTML answer, from the origin or from
the edge cache: GET, `Sec-Fetch-Dest: document` (or `Sec-Fetch-Mode: navigate` when there is no
Dest), no `Sec-Purpose`/`Purpose` (a prefetch or prerender is not a view: the visitor may never
come), answered 2xx with an HTML type, or 304 (the browser revalidating a page it holds), and
not one of the edge's own files. The caller leaves out the edge's own background fetches.

The page it came from is the Referer when it is same-origin, else none. Same-origin is what the
browser says in `Sec-Fetch-Site` when it sends it: in reverse-proxy mode the browser's Referer
names the proxy's address while the request names the origin's, and only the browser knows they
are one site. Without the header (other clients) the Referer's scheme, host and port must be the
request's.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from prefetch_lab.client.edge_files import is_edge_path
from prefetch_lab.learn.learned_rules import Thresholds
from prefetch_lab.learn.traversal import normalise_host, page_key, site_of

HTML_TYPES = ("text/html", "application/xhtml+xml")
THRESHOLD_NAMES = ("immediate", "prerender", "prefetch")
DEFAULT_THRESHOLDS = "immediate=0.8,prerender=0.5,prefetch=0.2"


def is_page_view(method: str, header: Callable[[str], str | None], status: int,
                 content_type: str | None, path: str) -> bool:
    """`header(name)` reads a request header (lower-case name; None when absent). Ordered so
    that the common request (a subresource) fails on the first test."""
    dest = header("sec-fetch-dest")
    if dest is not None:
        if dest != "document":
            return False
    elif header("sec-fetch-mode") != "navigate":
        return False
    if method != "GET" or header("sec-purpose") is not None or header("purpose") is not None:
        return False
    if status == 304:
        pass  # no body and often no Content-Type: the browser holds the page
    elif not 200 <= status <= 299 or (content_type or "").split(";")[0].strip().lower() not in HTML_TYPES:
        return False
    return not is_edge_path(path.partition("?")[0])


def referring_page(referer: str | None, sec_fetch_site: str | None, scheme: str, host: str,
                   port: int | None) -> str | None:
    """The page key of a same-origin Referer ('/a?x=1'), else None. `scheme`, `host`, `port`:
    where the request goes."""
    if not referer:
        return None
    if sec_fetch_site is not None:
        same = sec_fetch_site.strip().lower() == "same-origin"
    else:
        same = (urlsplit(referer).scheme.lower() == scheme.lower()
                and site_of(referer) == normalise_host(host, port, scheme))
    return page_key(referer) if same else None


def parse_thresholds(text: str) -> Thresholds:
    """'immediate=0.8,prerender=0.5,prefetch=0.2' -> Thresholds; a name left out keeps its
    default. ValueError naming the problem: an unknown or repeated name, a value that is not a
    number from 0 to 1, or prefetch <= prerender <= immediate broken."""
    values: dict[str, float] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in THRESHOLD_NAMES:
            raise ValueError(f"expected name=value with a name from {', '.join(THRESHOLD_NAMES)}, got {item.strip()!r}")
        if name in values:
            raise ValueError(f"{name} is given twice")
        try:
            number = float(value)
        except ValueError:
            number = -1.0
        if not 0.0 <= number <= 1.0:  # also NaN
            raise ValueError(f"{name} must be a number from 0 to 1, got {value!r}")
        values[name] = number
    return Thresholds(**values)
