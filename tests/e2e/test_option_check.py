"""A mistyped --set for one of our options stops mitmdump at start, naming the option: never a
proxy left running without the addon (which would forward cold prefetches to the origin)."""

from __future__ import annotations


import pytest

from tests.harness import Mitmdump

pytestmark = pytest.mark.e2e


def start_output(confdir, options: dict[str, str]) -> tuple[int | None, str]:
    """(exit status, output) of a mitmdump started with `options`; None while it runs."""
    try:
        proxy = Mitmdump(confdir, options)
    except RuntimeError as e:  # it exited before listening
        return 1, str(e)
    try:
        status = proxy.proc.wait(20)
    except Exception:
        status = None
    proxy.stop()  # also waits for the drain thread's last lines
    return status, proxy.log()


@pytest.mark.parametrize("setting, message", [
    ("prefetch_cache_mb=abc", "--set prefetch_cache_mb: Not an integer: abc"),
    ("prefetch_refusal_status=abc", "--set prefetch_refusal_status: Not an integer: abc"),
    ("prefetch_include_cache_misses=maybe", "--set prefetch_include_cache_misses: Boolean must be"),
    ("prefetch_injet=off", "unknown option prefetch_injet (did you mean prefetch_inject?)"),
    ("prefech_inject=off", "unknown option prefech_inject (did you mean prefetch_inject?)"),
])
def test_a_bad_value_or_a_misspelt_name_stops_the_proxy_naming_the_option(tmp_path, setting, message):
    name, _, value = setting.partition("=")
    status, output = start_output(tmp_path, {name: value})
    assert status == 1, output
    assert message in output


def test_good_values_start_the_addon(tmp_path):
    with Mitmdump(tmp_path, {"prefetch_inject": "off", "prefetch_cache_mb": "16"}) as proxy:
        status, _, body = proxy.request("GET", "http://127.0.0.1:9/__edgio__/prefetch/install.js")
        assert status == 200 and b"Edgio" in body
        assert proxy.proc.poll() is None
