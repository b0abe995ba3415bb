"""The pacing benchmark's simulator against closed forms, its repeatability and its scenarios."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dialerd.bench.pacing.policies import make_policy
from dialerd.bench.pacing.scenario import ScenarioError, load_scenario, parse_scenario
from dialerd.bench.pacing.simulate import run_day, run_oracle
from dialerd.cli.main import main
from dialerd.pacing import Estimates, Snapshot

SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"

FIXED = {
    "name": "fixed",
    "hours": 4,
    "agents": 10,
    "answer_rate": 0.5,
    "busy_share": 0.1,
    "ring": {"dist": "fixed", "mean": 8},
    "talk": {"dist": "fixed", "mean": 100},
    "wrapup": {"dist": "fixed", "mean": 10},
}

#: the ``bench_pacing`` fixture (tests/unit/conftest.py)
BenchPacing = Callable[..., tuple[int, str]]


def test_progressive_with_fixed_times_gives_the_renewal_formula_occupancy() -> None:
    sc = parse_scenario(FIXED, "<test>")
    # Per connected call an agent waits for (1-p)/p failed calls of mean length
    # (busy 0.1 x 5 s + no answer 0.4 x 25 s) / 0.5, then the answer after 8 s.
    failures = (1 - 0.5) / 0.5
    wait = failures * (0.1 * 5 + 0.4 * 25) / 0.5 + 8
    expected = 100 / (100 + 10 + wait)
    results = [run_day(sc, seed, make_policy("progressive", sc)) for seed in (1, 2)]
    occupancy = sum(r.metrics()["occupancy"] for r in results) / 2
    assert occupancy == pytest.approx(expected, rel=0.02)
    assert all(r.abandoned == 0 for r in results)


def test_the_oracle_never_abandons_its_agents_never_wait_and_reach_the_limit() -> None:
    sc = parse_scenario(FIXED, "<test>")
    r = run_oracle(sc, 3)
    m = r.metrics()
    assert r.abandoned == 0 and r.live > 0
    assert m["wait_mean_s"] == 0.0 and m["wait_p95_s"] == 0.0
    assert m["occupancy"] == pytest.approx(100 / 110, rel=0.01)


def test_a_seeded_run_is_repeatable_bit_for_bit() -> None:
    sc = parse_scenario({**FIXED, "hours": 0.25, "talk": {"mean": 100}}, "<test>")
    a = run_day(sc, 7, make_policy("predictive", sc))
    b = run_day(sc, 7, make_policy("predictive", sc))
    assert a.metrics() == b.metrics()
    assert (a.waits, a.hourly_abandoned, a.placed) == (b.waits, b.hourly_abandoned, b.placed)


def test_predictive_beats_progressive_within_the_target_on_a_short_day() -> None:
    sc = parse_scenario({**FIXED, "hours": 1, "talk": {"mean": 100}}, "<test>")
    prog = run_day(sc, 5, make_policy("progressive", sc)).metrics()
    pred = run_day(sc, 5, make_policy("predictive", sc)).metrics()
    assert pred["occupancy"] > prog["occupancy"] * 1.1
    assert pred["abandon_rate"] <= 0.03


@pytest.mark.parametrize(("name", "hours"), [("s6-steps", 2.0), ("s7-shift", 4.5)])
def test_predictive_is_never_worse_than_progressive_through_abrupt_changes(
    name: str, hours: float
) -> None:
    # s6: the answer rate quadruples at each clock hour and falls back at the half hour;
    # s7: a third of the team breaks together at 2 h, half of it logs off at once at 4 h
    sc = dataclasses.replace(load_scenario(SCENARIOS / f"{name}.toml"), hours=hours)
    prog = run_day(sc, 2, make_policy("progressive", sc)).metrics()
    pred = run_day(sc, 2, make_policy("predictive", sc)).metrics()
    assert pred["occupancy"] > prog["occupancy"] * 1.1
    assert pred["abandon_rate"] <= 0.03


def test_a_burst_after_the_answer_rate_fell_keeps_every_hour_of_the_day_under_the_target() -> None:
    """s6-steps seed 19: an hour spent at progressive leaves ten agents idle at 10 %, and the
    next starts with the rise to 40 %. Without the burst stress test the model placed 47 calls
    at 6:00 on the measured 10 %, hours 6 to 8 broke 3 % and the day ended at 3.08 %."""
    sc = load_scenario(SCENARIOS / "s6-steps.toml")
    res = run_day(sc, 19, make_policy("predictive", sc))
    hours = list(zip(res.hourly_abandoned, res.hourly_live, strict=True))
    assert all(a <= 0.03 * lv for a, lv in hours), hours


def test_a_burst_of_abandons_on_a_cold_list_is_kept_in_hand_and_every_hour_stays_under() -> None:
    """s8-lowrate seed 34 (5 % answered): abandons come in bursts of 3 to 5 within seconds.
    With one abandon kept in hand, hour 1 spent its budget to the end and a last burst of 5
    at 0:59 ended it at 21 of 663 (3.2 %); kept in hand, every hour stays under 3 %."""
    sc = load_scenario(SCENARIOS / "s8-lowrate.toml")
    res = run_day(sc, 34, make_policy("predictive", sc))
    hours = list(zip(res.hourly_abandoned, res.hourly_live, strict=True))
    assert all(a <= 0.03 * lv for a, lv in hours), hours


class _Spy:
    """A policy that records the ring time it gives each decision's calls."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.event_driven = inner.event_driven
        self.settings = inner.settings
        self.windows = inner.windows
        self.known_agents = inner.known_agents
        self.rings: list[float] = []

    def decide(self, snapshot: Snapshot, now: float) -> int:
        n: int = self.inner.decide(snapshot, now)
        return n

    def ring_timeout(self, snapshot: Snapshot) -> float:
        ring: float = self.inner.ring_timeout(snapshot)
        self.rings.append(ring)
        return ring


