"""The audit's surroundings: the run order, the proxy CA's key for Chromium, what ran (versions,
machine, network) and how files are written.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

from prefetch_lab import __version__
from prefetch_lab.audit.gather.netprofile import profile as network_profile
from prefetch_lab.audit.gather.playwright_driver import SANDBOXED


def schedule(arms: list[str], runs: int) -> list[tuple[int, str]]:
    """Run r measures the arms rotated by r: A B C, B C A, C A B, ..."""
    return [(run, arms[(run + i) % len(arms)]) for run in range(runs) for i in range(len(arms))]


def ca_spki(confdir: Path, timeout: float = 10) -> str:
    """base64 SHA-256 of the proxy CA's SubjectPublicKeyInfo, for Chromium's
    --ignore-certificate-errors-spki-list (mitmproxy writes the CA when it first starts)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    pem = confdir / "mitmproxy-ca-cert.pem"
    deadline = time.monotonic() + timeout
    while not pem.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    cert = x509.load_pem_x509_certificate(pem.read_bytes())
    spki = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def network_description(throttle: str) -> str:
    found = network_profile(throttle)
    if found is None:
        return "unthrottled (loopback, plus the emulated edge distance)"
    return f"{throttle}: {found.describe()}, for every request, between the browser and the proxy (netshaper.py)"


def environment(chromium_version: str | None) -> dict:
    import mitmproxy.version

    return {
        "prefetch_lab": __version__,
        "chromium": chromium_version,
        "mitmproxy": mitmproxy.version.VERSION,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "sandbox": SANDBOXED,  # Chromium's sandbox: off only as root, where Chromium requires it
        "argv": sys.argv,
    }


def write_json(path: Path, value: dict) -> None:
    """Atomically: a reader never sees half a file."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(json.dumps(value, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    temporary.replace(path)
