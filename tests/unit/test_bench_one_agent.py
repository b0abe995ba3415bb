"""bench/one_agent.py: one agent's dialing solved exactly, against dialerd's rule."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from dialerd.bench.pacing.scenario import load_scenario
from dialerd.pacing import predictive

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("one_agent", ROOT / "bench" / "one_agent.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["one_agent"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_dialerds_rule_is_the_best_policy_for_one_agent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    oa = _script()
    sc = load_scenario(ROOT / "bench" / "scenarios" / "s3-tiny.toml")
    calls = oa.calls_of(sc)
    mdp = oa.Mdp(calls, 30, 2.0)
    price = 800.0  # idle seconds one abandon is worth
    best_cost, best = mdp.solve(1.0, price)
    idle, abandons = mdp.measure(best)
    assert best_cost == pytest.approx(idle + price * abandons)
    assert 0.0 < abandons < 0.01 and 50.0 < idle < 70.0
    # dialerd's rule as shipped (answers paired at the start of their second) is the optimum
    assert predictive.PAIRING_LAG_S == 1.0
    paired = mdp.measure(mdp.pairs_of(oa.dialerd_rule(mdp, sc, calls, 0.01)))
    assert paired == pytest.approx((idle, abandons), abs=1e-9)
    # pairing them at the end of their second, up to a second optimistic, does not reach it
    monkeypatch.setattr(predictive, "PAIRING_LAG_S", 0.0)
    late = mdp.measure(mdp.pairs_of(oa.dialerd_rule(mdp, sc, calls, 0.01)))
    assert late[0] + price * late[1] > best_cost + 0.5