def test_predictive_rings_15_s_where_answers_come_early_and_25_s_where_they_come_late() -> None:
    day = {**FIXED, "hours": 1, "answer_rate": 0.3}
    early = parse_scenario(day, "<test>")
    spy = _Spy(make_policy("predictive", early))
    fast = run_day(early, 2, spy)
    assert spy.rings[0] == 25.0  # no history yet
    assert set(spy.rings[-100:]) == {15.0}
    assert fast.live > 0
    # callees who answer after 20 s: shortening would lose every answer
    late = parse_scenario({**day, "ring": {"dist": "fixed", "mean": 20}}, "<test>")
    spy = _Spy(make_policy("predictive", late))
    slow = run_day(late, 2, spy)
    assert set(spy.rings) == {25.0}
    assert slow.live > 0.2 * slow.placed


def test_standard_scenarios_load_with_the_issue_figures() -> None:
    s2 = load_scenario(SCENARIOS / "s2-large.toml")
    assert (s2.agents, s2.answer_rate, s2.hours) == (50, ((0.0, 0.35),), 8.0)
    assert (s2.talk.kind, s2.talk.mean, s2.talk.sd) == ("lognormal", 120.0, pytest.approx(72.0))
    assert (s2.wrapup.kind, s2.wrapup.mean) == ("fixed", 15.0)
    assert (s2.ring.mean, s2.ring.sd, s2.busy_share, s2.ring_timeout_s) == (8.0, 4.0, 0.1, 25.0)
    s5 = load_scenario(SCENARIOS / "s5-amd.toml")
    assert s5.amd and s5.amd_delay_s == 2.5 and s5.machine_share == 0.25
    s4 = load_scenario(SCENARIOS / "s4-drift.toml")
    assert s4.answer_rate_at(0) == pytest.approx(0.40)
    assert s4.answer_rate_at(4 * 3600) == pytest.approx(0.275)
    assert sum(c.count for c in s4.changes) == -15


