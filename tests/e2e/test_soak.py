"""scripts/soak.py, short: the traffic mix through a real mitmdump for 15 s. No prefetch miss
reaches the origin, nothing fails on the client side, and no descriptor or asyncio task is left
over once the load stops (the 10-minute run and its RSS figures are in the README)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def load_soak():
    spec = importlib.util.spec_from_file_location("soak", SOAK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_soak_leaves_nothing_behind():
    soak = load_soak()
    result = soak.run(minutes=0.25, clients=2, sample_s=5, out=None)
    assert result["errors"] == {}, result["errors"]
    kinds = {key.split()[0] for key in result["by_kind"]}
    assert kinds == set(soak.MIX), result["by_kind"]
    assert result["prefetch_misses_at_origin"] == 0
    assert result["goals"]["no descriptors left over"] and result["goals"]["no tasks left over"], result["samples"]
    assert result["goals"]["proxy alive"]
