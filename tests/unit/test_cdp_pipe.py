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


# A stand-in browser that sends 25 events, then one reply to the first command, then exits on the next (Browser.close).
FLOOD = ("import json, os, time; [os.write(4, json.dumps({'method': 'Test.event', 'params': {'n': n}}).encode() + b'\\\\0')"
         " for n in range(25)]; os.read(3, 4096); os.write(4, b'{\\\"id\\\": 1, \\\"result\\\": {}}\\\\0'); os.read(3, 4096)")


def test_the_event_buffer_keeps_the_latest_events_by_their_lifetime_index(tmp_path, monkeypatch):
    """The buffer is bounded (one browser serves a whole audit), indices stay absolute: a reader
    that marked index n still reads from n, a reader behind the kept ones skips the dropped ones."""
    monkeypatch.setattr("prefetch_lab.audit.gather.cdp_pipe.MAX_EVENTS", 8)
    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} -c \"{FLOOD}\"\n")
    fake.chmod(0o755)
    with PipeChromium(str(fake)) as chromium:
        chromium.send("Browser.getVersion", timeout=20)  # answered after the 25 events: all are in
        events = chromium.events
        assert len(events) == 25 and len(list(events)) <= 8
        assert [e["params"]["n"] for e in events[20:]] == [20, 21, 22, 23, 24]
        assert events[0]["dropped"] and events[24]["params"]["n"] == 24
        assert chromium.find("Test.event", lambda p: p["n"] == 24)["params"]["n"] == 24
        assert chromium.find("Test.event", lambda p: p["n"] == 3) is None  # dropped, not made up
