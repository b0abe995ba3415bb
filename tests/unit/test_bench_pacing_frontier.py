"""``dialerd bench pacing --frontier``: the model's talk-against-abandons curve."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialerd.bench.pacing.frontier import crossing, curve_at
from dialerd.bench.pacing.policies import fixed_rate, make_policy
from dialerd.bench.pacing.scenario import parse_scenario
from dialerd.bench.pacing.simulate import run_day
from dialerd.cli.main import main

SHORT = {"name": "short", "hours": 1, "agents": 6, "answer_rate": 0.25}

#: the ``bench_pacing`` fixture (tests/unit/conftest.py)
BenchPacing = Callable[..., tuple[int, str]]


def _point(rate: float, abandoned: float, ratio: float) -> dict[str, Any]:
    return {"rate": rate, "abandoned": abandoned, "oracle": (ratio, ratio, ratio)}


def test_a_higher_planning_rate_buys_talk_time_with_abandons() -> None:
    sc = parse_scenario(SHORT, "<test>")
    days = [run_day(sc, 3, make_policy(f"predictive@{r}", sc)) for r in (0.0, 0.05)]
    low, high = (d.metrics() for d in days)
    assert low["abandon_rate"] == 0.0
    assert high["abandon_rate"] > 0.0
    assert high["occupancy"] > low["occupancy"] * 1.05


def test_a_planning_rate_outside_0_to_1_is_refused() -> None:
    sc = parse_scenario(SHORT, "<test>")
    with pytest.raises(ValueError, match="planning rate"):
        make_policy("predictive@1.5", sc)


def test_the_crossing_interpolates_between_the_swept_rates() -> None:
    curve = [_point(0.0, 0.0, 0.80), _point(0.01, 0.01, 0.84), _point(0.02, 0.03, 0.88)]
    assert crossing(curve, "oracle", 0.86) == pytest.approx(0.02)
    assert crossing(curve, "oracle", 0.80) == 0.0
    assert crossing(curve, "oracle", 0.90) is None
    assert curve_at(curve, "oracle", 0.005) == pytest.approx(0.82)
    assert curve_at(curve, "oracle", 0.05) is None


def test_a_noisy_dip_in_the_curve_does_not_move_the_crossing() -> None:
    # 0.01 -> 0.83 is noise below the previous point: interpolate from the highest point so far
    curve = [_point(0.0, 0.0, 0.84), _point(0.01, 0.01, 0.83), _point(0.02, 0.02, 0.88)]
    assert crossing(curve, "oracle", 0.86) == pytest.approx(0.01)


def test_the_command_line_prints_the_curve_and_where_the_target_needs_it(
    tmp_path: Path, bench_pacing: BenchPacing
) -> None:
    code, out = bench_pacing(
        'name = "s3-tiny"\nhours = 0.5\nagents = 5\nanswer_rate = 0.2\n',
        *("--frontier", "0,0.02", "--seeds", "2", "--quiet"),
        name="s3-tiny",
    )
    assert code == 0
    assert (tmp_path / "pacing-frontier.png").stat().st_size > 1000
    assert "| predictive@0 | 0 % |" in out and "| predictive@0.02 | 2 % |" in out
    assert "| predictive | windows |" in out
    assert "Talk ≥ 0.86 × oracle: reached on this curve" in out
    report = json.loads((tmp_path / "pacing-frontier.json").read_text())
    rows = report["summary"]["s3-tiny"]["rows"]
    assert [r["rate"] for r in rows] == [None, 0.0, 0.02]
    assert all(r["days"] == 2 for r in rows)


def test_a_bad_rate_is_refused_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["bench", "pacing", "--frontier", "0,half", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "'half'" in err and "--frontier" in err and "Traceback" not in err


def test_knowing_when_agents_free_up_keeps_them_busier_at_no_abandon_risk() -> None:
    # a 1 s wrap-up announces nothing: agents free up when their talk ends, which the
    # ordinary model forecasts from elapsed talk and the experiment is told exactly
    sc = parse_scenario(
        {**SHORT, "agents": 10, "answer_rate": 0.3, "talk": {"mean": 30},
         "wrapup": {"dist": "fixed", "mean": 1}},
        "<test>",
    )  # fmt: skip
    for seed in (1, 2):
        plain = run_day(sc, seed, make_policy("predictive@0", sc))
        known = run_day(sc, seed, make_policy("predictive@0+known-agents", sc))
        assert plain.abandoned == known.abandoned == 0
        assert known.metrics()["occupancy"] > plain.metrics()["occupancy"] + 0.01


def test_known_agents_applies_to_dialerds_modes_only() -> None:
    sc = parse_scenario(SHORT, "<test>")
    policy = make_policy("predictive@0.01+known-agents", sc)
    assert policy.known_agents and fixed_rate(policy.name) == 0.01
    with pytest.raises(ValueError, match="known-agents"):
        make_policy("vicidial-hard+known-agents", sc)


def test_the_command_line_traces_the_known_agents_curve_and_refuses_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bench_pacing: BenchPacing
) -> None:
    code, out = bench_pacing(
        'name = "tiny"\nhours = 0.25\nagents = 5\nanswer_rate = 0.2\n',
        *("--frontier", "0", "--known-agents", "--seeds", "1", "--quiet", "--no-plots"),
    )
    assert code == 0
    assert "| predictive@0+known-agents | 0 % |" in out and "exact free time" in out
    report = json.loads((tmp_path / "pacing-frontier.json").read_text())
    assert report["meta"]["known_agents"] is True
    assert main(["bench", "pacing", "--known-agents", "--seeds", "1"]) != 0
    assert "--frontier" in capsys.readouterr().err
