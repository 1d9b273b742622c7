"""Shared parts of the browser tests: one headless Chromium per session, a "lab" (a real
`mitmdump -s addon/prefetch.py` with its own rules and audit trail) per test module or option set,
a small shop origin, and helpers that read what happened (audit records, page state).

Each test gets fresh browser contexts (so fresh service-worker registrations) routed through its
lab with Playwright's per-context proxy, and its own origin port (so its own edge cache keys).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import Mitmdump, Origin, Reply, launch_chromium


HTML = {"content-type": "text/html; charset=utf-8"}
PNG_TYPE = {"content-type": "image/png"}
# A valid 1x1 PNG, so `naturalWidth` tells whether an <img> really loaded.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360f8cfc0f01f0005000201a5d6a1f00000000049454e44ae426082"
)


@pytest.fixture(scope="session")
def browser() -> Iterator:
    # Per-context proxies (below) need no global one; Playwright keeps loopback proxied.
    chromium = launch_chromium()
    yield chromium
    chromium.close()


@dataclass
class Lab:
    proxy: Mitmdump
    audit_path: Path
    rules_path: Path

    def records(self, event: str | None = None) -> list[dict]:
        lines = self.audit_path.read_text(encoding="utf-8").splitlines() if self.audit_path.exists() else []
        records = [json.loads(line) for line in lines if line.strip()]
        return [r for r in records if event is None or r["event"] == event]

    def prefetches(self, url_prefix: str) -> list[dict]:
        """Prefetch decisions (hit, refused, forwarded) for URLs starting with `url_prefix`."""
        events = ("prefetch-hit", "prefetch-refused", "prefetch-forwarded")
        return [r for r in self.records() if r["event"] in events and r["url"].startswith(url_prefix)]

    def context(self, browser, **options):
        return browser.new_context(proxy={"server": self.proxy.address}, **options)

    def warm(self, *urls: str) -> None:
        """Fill the edge cache the way ordinary traffic would: plain GETs through the proxy."""
        for url in urls:
            status, _, _ = self.proxy.request("GET", url)
            assert status == 200, f"warming {url}: {status}"


@pytest.fixture(scope="module")
def start_lab(tmp_path_factory) -> Iterator[Callable[..., Lab]]:
    """start_lab(rules_yaml, **mitmproxy_options) -> Lab, stopped at the end of the module."""
    started: list[Mitmdump] = []

    def start(rules_yaml: str, **options: str) -> Lab:
        folder = tmp_path_factory.mktemp("lab")
        rules_path = folder / "rules.yaml"
        rules_path.write_text(rules_yaml, encoding="utf-8")
        audit_path = folder / "audit.jsonl"
        proxy = Mitmdump(
            folder,
            {
                "prefetch_rules": str(rules_path),
                "prefetch_audit_file": str(audit_path),
                # The Edgio runtime alone: no Speculation-Rules header competing for the same links.
                "prefetch_inject": "edgio",
                **options,
            },
        )
        started.append(proxy)
        return Lab(proxy, audit_path, rules_path)

    yield start
    for proxy in started:
        proxy.stop()


def url_path(url: str) -> str:
    """'http://127.0.0.1:5/p/1?x=1' -> '/p/1?x=1'."""
    return "/" + url.split("://", 1)[-1].partition("/")[2]


def product_page(n: int, extra: str = "") -> bytes:
    return (
        f'<!doctype html><html><head><title>Product {n}</title></head><body><h1>Product {n}</h1>'
        f'<img class="hero" src="/images/hero{n}.png" alt="hero"><img class="thumb" src="/images/other{n}.png">'
        f"{extra}</body></html>"
    ).encode()


def shop_routes(products: range, listing: bytes, **extra: Reply) -> dict[str, Reply]:
    """A listing page at /, product pages /p/N, their images; plus `extra` routes ("/x": Reply)."""
    routes: dict[str, Reply] = {"/": Reply(200, HTML, listing), "/favicon.ico": Reply(200, PNG_TYPE, PNG)}
    for n in products:
        routes[f"/p/{n}"] = Reply(200, HTML, product_page(n))
        routes[f"/images/hero{n}.png"] = Reply(200, PNG_TYPE, PNG)
        routes[f"/images/other{n}.png"] = Reply(200, PNG_TYPE, PNG)
    routes.update(extra)
    return routes


def listing_page(visible: list[str], below_the_fold: list[str] = (), head: str = "") -> bytes:
    """Links near the top of the page, then a tall spacer, then `below_the_fold` links."""
    near = "".join(f'<a href="{href}">{href}</a><br>' for href in visible)
    far = "".join(f'<a class="far" href="{href}">{href}</a><br>' for href in below_the_fold)
    return (
        f"<!doctype html><html><head><title>Shop</title>{head}</head><body>{near}"
        f'<div style="height:4000px"></div>{far}</body></html>'
    ).encode()


@pytest.fixture
def origin_factory() -> Iterator[Callable[..., Origin]]:
    started: list[Origin] = []

    def start(routes: dict[str, Reply], host: str = "127.0.0.1") -> Origin:
        origin = Origin(routes, host=host)
        started.append(origin)
        return origin

    yield start
    for origin in started:
        try:
            origin.stop()
        except OSError:
            pass


def open_page(lab: Lab, browser, url: str, **context_options):
    """A fresh context through `lab`, a page collecting console errors, loaded at `url`."""
    context = lab.context(browser, **context_options)
    page = context.new_page()
    errors = watch_console(page)
    page.goto(url)
    return context, page, errors


def watch_console(page) -> list[str]:
    """Console errors and uncaught page errors, collected as they happen."""
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text} @ {m.location.get('url')}"))
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    return errors


def poll(page, expression: str, timeout: float = 10.0, arg=None):
    """Evaluate `expression` in the page until it is truthy; return that value.

    page.wait_for_function evaluates strings with eval(), which a strict CSP forbids; evaluate()
    does not, so this works on every page.
    """
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(expression, arg)
        if value:
            return value
        page.wait_for_timeout(50)
    raise AssertionError(f"still falsy after {timeout}s: {expression} -> {value!r}")


def wait_for_results(page, count: int, timeout: float = 10.0) -> list[dict]:
    """install.js's finished prefetches, once there are at least `count` of them."""
    poll(page, "n => window.Edgio && Edgio.status().results.length >= n", timeout, count)
    return page.evaluate("Edgio.status().results")


def worker_cache_keys(page) -> list[str]:
    """The URLs the controlling service worker holds (asked of the worker itself)."""
    return page.evaluate("Edgio.workerStatus().then(s => s.keys)")


def stored_header(page, url: str, header: str) -> str | None:
    """A header of the worker's stored copy of `url` (None when not stored)."""
    return page.evaluate(
        """async ([url, header]) => {
            const { cache } = await Edgio.workerStatus();
            const stored = await (await caches.open(cache)).match(url);
            return stored ? stored.headers.get(header) : null;
        }""",
        [url, header],
    )
