"""The benchmark's origin: realistic pages and assets, served by tests/harness.py's Origin.

Run as its own process (`python scripts/bench_origin.py`, prints `port N`, serves until stdin
closes) so the origin's Python work does not share a GIL with the load generator. The page
generator is also imported by bench.py (injection micro-benchmark) and bench_floor.py (the floor
addon serves the very same 20 KB page).
"""

from __future__ import annotations

import gzip
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.harness import Origin, Reply, SeenRequest  # noqa: E402

KB = 1024
PAGE_SIZES = {"20k": 20 * KB, "200k": 200 * KB, "2m": 2 * KB * KB}
HTML = "text/html; charset=utf-8"
NO_STORE = "no-store"
MEM_MIN, MEM_SPREAD = 10 * KB, 10 * KB  # memory case: 10-20 KB pages

_WORDS = (
    "prefetch edge cache origin latency browser speculation navigation worker budget request "
    "response header payload render paint content layout script style image font link page"
).split()


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words))


def _card(rng: random.Random, n: int) -> str:
    """One block of ordinary markup; every few blocks something the injector must step over."""
    parts = [
        f'<div class="card" id="c{n}"><a href="/p/{n}"><img src="/i/{n}.jpg" alt="item {n}" width="160" '
        f'height="120"></a><h2>{_text(rng, 4)}</h2><p>{_text(rng, 40)}</p>'
        f'<ul><li><a href="/p/{n}?tab=spec">specs</a></li><li><a href="/p/{n}?tab=rev">reviews</a></li></ul></div>\n'
    ]
    if n % 7 == 0:
        parts.append(f"<!-- card {n}: <div> markup in a comment </body> -->\n")
    if n % 11 == 0:
        parts.append(f'<script>window.cards = (window.cards || []).concat(["<div>{n}</div>"]);</script>\n')
    if n % 13 == 0:
        parts.append(f"<style>#c{n} h2 {{ color: #{n % 4096:03x}; }}</style>\n")
    return "".join(parts)


def make_page(size: int, seed: int = 1) -> bytes:
    """A well-formed HTML document of exactly `size` bytes (cards, comments, inline scripts)."""
    rng = random.Random(seed)
    head = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Bench page {size}</title><link rel=stylesheet href=/asset/style.css>"
        "<style>body{font-family:sans-serif}.card{display:inline-block;width:30%}</style>"
        "<script>window.start = Date.now();</script></head>\n<body>\n"
    ).encode()
    tail = b"<script src=/asset/app.js></script>\n</body></html>\n"
    chunks, length, n = [], len(head) + len(tail), 0
    while length < size:
        card = _card(rng, n).encode()
        chunks.append(card)
        length += len(card)
        n += 1
    body = b"".join(chunks)[: max(0, size - len(head) - len(tail))]
    if b"<" in body[-400:]:  # never cut inside a tag or comment: end the body on a clean boundary
        cut = body.rfind(b"</div>\n") + len(b"</div>\n")
        body = body[:cut] + b" " * (len(body) - cut)
    return head + body + tail


def _asset(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def build_routes() -> dict[str, Reply]:
    """Assets and pages that the edge must not keep (`no-store`), and one cacheable page."""
    routes: dict[str, Reply] = {
        "/asset/app.js": Reply(200, {"content-type": "text/javascript", "cache-control": NO_STORE},
                               b"/* app */" + b"x" * (24 * KB)),
        "/asset/style.css": Reply(200, {"content-type": "text/css", "cache-control": NO_STORE},
                                  b"/* style */" + b"y" * (8 * KB)),
        "/asset/logo.png": Reply(200, {"content-type": "image/png", "cache-control": NO_STORE},
                                 _asset(40 * KB, 3)),
        # No caching headers: the default rules make the edge keep it (the hit/refusal cases).
        "/edge/page": Reply(200, {"content-type": HTML}, make_page(PAGE_SIZES["20k"])),
    }
    for name, size in PAGE_SIZES.items():
        page = make_page(size)
        routes[f"/html/{name}"] = Reply(200, {"content-type": HTML, "cache-control": NO_STORE}, page)
        routes[f"/html/{name}-gzip"] = Reply(
            200, {"content-type": HTML, "cache-control": NO_STORE, "content-encoding": "gzip", "vary": "Accept-Encoding"},
            gzip.compress(page, compresslevel=6),
        )
    # Case 9: one response far over the edge's object limit (it streams through uncached).
    routes["/big/50m"] = Reply(200, {"content-type": "application/octet-stream", "cache-control": "max-age=60"},
                               b"\x00" * (50 * KB * KB))
    return routes


def memory_page_route() -> Callable[[SeenRequest], Reply]:
    """`/mem?i=N`: a distinct cacheable page per N, 10-20 KB, cut from one big page."""
    big = make_page(MEM_MIN + MEM_SPREAD + 4 * KB, seed=7)
    tail = b"\n</body></html>\n"

    def route(seen: SeenRequest) -> Reply:
        n = int(parse_qs(urlsplit(seen.path).query)["i"][0])
        size = MEM_MIN + (n * 7919) % MEM_SPREAD
        body = big[: size - len(tail)] + tail
        return Reply(200, {"content-type": HTML}, body)

    return route


def no_nagle(origin: Origin) -> None:
    """TCP_NODELAY on the origin's connections, as real servers do. The harness's handler writes
    the headers and the body in two sends; with Nagle's algorithm the second waits for the
    proxy's delayed ACK, adding ~40 ms to every small response and hiding what we measure."""
    origin.server.RequestHandlerClass.disable_nagle_algorithm = True


def serve() -> None:
    origin = Origin(build_routes())
    no_nagle(origin)
    origin.server.handle_error = lambda request, client_address: None  # clients hanging up mid-reply
    origin.routes["/mem"] = memory_page_route()
    # The count excludes the count requests themselves; read directly, never through a proxy.
    origin.routes["/__count"] = lambda seen: Reply(
        200, {"content-type": "application/json"},
        json.dumps({"requests": sum(1 for r in origin.seen if not r.path.startswith("/__count"))}).encode(),
    )
    print(f"port {origin.port}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or exits)
    origin.stop()


if __name__ == "__main__":
    serve()
