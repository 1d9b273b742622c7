"""The DevTools-pipe reader: a message that is not CDP marks the connection lost at once (every
waiter wakes with "the browser exited"), rather than ending the reader thread silently so that
each later call waits its whole timeout. A stand-in process plays the browser's end of the pipe."""

from __future__ import annotations

import sys

import pytest

from prefetch_lab.audit.gather.cdp_pipe import CdpError, PipeChromium

# Writes one message that does not decode on fd 4 (Chromium's reply pipe), then stays alive.
GARBLED = "import os, time; os.write(4, b'this is not json\\0'); time.sleep(30)"


def test_a_garbled_message_marks_the_browser_gone(tmp_path):
    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"{GARBLED}\"\n")
    fake.chmod(0o755)
    with PipeChromium(str(fake)) as chromium:
        with pytest.raises(CdpError, match="the browser exited"):
            chromium.send("Browser.getVersion", timeout=20)