def test_a_scenario_with_a_bad_key_is_refused_naming_key_and_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("hours = 8\nagents = 10\nanswer_rate = 0.3\n[talk]\nmaen = 120\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(bad)
    assert str(bad) in str(err.value) and "talk.maen" in str(err.value)
    with pytest.raises(ScenarioError, match="busy_share"):
        parse_scenario({**FIXED, "busy_share": 1.5}, "x.toml")


def test_the_command_line_reports_a_bad_scenario_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("hours = 8\nagents = 'ten'\nanswer_rate = 0.3\n")
    code = main(["bench", "pacing", "--scenario", str(bad), "--seeds", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "agents" in err and str(bad) in err and "Traceback" not in err


SHORT_TOML = 'name = "short"\nhours = 0.25\nagents = 6\nanswer_rate = 0.3\n'


def test_the_command_line_writes_table_json_and_plots(
    tmp_path: Path, bench_pacing: BenchPacing
) -> None:
    code, out = bench_pacing(
        SHORT_TOML, "--seeds", "2", "--quiet", "--policies", "progressive,predictive,oracle"
    )
    assert code == 0
    assert "| predictive |" in out and "/oracle" in out
    assert (tmp_path / "pacing.json").is_file()
    assert (tmp_path / "pacing-occupancy-vs-abandonment.png").stat().st_size > 1000


def test_the_speed_report_times_one_day_of_every_policy(
    tmp_path: Path, bench_pacing: BenchPacing
) -> None:
    code, out = bench_pacing(SHORT_TOML, "--speed", "--policies", "progressive,predictive,oracle")
    assert code == 0
    assert "One day with 3 policies" in out and "in 1 process(es)" in out
    assert "predictive decision: p50" in out
    report = json.loads((tmp_path / "pacing-speed.json").read_text())
    assert set(report["policies"]) == {"progressive", "predictive", "oracle"}
    decide = report["policies"]["predictive"]["decide_ms"]
    assert decide["count"] == report["policies"]["predictive"]["decisions"] > 0
    assert 0 < decide["p50"] <= decide["p99"] <= decide["max"]


def test_policies_that_do_not_read_estimates_decide_the_same_without_their_refresh() -> None:
    """The bench skips refreshing the snapshot's estimates for the simple policies: their
    decisions must not depend on them (the days match a builder that does refresh)."""
    sc = parse_scenario({**FIXED, "hours": 0.5}, "<test>")
    for name in ("progressive", "power", "vicidial-hard"):
        policy = make_policy(name, sc)
        seen: list[int] = []
        decide = policy.decide

        def record(
            snapshot: Snapshot, now: float, decide: Any = decide, seen: list[int] = seen
        ) -> int:
            n: int = decide(dataclasses.replace(snapshot, estimates=Estimates()), now)
            seen.append(n)
            return n

        policy.decide = record  # type: ignore[method-assign]
        fresh = run_day(sc, 4, policy)
        plain = run_day(sc, 4, make_policy(name, sc))
        assert (fresh.placed, fresh.waits, fresh.abandoned) == (
            plain.placed,
            plain.waits,
            plain.abandoned,
        )
        assert len(seen) == plain.decisions > 0


def test_breaks_and_log_offs_leave_the_logged_in_time_and_are_honoured() -> None:
    sc = parse_scenario(
        {
            **FIXED,
            "hours": 2,
            "agents": 4,
            "breaks": [{"at_h": 0.5, "count": 2, "duration_min": 30}],
            "agent_changes": [{"at_h": 1.0, "count": -1}, {"at_h": 1.0, "count": 1}],
        },
        "<test>",
    )
    r = run_day(sc, 1, make_policy("progressive", sc))
    # 4 agents x 2 h, minus 2 x 30 min of breaks; the agent leaving at 1 h is replaced at 1 h.
    # Breaks and the log-off wait for the current call and wrap-up (at most ~110 s here).
    expected = 4 * 7200 - 2 * 1800
    assert expected - 3 * 150 <= r.logged_s <= expected + 3 * 150
    oracle = run_oracle(sc, 1)
    assert abs(oracle.logged_s - r.logged_s) < 3 * 150


@pytest.mark.parametrize("policy", ["progressive", "predictive", "vicidial-hard", "oracle"])
def test_a_short_contact_list_runs_out_and_dialing_stops(policy: str) -> None:
    sc = parse_scenario({**FIXED, "hours": 1, "contacts": 120}, "<test>")
    r = run_oracle(sc, 4) if policy == "oracle" else run_day(sc, 4, make_policy(policy, sc))
    # the list is dialed to its end, not beyond; the agents stay logged in the whole hour
    assert r.placed == 120
    assert r.logged_s == pytest.approx(10 * 3600.0)
    assert 0 < r.live < 120
