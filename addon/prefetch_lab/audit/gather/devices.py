"""`--device mobile|desktop`: Lighthouse's two presets, each a CPU slowdown, a network profile
(netprofile.py) and a screen with its user agent.

Pure module. Values from Lighthouse's config/constants.js: mobile is the Moto G Power it emulates
(412 x 823 at DPR 1.75, touch) with a 4x CPU slowdown and "slow 4G" (150 ms RTT, 1.6 Mbps down,
750 kbps up: netprofile's `4g`); desktop is 1350 x 940 at DPR 1, no CPU slowdown and 40 ms RTT at
10 Mbps both ways (netprofile's `desktop`). The user agents are Lighthouse's strings, with a fixed
Chrome version, so an audit's requests do not depend on the installed build.

The preset sets the parts; an explicit `--cpu-slowdown`, `--throttle` or `--mobile` (Playwright's
Pixel 7) overrides its own part (settings.py resolves them).
"""

from __future__ import annotations

from dataclasses import dataclass

MOBILE_UA = ("Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
             "(KHTML, like Gecko) Chrome/136.0.0.0 Mobile Safari/537.36")
DESKTOP_UA = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
              "(KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36")


@dataclass(frozen=True)
class DevicePreset:
    name: str
    cpu_slowdown: float
    throttle: str  # a netprofile profile name
    width: int
    height: int
    device_scale_factor: float
    is_mobile: bool
    user_agent: str

    def descriptor(self) -> dict:
        """The screen as a Playwright device descriptor (what both drivers take)."""
        return {"viewport": {"width": self.width, "height": self.height},
                "screen": {"width": self.width, "height": self.height},
                "device_scale_factor": self.device_scale_factor, "is_mobile": self.is_mobile,
                "has_touch": self.is_mobile, "user_agent": self.user_agent}


PRESETS = {
    "mobile": DevicePreset("mobile", 4.0, "4g", 412, 823, 1.75, True, MOBILE_UA),
    "desktop": DevicePreset("desktop", 1.0, "desktop", 1350, 940, 1.0, False, DESKTOP_UA),
}
DEVICE_CHOICES = tuple(PRESETS)


def preset(name: str) -> DevicePreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown device {name!r}: choose one of {', '.join(DEVICE_CHOICES)}") from None
