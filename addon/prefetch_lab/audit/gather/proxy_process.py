"""A `mitmdump -s addon/prefetch.py` process on a free loopback port, for the audit command and
the tests: started with options, its output kept (and copied to a log file if asked), stopped
cleanly so that `done` hooks run (the trail is closed and the HAR written)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

ADDON_SCRIPT = Path(__file__).resolve().parents[3] / "prefetch.py"
LISTENING = re.compile(r"listening at \S+:(\d+)")


def mitmdump_path() -> Path:
    """The mitmdump beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).parent / "mitmdump"
    return beside if beside.exists() else Path("mitmdump")


class ProxyProcess:
    def __init__(
        self,
        confdir: Path,
        options: dict[str, str] | None = None,
        script: Path | None = ADDON_SCRIPT,
        extra_args: Sequence[str] = (),
        log_file: Path | None = None,
        start_timeout: float = 30,
    ) -> None:
        args = [str(mitmdump_path()), "--listen-host", "127.0.0.1", "-p", "0", "--set", f"confdir={confdir}"]
        if script is not None:
            args += ["-s", str(script)]
        for name, value in (options or {}).items():
            args += ["--set", f"{name}={value}"]
        args += list(extra_args)
        self.args = args
        self.output: list[str] = []
        self._drainer: threading.Thread | None = None
        self._log = open(log_file, "w", encoding="utf-8") if log_file else None
        # Unbuffered: mitmdump's log goes to a pipe, block-buffered otherwise (the port line never comes).
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            args, cwd=ADDON_SCRIPT.parents[1], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
        )
        try:
            self.port = self._wait_for_port(start_timeout)
        except BaseException:
            self.stop()
            raise
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _keep(self, line: str) -> None:
        self.output.append(line)
        if self._log:
            self._log.write(line)
            self._log.flush()

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("mitmdump exited during start:\n" + "".join(self.output))
            self._keep(line)
            if found := LISTENING.search(line):
                return int(found.group(1))
        raise RuntimeError("mitmdump did not start:\n" + "".join(self.output))

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._keep(line)

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return "".join(self.output)

    def stop(self) -> int:
        """SIGTERM (mitmdump runs its `done` hooks and exits 0), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self._drainer:
            self._drainer.join(5)  # its last lines, before the log closes
        if self._log and not self._log.closed:
            self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "ProxyProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
