"""Edgio's own npm packages, fetched at test time and cached outside the repository.

`npm pack <spec>` downloads the tarball the registry serves (no install scripts, no
dependencies); it is unpacked to `<cache>/<name>-<version>/package/`. The cache is
`$PREFETCH_LAB_NPM_CACHE`, else `~/.cache/prefetch-lab/npm/`, and is kept across runs. Edgio's
files are never copied into the repository.

A test that needs a package and cannot get it fails with `NpmUnavailable`'s message (npm
missing, registry unreachable): it does not skip.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path

EDGIO_VERSION = "7.13.13"
EDGIO_CORE = f"@edgio/core@{EDGIO_VERSION}"
EDGIO_PREFETCH = f"@edgio/prefetch@{EDGIO_VERSION}"
# @edgio/core's only dependency that CacheManifest needs (it asks for ^6.2.0; npm resolves 6.3.0).
PATH_TO_REGEXP = "path-to-regexp@6.3.0"


class NpmUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    configured = os.environ.get("PREFETCH_LAB_NPM_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "prefetch-lab" / "npm"


@contextmanager
def _locked(folder: Path):
    """One fetcher at a time (parallel test processes share the cache)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def package(spec: str) -> Path:
    """The unpacked package root for `spec` ("@scope/name@1.2.3"), fetched on first use."""
    name, _, version = spec.rpartition("@")
    if not name or not version:
        raise ValueError(f"expected name@version, got {spec!r}")
    cache = cache_dir()
    folder = cache / f"{name.lstrip('@').replace('/', '-')}-{version}"
    root = folder / "package"
    if (root / "package.json").is_file():
        return root
    with _locked(cache):
        if (root / "package.json").is_file():
            return root
        npm = shutil.which("npm")
        if npm is None:
            raise NpmUnavailable(f"this test needs npm to fetch {spec} from the npm registry; npm is not on PATH")
        with tempfile.TemporaryDirectory(dir=cache) as work:
            try:
                done = subprocess.run(
                    [npm, "pack", spec, "--pack-destination", work, "--silent", "--ignore-scripts"],
                    capture_output=True, text=True, timeout=300,
                )
            except subprocess.TimeoutExpired:
                raise NpmUnavailable(f"npm pack {spec} timed out after 300 s (is the npm registry reachable?)") from None
            tarballs = list(Path(work).glob("*.tgz"))
            if done.returncode != 0 or len(tarballs) != 1:
                detail = (done.stderr or done.stdout).strip()[-2000:]
                raise NpmUnavailable(
                    f"npm pack {spec} failed (exit {done.returncode}); this test needs the npm registry "
                    f"(or a filled cache at {cache}):\n{detail}"
                )
            unpacked = Path(work) / "unpacked"
            with tarfile.open(tarballs[0]) as archive:
                archive.extractall(unpacked, filter="data")
            if not (unpacked / "package" / "package.json").is_file():
                raise NpmUnavailable(f"npm pack {spec}: the tarball has no package/package.json")
            folder.mkdir(parents=True, exist_ok=True)
            (unpacked / "package").rename(root)
    return root


def edgio_core() -> Path:
    """@edgio/core, with path-to-regexp where its `require` finds it (package/node_modules)."""
    core = package(EDGIO_CORE)
    path_to_regexp = package(PATH_TO_REGEXP)
    link = core / "node_modules" / "path-to-regexp"
    if not link.exists():
        with _locked(cache_dir()):
            if not link.exists():
                link.parent.mkdir(exist_ok=True)
                link.symlink_to(path_to_regexp, target_is_directory=True)
    return core


def edgio_prefetch_cdn() -> Path:
    """@edgio/prefetch's browser bundles: cdn/install.js and cdn/service-worker.js."""
    return package(EDGIO_PREFETCH) / "cdn"
