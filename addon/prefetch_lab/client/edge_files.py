"""The files the edge serves itself under /__edgio__/ (never forwarded). Pure module: answers
are (status, headers, body) for the addon to send.

The browser client is ours (static/, install.js and the service worker each served after
manifest-eval.js) or, with `use_client(folder)`, a user's own copy of Edgio's: the `cdn/`
folder of an installed `@edgio/prefetch` (`install.js` at /__edgio__/prefetch/install.js,
`service-worker.js` at Edgio's /__edgio__service_worker_<version>.js, which that install.js
registers). The cache manifest and the speculation rules are the edge's either way."""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from pathlib import Path

from prefetch_lab import __version__
from prefetch_lab.rules import manifest
from prefetch_lab.rules import speculation_rules
from prefetch_lab.rules.model import RuleSet

STATIC = Path(__file__).parent / "static"
INSTALL_JS = "/__edgio__/prefetch/install.js"
SERVICE_WORKER_JS = "/__edgio__/prefetch/service-worker.js"
MANIFEST_JS = "/__edgio__/cache-manifest.js"
REPORT_PATH = "/__edgio__/lab/report"  # install.js beacons; the addon audits them
# Pinned install paths (Edgio's versioned CDN path) and Edgio's own service worker name.
VERSIONED_INSTALL = re.compile(r"^/__edgio__/prefetch/v[^/]+/install\.js$")
EDGIO_SERVICE_WORKER = re.compile(r"^/__edgio__service_worker_[^/]*\.js$")
JS_TYPE = "text/javascript; charset=utf-8"
# Parts concatenated into each served script: one shared rule evaluator, no module loading.
BUNDLES = {
    "install": ("manifest-eval.js", "install.js"),
    "service-worker": ("manifest-eval.js", "service-worker.js"),
}

Answer = tuple[int, dict[str, str], bytes]
MAX_HOSTS_KEPT = 512  # per-host documents remembered (each a few kB)
OURS = "ours"
CLIENT_FILES = {"install": "install.js", "service-worker": "service-worker.js"}
REMOVE_WORKER = "remove-worker.js"


def client_folder(value: str) -> Path | None:
    """The `prefetch_client` option: None for "ours", else the folder holding Edgio's
    `install.js` and `service-worker.js` (an installed @edgio/prefetch's `cdn/`; the package
    folder itself is accepted too). ValueError naming what is missing otherwise."""
    if value.strip().lower() in ("", OURS):
        return None
    folder = Path(value).expanduser()
    if not (folder / CLIENT_FILES["install"]).is_file() and (folder / "cdn" / CLIENT_FILES["install"]).is_file():
        folder = folder / "cdn"
    if not folder.is_dir():
        raise ValueError(f"expected 'ours' or a folder with Edgio's install.js and service-worker.js "
                         f"(an installed @edgio/prefetch's cdn/), got {value!r}: no such folder")
    missing = [name for name in CLIENT_FILES.values() if not (folder / name).is_file()]
    if missing:
        raise ValueError(f"{folder} has no {' or '.join(missing)} (expected an installed @edgio/prefetch's cdn/ folder)")
    return folder.resolve()


def client_version(folder: Path) -> str | None:
    """The @edgio/prefetch version of a client folder (its package.json beside cdn/), if known."""
    for candidate in (folder / "package.json", folder.parent / "package.json"):
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("version"), str):
            return data["version"]
    return None


def is_edge_path(path: str) -> bool:
    return path.startswith("/__edgio__/") or bool(EDGIO_SERVICE_WORKER.match(path))


