"""A real site's server as a test runs it: its own process on a free loopback port, its request
log in a file the test reads, stopped at the end. The software itself is installed by
`scripts/setup.sh --sites` (scripts/test passes it) into PREFETCH_LAB_SITES (default
~/.cache/prefetch-lab/sites), outside the repository; a test that finds it missing fails with
the command to run, it never skips.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

READY_TIMEOUT_S = 60.0  # a loaded 2-core machine: generous, and only an upper bound


class SiteNotInstalled(RuntimeError):
    pass


def sites_dir() -> Path:
    configured = os.environ.get("PREFETCH_LAB_SITES")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "prefetch-lab" / "sites"


def installed(path: Path, what: str) -> Path:
    if not path.exists():
        raise SiteNotInstalled(f"{what} is not installed ({path} missing): run scripts/setup.sh --sites")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    target: str  # path and query, as the request line had it
    status: int
    headers: dict  # the request headers the server logs (only the static server logs any)
    ts: float | None = None  # epoch s it was logged (only the static server logs it)


class SiteServer:
    """One server process. Subclasses give the command and how a log line reads."""

    name = "site"
    ready_path = "/"
    line = re.compile(r"$^")  # subclasses: groups method, target, status

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_path = workdir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None
        self.started_s: float | None = None  # how long start() took

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self) -> "SiteServer":
        began = time.monotonic()
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
                                        env=self.environment(), start_new_session=True)
        log.close()
        self.wait_ready()
        self.started_s = time.monotonic() - began
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        problem = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}: {self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=10) as answer:
                    if answer.status == 200:
                        return
            except (OSError, urllib.error.URLError) as e:
                problem = str(e)
            time.sleep(0.1)  # polling the server's socket, bounded by the deadline
        self.stop()
        raise TimeoutError(f"{self.name} did not answer {self.ready_path} within {READY_TIMEOUT_S:.0f} s ({problem}): {self.log_tail()}")

    def stop(self) -> None:
        """The whole process group: PHP's server forks workers that outlive their parent."""
        if self.process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.process.pid, sig)  # its own session (start_new_session): only its processes
            except ProcessLookupError:
                break
            if self._group_gone(timeout_s=10):
                break
        if self.process.poll() is None:
            self.process.wait(timeout=10)

    def _group_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.process.poll()  # reaps the leader
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)  # polling for the group's exit, bounded by the deadline
        return False

    def log_tail(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def requests(self) -> list[LoggedRequest]:
        """Every request the server logged so far, in order."""
        found = []
        for text in self.log_path.read_text(errors="replace").splitlines():
            m = self.line.search(text)
            if m:
                found.append(LoggedRequest(m.group("method"), m.group("target"), int(m.group("status")), {}))
        return found

    def wait_for(self, target: str, timeout_s: float = 30.0) -> LoggedRequest:
        """The logged request for `target` (servers log a request after answering it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [r for r in self.requests() if r.target == target]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} logged no request for {target} within {timeout_s:.0f} s")
            time.sleep(0.05)  # polling the log file, bounded by the deadline

    def __enter__(self) -> "SiteServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
