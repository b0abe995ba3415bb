"""``predictive:<target>``: dialerd's predictive held to an operator's lower abandonment target,
so that a baseline abandoning far below the legal limit is compared at equal abandonment."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dialerd.bench.pacing.policies import abandonment_target, known_policy, make_policy
from dialerd.bench.pacing.report import markdown, summarise
from dialerd.bench.pacing.runner import JobResult
from dialerd.bench.pacing.scenario import parse_scenario
from dialerd.bench.pacing.simulate import run_day
from dialerd.cli.main import main

#: the ``bench_pacing`` fixture (tests/unit/conftest.py)
BenchPacing = Callable[..., tuple[int, str]]

SMALL = {
    "name": "small",
    "hours": 2,
    "agents": 10,
    "answer_rate": 0.25,
    "talk": {"dist": "lognormal", "mean": 180},
    "wrapup": {"dist": "fixed", "mean": 20},
}


def test_a_lower_target_is_kept_and_costs_talk_time() -> None:
    sc = parse_scenario(SMALL, "<test>")
    low = make_policy("predictive:0.005", sc)
    assert low.settings.abandonment_target == 0.005
    assert make_policy("predictive", sc).settings.abandonment_target == 0.03
    plain = run_day(sc, 4, make_policy("predictive", sc))
    held = run_day(sc, 4, low)
    assert plain.abandoned > 0.005 * plain.live
    assert held.abandoned <= 0.005 * held.live
    assert held.metrics()["occupancy"] < plain.metrics()["occupancy"]


@pytest.mark.parametrize("name", ["predictive:0", "predictive:1", "predictive:half", "predictive:"])
def test_a_target_outside_0_to_1_is_refused_naming_it(name: str) -> None:
    with pytest.raises(ValueError, match="share in \\(0, 1\\)"):
        abandonment_target(name)
    assert not known_policy(name)
    assert known_policy("predictive:0.005") and known_policy("vicidial-hard")
    assert not known_policy("predictive:0.005x")


def _day(policy: str, seed: int, talk: float, abandoned: list[int]) -> JobResult:
    live = [200] * len(abandoned)
    metrics = {
        "occupancy": talk / 60.0,
        "talk_min_per_agent_hour": talk,
        "wait_mean_s": 1.0,
        "wait_p95_s": 2.0,
        "abandon_rate": sum(abandoned) / sum(live),
        "abandon_worst_hour": max(a / lv for a, lv in zip(abandoned, live, strict=True)),
        "calls_per_agent_hour": 100.0,
        "completed_per_agent_hour": 10.0,
    }
    return JobResult("cold", seed, policy, metrics, live, abandoned, 0.1, [], 0)


def _vicidial_row(days: list[JobResult]) -> dict[str, object]:
    summary = summarise(days)["cold"]
    [row] = [t for t in summary["targets"] if t["target"].startswith("talk / vicidial-hard")]
    return dict(row)


def test_the_baseline_is_compared_with_the_predictive_that_keeps_to_its_worst_hour() -> None:
    days = [
        d
        for seed in (1, 2)
        for d in (
            _day("predictive", seed, 46.0, [5, 4]),  # worst hour 2.5 %
            _day("predictive:0.006", seed, 42.0, [2, 1]),  # 1 %: above the baseline's
            _day("predictive:0.004", seed, 40.0, [1, 0]),  # 0.5 %
            _day("predictive:0.002", seed, 36.0, [0, 0]),
            _day("vicidial-hard", seed, 30.0, [1, 1]),  # 0.5 %
        )
    ]
    row = _vicidial_row(days)
    assert row["met"] and row["value"] == pytest.approx(40.0 / 30.0)
    assert "predictive:0.004" in str(row["target"])
    text = markdown(summarise(days))
    assert "to compare at its abandonment" not in text  # predictive:0.004 already does
    order = [text.index(f"| {p} |") for p in ("predictive", "predictive:0.006", "vicidial-hard")]
    assert order == sorted(order) and text.index("| predictive:0.002 |") > order[1]


def test_with_no_predictive_within_the_baselines_worst_hour_the_target_is_not_met() -> None:
    days = [
        d
        for seed in (1, 2)
        for d in (
            _day("predictive", seed, 46.0, [5, 4]),
            _day("predictive:0.006", seed, 42.0, [2, 1]),
            _day("vicidial-hard", seed, 30.0, [1, 1]),
        )
    ]
    row = _vicidial_row(days)
    assert not row["met"] and row["value"] == pytest.approx(46.0 / 30.0)
    assert "(worst hour 2.50 % vs 0.50 %)" in str(row["target"])
    # the report says how to compare at the baseline's abandonment
    assert "`--policies predictive,predictive:0.003,vicidial-hard,oracle`" in markdown(
        summarise(days)
    )


def test_the_command_line_runs_a_target_and_refuses_a_bad_one(
    bench_pacing: BenchPacing, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = 'name = "short"\nhours = 0.25\nagents = 6\nanswer_rate = 0.3\n'
    code, out = bench_pacing(toml, "--seeds", "1", "--quiet", "--no-plots",
                             "--policies", "predictive,predictive:0.01,oracle")  # fmt: skip
    assert code == 0 and "| predictive:0.01 |" in out
    code = main(["bench", "pacing", "--policies", "predictive:2", "--seeds", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "predictive:2" in err and "predictive:<target>" in err and "Traceback" not in err
