"""The facts the deployment's lint reads, from what the audit gathered: the links of every page
the planning pass and the training walks opened (gather/page_links.py), and, for the URLs the
audit itself fetched (the walk, the warm-up), what the edge saw: status, caching status and size
from the proxies' trails, headers and cookies from their HARs (mitmproxy's savehar). Prefetches
and the edge's refusals are not fetches of the page by a visitor and are left out. Pure: parsed
JSON in, deploy.link_verdicts.Link out; nothing is fetched to classify a link."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from prefetch_lab.deploy.link_verdicts import Link, Response
from prefetch_lab.http.cachestore import strip_edgio_params
from prefetch_lab.trail import ORIGIN_EVENTS


def normal_url(url: str) -> str:
    """The page's URL as a link names it: no fragment, no `edgio_*` parameters."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=strip_edgio_params(parts.query), fragment=""))


def _header(headers: Sequence[dict], name: str) -> list[str]:
    return [h.get("value", "") for h in headers or () if str(h.get("name", "")).lower() == name]


def _is_prefetch(request: dict) -> bool:
    query = urlsplit(request.get("url", "")).query
    return bool(_header(request.get("headers"), "sec-purpose")) or "edgio_prefetch" in query or "edgio_dt_pf" in query


def responses_from(har_entries: Iterable[dict], trail_records: Iterable[dict]) -> dict[str, Response]:
    """URL -> the first response a visitor's own request for it got (a navigation or warm-up),
    with the edge's caching status for that URL from the trail when it recorded one."""
    caching: dict[str, tuple[str, int | None]] = {}
    for record in trail_records:
        if record.get("event") in ORIGIN_EVENTS and not record.get("prefetch") and record.get("url"):
            caching.setdefault(normal_url(record["url"]), (record.get("caching_status") or "", record.get("size")))
    found: dict[str, Response] = {}
    for entry in har_entries:
        request, response = entry.get("request") or {}, entry.get("response") or {}
        status = response.get("status") or 0
        if not status or request.get("method", "GET") != "GET" or _is_prefetch(request):
            continue
        if not (_header(response.get("headers"), "content-type") or [""])[0].startswith("text/html") and not 300 <= status < 400:
            continue  # a page's resources are not links
        url = normal_url(request.get("url", ""))
        if url in found:
            continue
        headers = response.get("headers") or []
        set_cookies = [c.get("name", "") for c in response.get("cookies") or []] or [
            value.split("=", 1)[0].strip() for value in _header(headers, "set-cookie")]
        request_cookies = [c.get("name", "") for c in request.get("cookies") or []]
        status_text, size = caching.get(url, ("", None))
        found[url] = Response(
            status=status, cache_control=", ".join(_header(headers, "cache-control")), vary=", ".join(_header(headers, "vary")),
            set_cookies=tuple(dict.fromkeys(n for n in set_cookies if n)), request_cookies=tuple(dict.fromkeys(request_cookies)),
            location=response.get("redirectURL") or (_header(headers, "location") or [""])[0],
            size=size if size is not None else (response.get("content") or {}).get("size"), caching_status=status_text,
        )
    return found


def collect_links(pages: Iterable[dict], followed: Iterable[str], responses: dict[str, Response],
                  used_prefetches: Iterable[str]) -> list[Link]:
    """`pages`: page_links() results ({"page", "links"}) -> one Link per link seen (the
    deployment merges repeats); `followed`: the walk's URLs; `used_prefetches`: URLs a prefetch
    of which served a navigation."""
    followed_urls = {normal_url(u) for u in followed}
    used = {normal_url(u) for u in used_prefetches}
    links: list[Link] = []
    for page in pages:
        for raw in page.get("links") or []:
            href = raw.get("href") or ""
            if urlsplit(href).scheme not in ("http", "https") or raw.get("download"):
                continue
            url = normal_url(href)
            links.append(Link(
                url=href, text=raw.get("text", ""), rel=raw.get("rel", ""), region=raw.get("region", "other"),
                visible=bool(raw.get("visible")), pages=(normal_url(page.get("page", "")),),
                followed=url in followed_urls, response=responses.get(url), prefetch_used=url in used,
            ))
    return links