class EdgeFiles:
    def __init__(self) -> None:
        self.rules = RuleSet.empty()
        # Per host documents, least recently used first: a forward proxy meets any number of hosts.
        self._per_host: OrderedDict[tuple, Any] = OrderedDict()
        self._bundles: dict[str, tuple[tuple, bytes]] = {}
        self.client: Path | None = None  # None: ours; else the folder of Edgio's client files
        # None: every page names the fixed rules file; else page path -> its own rules URL
        # (learning.py, prefetch_speculation=learned).
        self.page_rules_url: Callable[[str], str] | None = None
        self.predicted = "off"  # our install.js and the learned predictions: "off" | "first" | "only"
        # False when the edge injects no Edgio client (prefetch_inject without edgio): a browser
        # that still has our worker gets one that removes itself (static/remove-worker.js).
        self.worker_wanted = True

    def use_client(self, folder: Path | None) -> None:
        """Serve Edgio's client files from `folder` (see client_folder), or ours (None)."""
        self.client = folder
        self._bundles.clear()

    def use_predictions(self, mode: str) -> None:
        """How our install.js uses the page's learned predictions (learning.py's
        prefetch_edgio_predicted); written into the served bundle."""
        self.predicted = mode
        self._bundles.clear()

    def rules_changed(self, rules: RuleSet) -> None:
        self.rules = rules
        self._per_host.clear()

    def respond(self, path: str, host: str, scheme: str, eagerness: str, if_none_match: str | None) -> Answer:
        if path == INSTALL_JS or VERSIONED_INSTALL.match(path):
            return self._answer(self._bundle("install"), JS_TYPE, if_none_match)
        if path == SERVICE_WORKER_JS or EDGIO_SERVICE_WORKER.match(path):
            worker = self._bundle("service-worker") if self.worker_wanted else (STATIC / REMOVE_WORKER).read_bytes()
            status, headers, body = self._answer(worker, JS_TYPE, if_none_match)
            headers["service-worker-allowed"] = "/"  # lets a worker under /__edgio__/ control the site
            return status, headers, body
        if path == MANIFEST_JS:
            return self._answer(self._manifest(host), JS_TYPE, if_none_match)
        if path == speculation_rules.RULES_PATH:
            return self._answer(self.speculation_rules(host, scheme, eagerness), speculation_rules.MEDIA_TYPE, if_none_match)
        return 404, {"content-type": "text/plain; charset=utf-8"}, b"prefetch-lab: no such edge file\n"

    def speculation_rules(self, host: str, scheme: str, eagerness: str) -> bytes:
        return speculation_rules.encode(self._speculation_document(host, scheme, eagerness))

    def speculation_rules_url(self, page_path: str) -> str:
        """The rules URL a page's Speculation-Rules header names (`page_path`: path + query)."""
        if self.page_rules_url is None:
            return speculation_rules.RULES_PATH
        return self.page_rules_url(page_path)

    def has_speculation_rules(self, host: str, scheme: str, eagerness: str) -> bool:
        """Chromium rejects an empty rule set: with nothing prefetchable, send no header."""
        return speculation_rules.has_rules(self._speculation_document(host, scheme, eagerness))

    def _speculation_document(self, host: str, scheme: str, eagerness: str) -> dict:
        return self._memo(("speculation", host, scheme, eagerness),
                          lambda: speculation_rules.build_rules_document(self.rules, host, eagerness, scheme))

    def learned_rules(self, document: dict, max_age: int, if_none_match: str | None) -> Answer:
        """A per-page learned rules document (learning.py builds it): shareable for `max_age` s,
        as it depends on the page alone."""
        return self._answer(speculation_rules.encode(document), speculation_rules.MEDIA_TYPE, if_none_match,
                            f"public, max-age={max_age}")

    def _manifest(self, host: str) -> bytes:
        return self._memo(("manifest", host), lambda: manifest.render_manifest(self.rules, host))

    def _memo(self, key: tuple, build: Callable[[], Any]) -> Any:
        value = self._per_host.get(key)
        if value is None:
            value = self._per_host[key] = build()
            if len(self._per_host) > MAX_HOSTS_KEPT:
                self._per_host.popitem(last=False)
        self._per_host.move_to_end(key)
        return value

    def _bundle(self, name: str) -> bytes | None:
        """The script, re-read when a part changes on disk (no restart needed): ours
        (manifest-eval.js, then the part), or the user's Edgio file as it is."""
        if self.client is not None:
            parts = [self.client / CLIENT_FILES[name]]
        else:
            parts = [STATIC / part for part in BUNDLES[name]]
        try:
            stamp = tuple((str(p), p.stat().st_mtime_ns) for p in parts)
        except OSError:
            return None
        cached = self._bundles.get(name)
        if cached is None or cached[0] != stamp:
            try:
                content = b"\n".join(p.read_bytes() for p in parts)
            except OSError:
                return None
            header = b"" if self.client is not None else f"/* Prefetch Lab {__version__}: {name} */\n".encode()
            if self.client is None and name == "install" and self.predicted != "off":
                header += f"self.__PREFETCH_LAB_PREDICTED__ = {json.dumps(self.predicted)};\n".encode()
            cached = (stamp, header + content)
            self._bundles[name] = cached
        return cached[1]

    @staticmethod
    def _answer(body: bytes | None, content_type: str, if_none_match: str | None,
                cache_control: str = "no-cache") -> Answer:
        if body is None:
            return 404, {"content-type": "text/plain; charset=utf-8"}, b"prefetch-lab: file missing\n"
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        # no-cache: a new proxy version (or edited rules) reaches the browser and its worker.
        headers = {"content-type": content_type, "cache-control": cache_control, "etag": etag}
        if if_none_match and etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]:
            return 304, headers, b""
        return 200, headers, body
