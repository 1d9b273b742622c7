"""`--device` presets and what overrides them (gather/devices.py, settings.py, cli.py)."""

from __future__ import annotations

import pytest

from prefetch_lab.audit.cli import parse_args, settings_from
from prefetch_lab.audit.gather.devices import PRESETS, preset
from prefetch_lab.audit.gather.netprofile import profile

URL = "http://127.0.0.1:9/"


def settings(*argv: str):
    return settings_from(parse_args([URL, *argv]))


def test_the_presets_are_lighthouses():
    mobile, desktop = preset("mobile"), preset("desktop")
    assert (mobile.cpu_slowdown, mobile.width, mobile.height, mobile.device_scale_factor) == (4, 412, 823, 1.75)
    assert mobile.is_mobile and "Mobile" in mobile.user_agent and "Android" in mobile.user_agent
    assert profile(mobile.throttle).describe() == "150 ms RTT, 1600 kbps down, 750 kbps up"
    assert (desktop.cpu_slowdown, desktop.width, desktop.height, desktop.device_scale_factor) == (1, 1350, 940, 1)
    assert not desktop.is_mobile and "Mobile" not in desktop.user_agent
    assert (profile(desktop.throttle).rtt_ms, profile(desktop.throttle).down_kbps) == (40, 10240)
    assert preset("mobile").descriptor()["viewport"] == {"width": 412, "height": 823}
    with pytest.raises(ValueError, match="unknown device"):
        preset("tablet")
    assert set(PRESETS) == {"mobile", "desktop"}


def test_a_device_sets_the_parts_and_explicit_options_override_them():
    plain = settings()
    assert (plain.device, plain.throttle, plain.cpu_slowdown, plain.mobile, plain.filmstrip) == (None, "none", 1, False, True)
    mobile = settings("--device", "mobile")
    assert (mobile.throttle, mobile.cpu_slowdown, mobile.mobile) == ("4g", 4, False)
    overridden = settings("--device", "mobile", "--throttle", "none", "--cpu-slowdown", "2", "--mobile")
    assert (overridden.device, overridden.throttle, overridden.cpu_slowdown, overridden.mobile) == ("mobile", "none", 2, True)
    desktop = settings("--device", "desktop")
    assert (desktop.throttle, desktop.cpu_slowdown) == ("desktop", 1)
    assert settings("--cpu-slowdown", "6").cpu_slowdown == 6 and settings("--no-filmstrip").filmstrip is False
    assert settings("--device", "mobile").to_json()["throttle"] == "4g"  # the JSON says what ran


@pytest.mark.parametrize("argv", [["--device", "tablet"], ["--cpu-slowdown", "0.5"], ["--cpu-slowdown", "50"]])
def test_bad_device_options_are_refused(argv):
    with pytest.raises(SystemExit) as exit_info:
        parse_args([URL, *argv])
    assert exit_info.value.code == 2
