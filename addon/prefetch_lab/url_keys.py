"""When two URLs are the same page: the key a navigation, a prefetch and a trail record share
(`normalize_url`), a URL's origin, and the reverse proxy's address mapped to the site's. Shared
by the audit's computed data and the report. Pure module: the standard library only.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def normalize_url(url: str | None, aliases: dict[str, str] | None = None) -> str:
    """The URL a navigation and a prefetch share: no fragment, no edgio_* params, default port
    dropped, and an aliased origin (the reverse proxy's own address) replaced by the site's."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url.split("#", 1)[0]
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    scheme = parts.scheme.lower()
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    query = "&".join(p for p in parts.query.split("&") if p and not p.split("=", 1)[0].startswith("edgio_"))
    alias = (aliases or {}).get(f"{scheme}://{host}")
    if alias:
        scheme, host = alias.split("://", 1)
    return urlunsplit((scheme, host, parts.path or "/", query, ""))


def url_origin(url: str | None) -> str | None:
    """scheme://host[:port] of a URL, normalised like normalize_url."""
    key = normalize_url(url)
    if "://" not in key:
        return None
    scheme, rest = key.split("://", 1)
    return f"{scheme}://{rest.split('/', 1)[0]}"


def origin_aliases(proxy_address: str | None, steps: list[dict]) -> dict[str, str]:
    """In reverse mode the browser's URLs carry the proxy's address while the walk (and the
    trail) carry the site's: treat the proxy's origin as the site's."""
    proxy, site = url_origin(proxy_address), url_origin(steps[0].get("url")) if steps else None
    return {proxy: site} if proxy and site and proxy != site else {}
