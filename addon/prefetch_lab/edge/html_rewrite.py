"""Injecting install.js into an HTML response: the mitmproxy side of inject.py and csp.py.

Works on the decoded body *bytes* (never mitmproxy's text: its charset guessing differs between
versions and can double-encode); setting `.content` re-encodes with the response's own
Content-Encoding and fixes Content-Length.
"""

from __future__ import annotations

import functools
import gzip
from typing import Any

import brotli

from mitmproxy import http

from prefetch_lab.html import csp
from prefetch_lab.edge import headers as header_reads
from prefetch_lab.html import inject
from prefetch_lab.client.edge_files import INSTALL_JS


# Re-encoding at fast levels: mitmproxy 11 uses gzip level 9 and brotli quality 11 (12.2.2 moved
# to its fastest levels), which made a 200 KB gzip page cost ~7x a forwarded one to rewrite.
FAST_ENCODERS = {
    "gzip": lambda body: gzip.compress(body, compresslevel=1),
    "x-gzip": lambda body: gzip.compress(body, compresslevel=1),
    "br": lambda body: brotli.compress(body, quality=4),
}


def set_body(response: http.Response, body: bytes) -> None:
    """Like `response.content = body` (same Content-Encoding, Content-Length fixed), faster."""
    encoder = FAST_ENCODERS.get(response.headers.get("content-encoding", "").strip().lower())
    if encoder is None:
        response.content = body
        return
    response.raw_content = encoder(body)
    if "transfer-encoding" not in response.headers:
        response.headers["content-length"] = str(len(response.raw_content))


def is_html_document(flow: http.HTTPFlow) -> bool:
    response = flow.response
    content_type = (header_reads.get(response.headers, b"content-type") or "").split(";")[0].strip().lower()
    return (
        flow.request.method == "GET"
        and response.status_code == 200
        and content_type in ("text/html", "application/xhtml+xml")
    )


def declared_charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def rewrite_html(
    flow: http.HTTPFlow, mode: str, placement: str, include_cache_misses: bool, force_ratio: float | None
) -> tuple[bool, dict[str, Any]] | None:
    """Inject the install.js tag. None: not a candidate (nothing to audit); else (injected, detail)."""
    if mode not in ("both", "edgio") or not is_html_document(flow):
        return None
    response = flow.response
    if not response.raw_content:
        return False, {"reason": "empty"}
    try:
        body = response.get_content(strict=True)
    except ValueError:
        return False, {"reason": "undecodable-encoding", "content_encoding": response.headers.get("content-encoding")}
    assert body is not None
    tag, detail = install_tag(flow, csp.find_meta_csp(body), include_cache_misses, force_ratio)
    if tag is None:
        return False, detail
    result = inject.inject_script(
        body, tag, placement, charset=declared_charset(response.headers.get("content-type", ""))
    )
    if result.body is None:
        return False, {"reason": result.reason}
    set_body(response, result.body)
    return True, {"placement": placement, "offset": result.offset, **detail}


def install_tag(
    flow: http.HTTPFlow, meta_csp: list[str], include_cache_misses: bool, force_ratio: float | None
) -> tuple[bytes | None, dict[str, Any]]:
    """The install.js tag the page's CSP (headers and `<meta>` values) allows, with the audit's
    detail; (None, {"reason": ...}) when the CSP forbids the script."""
    host = flow.request.host
    origin = f"{flow.request.scheme}://{'[' + host + ']' if ':' in host else host}:{flow.request.port}"
    tag, detail = _decide_tag(origin, tuple(flow.response.headers.get_all("content-security-policy")), tuple(meta_csp),
                              include_cache_misses, force_ratio)
    return tag, dict(detail)  # the caller's own copy


@functools.lru_cache(maxsize=512)
def _decide_tag(origin: str, header_csp: tuple[str, ...], meta_csp: tuple[str, ...], include_cache_misses: bool,
                force_ratio: float | None) -> tuple[bytes | None, dict[str, Any]]:
    # A pure function of a few strings that a site repeats on every page (most send no CSP at
    # all): parsing the policies and building the tag cost ~0.1 ms a page.
    policies = csp.parse_policies(list(header_csp), list(meta_csp))
    script = csp.script_decision(policies, origin)
    if not script.allowed:
        return None, {"reason": script.reason}
    worker = csp.worker_decision(policies, origin)
    tag = inject.build_script_tag(
        INSTALL_JS, include_cache_misses=include_cache_misses, force_prefetch_ratio=force_ratio, nonce=script.nonce,
        service_worker=worker.allowed,
    )
    return tag, {"nonce": script.nonce is not None, "service_worker": "allowed" if worker.allowed else worker.reason}
