"""Does a page's Content-Security-Policy let our same-origin script and service worker run?

Read-only: the proxy never weakens a policy; it copies a nonce onto its tag or skips injection.
Follows CSP Level 3 ("Does url match source list", effective directives, fallback lists) and
Chromium where they differ or the spec is silent:
- Only enforced policies: pass `Content-Security-Policy` values, never `-Report-Only` ones
  (report-only policies never block, and `<meta>` cannot deliver them).
- Every policy must allow a load. Several policies may come in one header value (comma-separated),
  in several headers, and in `<meta http-equiv>` tags in the head.
- `'strict-dynamic'` disables host/scheme/'self' sources for parser-inserted scripts (ours is in
  the HTML), so only a nonce helps; a service worker registered from script is not
  parser-inserted, so Chromium allows it whenever the operative worker directive has
  `'strict-dynamic'` (`AllowDynamicWorker` in csp_directive_list.cc).
- Hash sources only match an external script through SRI `integrity`, which the tag lacks:
  hash-only policies block it.
- IP-address hosts match host sources exactly (Chromium), never through `*.` wildcards.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence
from urllib.parse import unquote_to_bytes, urlsplit

from prefetch_lab.html.inject import head_meta_tags

INSTALL_PATH = "/__edgio__/prefetch/install.js"
SERVICE_WORKER_PATH = "/__edgio__/prefetch/service-worker.js"

_ASCII_WS = "\t\n\f\r "
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_SCHEME_SOURCE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*):")
_HOST_SOURCE = re.compile(
    r"(?:(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://)?"
    r"(?P<host>\*|(?:\*\.)?[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*\.?)"
    r"(?::(?P<port>[0-9]+|\*))?"
    r"(?P<path>/[^?#]*)?"
)
_NONCE_SOURCE = re.compile(r"'nonce-([A-Za-z0-9+/_-]+={0,2})'", re.IGNORECASE)
_HASH_SOURCE = re.compile(r"'sha(?:256|384|512)-[A-Za-z0-9+/_-]+={0,2}'", re.IGNORECASE)
_IPV4 = re.compile(r"[0-9]+(?:\.[0-9]+){3}")
_META_ATTR = re.compile(
    rb"""([^\t\n\f\r />"'=]+)(?:[\t\n\f\r ]*=[\t\n\f\r ]*(?:"([^"]*)"|'([^']*)'|([^\t\n\f\r >]+)))?"""
)


@dataclass(frozen=True)
class Policy:
    directives: Mapping[str, tuple[str, ...]]  # lower-case name -> source tokens as written
    origin_kind: Literal["header", "meta"] = "header"

    def effective(self, *fallback: str) -> tuple[str, tuple[str, ...]] | None:
        """The first directive of `fallback` this policy has, with its sources."""
        for name in fallback:
            if name in self.directives:
                return name, self.directives[name]
        return None


@dataclass(frozen=True)
class ScriptDecision:
    allowed: bool
    nonce: str | None
    reason: str
    notes: tuple[str, ...] = field(default=())  # things install.js must cope with


@dataclass(frozen=True)
class WorkerDecision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class PrefetchDecision:
    allowed: bool
    reason: str


@dataclass(frozen=True)
class _Url:
    scheme: str
    host: str
    port: int | None  # None = the scheme's default port, as the URL parser normalises it
    path: str


def parse_policies(header_values: Sequence[str], meta_values: Sequence[str] = ()) -> list[Policy]:
    """Enforced policies from Content-Security-Policy header values and `<meta>` contents."""
    policies = []
    for value in header_values:
        policies += [_parse_policy(part, "header") for part in value.split(",")]
    # A <meta> delivers exactly one policy: its content is not split on commas.
    policies += [_parse_policy(value, "meta") for value in meta_values]
    return [policy for policy in policies if policy.directives]


def _parse_policy(serialized: str, origin_kind: Literal["header", "meta"]) -> Policy:
    directives: dict[str, tuple[str, ...]] = {}
    for token in serialized.split(";"):
        if not token.isascii() or not token.strip(_ASCII_WS):
            continue  # the spec drops non-ASCII directives whole
        name, *values = token.split()
        name = name.lower()
        if name not in directives:  # the first occurrence wins
            directives[name] = tuple(values)
    return Policy(directives, origin_kind)


def find_meta_csp(body: bytes) -> list[str]:
    """Contents of `<meta http-equiv="Content-Security-Policy">` tags in the document head."""
    contents = []
    for tag in head_meta_tags(body):
        attrs: dict[bytes, bytes] = {}
        for match in _META_ATTR.finditer(tag, 5, len(tag) - 1):
            name = match.group(1).lower()
            attrs.setdefault(name, match.group(2) or match.group(3) or match.group(4) or b"")
        http_equiv = attrs.get(b"http-equiv", b"").strip(b"\t\n\f\r ").lower()
        if http_equiv == b"content-security-policy" and b"content" in attrs:
            contents.append(html.unescape(attrs[b"content"].decode("latin-1")))
    return contents


def script_decision(policies: Sequence[Policy], page_origin: str, path: str = INSTALL_PATH) -> ScriptDecision:
    """May the page load `<script src=path>` inserted in its HTML, and with which nonce?"""
    origin = _parse_url(page_origin)
    url = _Url(origin.scheme, origin.host, origin.port, path)
    nonce_sets: list[list[str]] = []
    strict_dynamic = False
    for policy in policies:
        found = policy.effective("script-src-elem", "script-src", "default-src")
        if found is None:
            continue
        name, sources = found
        keywords = {source.lower() for source in sources}
        nonces = [m.group(1) for source in sources if (m := _NONCE_SOURCE.fullmatch(source))]
        if "'strict-dynamic'" in keywords:
            strict_dynamic = True
            if not nonces:
                return _blocked(f"{name} has 'strict-dynamic' without a nonce")
            nonce_sets.append(nonces)
        elif _url_matches_list(url, sources, origin):
            continue
        elif nonces:
            nonce_sets.append(nonces)
        elif _is_none(sources):
            return _blocked(f"{name} 'none'")
        elif any(_HASH_SOURCE.fullmatch(source) for source in sources):
            return _blocked(f"{name} allows only hashes, no nonce")
        else:
            return _blocked(f"{name} does not allow {_url_text(url)}")
    notes = _trusted_types_notes(policies)
    if not nonce_sets:
        return ScriptDecision(True, None, "csp-allows-script" if policies else "no-csp", notes)
    common = [nonce for nonce in nonce_sets[0] if all(nonce in nonces for nonces in nonce_sets[1:])]
    if not common:
        return _blocked("policies require different nonces")
    if not strict_dynamic:
        notes += ("install.js must copy its nonce onto the scripts it adds (cache-manifest.js)",)
    return ScriptDecision(True, common[0], "csp-allows-script-with-nonce", notes)


def _blocked(why: str) -> ScriptDecision:
    return ScriptDecision(False, None, f"csp-blocks-script: {why}")


def _trusted_types_notes(policies: Sequence[Policy]) -> tuple[str, ...]:
    for policy in policies:
        if "'script'" in {value.lower() for value in policy.directives.get("require-trusted-types-for", ())}:
            return ("require-trusted-types-for 'script': install.js must set script URLs through a Trusted Types policy",)
    return ()


def worker_decision(
    policies: Sequence[Policy], page_origin: str, path: str = SERVICE_WORKER_PATH
) -> WorkerDecision:
    """May the page register the service worker at `path`? Nonces and hashes never allow a worker."""
    origin = _parse_url(page_origin)
    url = _Url(origin.scheme, origin.host, origin.port, path)
    for policy in policies:
        found = policy.effective("worker-src", "child-src", "script-src", "default-src")
        if found is None:
            continue
        name, sources = found
        if "'strict-dynamic'" in {source.lower() for source in sources}:
            continue  # registration is not parser-inserted: allowed (Chromium, CSP3)
        if not _url_matches_list(url, sources, origin):
            return WorkerDecision(False, f"csp-blocks-worker: {name} does not allow {_url_text(url)}")
    return WorkerDecision(True, "csp-allows-worker" if policies else "no-csp")


def prefetch_decision(
    policies: Sequence[Policy],
    page_origin: str,
    path: str = "/",
    initiator: Literal["link", "fetch"] = "link",
) -> PrefetchDecision:
    """May the page fetch same-origin `path` via `<link rel=prefetch>` (default-src only, as CSP3
    and Chromium treat resource hints) or `fetch()` (connect-src, then default-src)?

    Speculation-rules prefetches are navigations, which no fetch directive governs.
    """
    origin = _parse_url(page_origin)
    url = _Url(origin.scheme, origin.host, origin.port, path)
    fallback = ("default-src",) if initiator == "link" else ("connect-src", "default-src")
    for policy in policies:
        found = policy.effective(*fallback)
        if found is not None and not _url_matches_list(url, found[1], origin):
            return PrefetchDecision(False, f"csp-blocks-prefetch: {found[0]} does not allow {_url_text(url)}")
    return PrefetchDecision(True, "csp-allows-prefetch" if policies else "no-csp")


def _is_none(sources: Sequence[str]) -> bool:
    # An empty list means 'none'; 'none' next to other sources is ignored.
    return not sources or (len(sources) == 1 and sources[0].lower() == "'none'")


def _url_matches_list(url: _Url, sources: Sequence[str], origin: _Url) -> bool:
    return not _is_none(sources) and any(_url_matches(url, source, origin) for source in sources)


def _url_matches(url: _Url, source: str, origin: _Url) -> bool:
    """CSP3 "Does url match expression in origin with redirect count" (redirect count 0)."""
    if source == "*":
        return url.scheme in ("http", "https") or url.scheme == origin.scheme
    if source.lower() == "'self'":
        return _self_matches(url, origin)
    if scheme := _SCHEME_SOURCE.fullmatch(source):
        return _scheme_matches(scheme.group(1).lower(), url.scheme)
    host_source = _HOST_SOURCE.fullmatch(source)
    if host_source is None:
        return False  # keywords, nonces, hashes: not URL matches
    scheme = host_source["scheme"]
    if not _scheme_matches(scheme.lower() if scheme else origin.scheme, url.scheme):
        return False
    return (
        _host_matches(host_source["host"], url.host)
        and _port_matches(host_source["port"], url)
        and _path_matches(host_source["path"] or "", url.path)
    )


def _self_matches(url: _Url, origin: _Url) -> bool:
    if (url.scheme, url.host, url.port) == (origin.scheme, origin.host, origin.port):
        return True
    # Secure upgrade on the same host with the same or default ports.
    if url.host != origin.host or url.port != origin.port:  # None == None: both default ports
        return False
    return url.scheme in ("https", "wss") or (origin.scheme == "http" and url.scheme in ("http", "ws"))


def _scheme_matches(source_scheme: str, url_scheme: str) -> bool:
    return (
        source_scheme == url_scheme
        or (source_scheme == "http" and url_scheme == "https")
        or (source_scheme == "ws" and url_scheme in ("wss", "http", "https"))
        or (source_scheme == "wss" and url_scheme == "https")
    )


def _host_matches(pattern: str, host: str) -> bool:
    pattern = pattern.lower().rstrip(".")
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return not _is_ip(host) and host.endswith(pattern[1:])
    return pattern == host


def _is_ip(host: str) -> bool:
    return ":" in host or _IPV4.fullmatch(host) is not None


def _port_matches(port: str | None, url: _Url) -> bool:
    if port == "*":
        return True
    wanted = int(port) if port else None
    return wanted == url.port or (url.port is None and wanted == _DEFAULT_PORTS.get(url.scheme))


def _path_matches(source_path: str, url_path: str) -> bool:
    if not source_path:
        return True
    exact = not source_path.endswith("/")
    source_parts = source_path.split("/")
    url_parts = url_path.split("/")
    if not exact:
        source_parts.pop()
    if len(source_parts) > len(url_parts) or (exact and len(source_parts) != len(url_parts)):
        return False
    return all(unquote_to_bytes(a) == unquote_to_bytes(b) for a, b in zip(source_parts, url_parts))


def _parse_url(url: str) -> _Url:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port
    if port == _DEFAULT_PORTS.get(scheme):
        port = None
    return _Url(scheme, (parts.hostname or "").rstrip("."), port, parts.path or "/")


def _url_text(url: _Url) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port is not None else ""
    return f"{url.scheme}://{host}{port}{url.path}"
