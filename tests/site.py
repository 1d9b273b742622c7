"""A small real multi-page site for audit tests: pages with a stylesheet and an image that the
browser may cache (as most sites' static assets are), a large text block (the LCP element, as on
most documentation and article pages), links between pages in the viewport and below the fold,
and the links an audit must never follow (logout, cart actions, admin). Served by
harness.Origin, over http or https."""

from __future__ import annotations

import datetime
import ssl
import struct
import zlib
from pathlib import Path

from tests.harness import Reply

HTML = {"content-type": "text/html; charset=utf-8"}
STATIC = {"cache-control": "public, max-age=3600"}
UNSAFE_LINKS = ("/logout", "/cart/add?id=1", "/wp-admin/", "/?add-to-cart=5")


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A real, decodable PNG of one colour (big enough to be the page's LCP element)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" + bytes(rgb) * width
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(row * height)) + chunk(b"IEND", b""))


def page_links(index: int, count: int) -> list[int]:
    """Each page links to the next three pages (wrapping), so every walk can go on."""
    return [(index + k) % count for k in (1, 2, 3) if (index + k) % count != index]


def site_routes(count: int = 8) -> dict[str, Reply]:
    routes: dict[str, Reply] = {
        "/style.css": Reply(200, {"content-type": "text/css", **STATIC}, b"body{font:16px sans-serif;margin:0}"
                            b" nav a{display:inline-block;padding:8px 12px} img{display:block}"),
    }
    for i in range(count):
        path = "/" if i == 0 else f"/page/{i}"
        nav = "".join(f'<a href="/page/{j}">Page {j}</a>' if j else '<a href="/">Home</a>' for j in page_links(i, count))
        unsafe = "".join(f'<a href="{href}">{href}</a>' for href in UNSAFE_LINKS)
        body = (
            f'<!doctype html><html><head><title>Page {i}</title><link rel="stylesheet" href="/style.css"></head>'
            f'<body><nav>{nav} {unsafe}</nav><h1>Page {i}</h1><img src="/img/{i}.png" width="200" height="100" alt="">'
            f'<p id="lcp">{"Some text of this page, long enough to be its largest element. " * 30}</p><div style="height:2000px"></div>'
            f'<a href="/page/below-the-fold">below the fold</a></body></html>'
        ).encode()
        routes[path] = Reply(200, HTML, body)
        routes[f"/img/{i}.png"] = Reply(200, {"content-type": "image/png", **STATIC}, png(200, 100, (30 * i % 255, 120, 200)))
    for href in UNSAFE_LINKS:  # ("/?add-to-cart=5" is the home page's own path)
        routes.setdefault(href.split("?")[0], Reply(200, HTML, b"<!doctype html><p>state changed!</p>"))
    return routes


def self_signed_tls(folder: Path, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for `host` (an IP address)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "origin-cert.pem", folder / "origin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context
