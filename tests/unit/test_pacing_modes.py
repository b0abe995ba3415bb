"""decide(): the dial modes' counts and the safety properties every campaign relies on."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.domain.enums import DialMode
from dialerd.pacing import (
    AbandonmentWindow,
    Estimates,
    Fixed,
    LogNormal,
    PacingSettings,
    Snapshot,
    decide,
    mode_used,
    predictive,
    progressive_count,
)
from dialerd.pacing import poisson_binomial as pb

LEARNT = Estimates(
    answer_probability=0.3,
    live_share=1.0,
    answer_delay=LogNormal(8.0, 4.0),
    failure_delay=LogNormal(20.0, 8.0),
    talk=LogNormal(120.0, 72.0),
    wrapup=Fixed(15.0),
    samples=500,
    answered_samples=150,
)


def snap(mode: DialMode, **kw: object) -> Snapshot:
    settings_kw = {
        k: kw.pop(k)
        for k in list(kw)
        if k in ("calls_per_ready_agent", "calls_per_wrapup_agent", "min_agents_predictive")
    }
    base: dict[str, object] = {"free_lines": 1000, "estimates": LEARNT}
    base.update(kw)
    return Snapshot(settings=PacingSettings(dial_mode=mode, **settings_kw), **base)  # type: ignore[arg-type]


def test_progressive_places_one_call_per_ready_agent_minus_calls_in_flight() -> None:
    s = snap(DialMode.PROGRESSIVE, ready=(1.0, 2.0, 3.0), ringing=(4.0,), talking=(10.0,) * 5)
    assert decide(s) == 2


def test_power_counts_ready_and_wrapup_agents_at_their_ratios() -> None:
    s = snap(
        DialMode.POWER,
        ready=(0.0,) * 4,
        wrapup=(5.0,) * 10,
        ringing=(1.0,) * 3,
        calls_per_ready_agent=1.7,
        calls_per_wrapup_agent=0.1,
    )
    # 4 x 1.7 + 10 x 0.1 = 7.8 -> 8, minus 3 in flight
    assert decide(s) == 5


def test_preview_places_one_call_per_accepted_preview_within_free_lines() -> None:
    assert decide(snap(DialMode.PREVIEW, accepted_previews=3)) == 3
    assert decide(snap(DialMode.PREVIEW, accepted_previews=3, free_lines=1)) == 1


def test_predictive_dials_ahead_for_agents_about_to_finish_wrapup() -> None:
    s = snap(DialMode.PREDICTIVE, talking=(60.0,) * 10, wrapup=(3.0,) * 4)
    assert progressive_count(s) == 0
    assert decide(s) >= 4


def test_predictive_falls_back_to_progressive_for_small_teams_and_few_samples() -> None:
    few_agents = snap(DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 2)
    assert decide(few_agents) == 2
    new = Estimates(samples=3)
    few_samples = snap(DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 10, estimates=new)
    assert decide(few_samples) == 2


def test_the_mode_used_names_predictive_held_to_progressive() -> None:
    """``dialerd_pacing_mode`` ("the dial mode the last tick used") showed the campaign's
    setting: a predictive campaign dialing one call per ready agent (too few agents or
    finished calls) showed as predictive."""
    few_agents = snap(DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 2)
    assert mode_used(few_agents) is DialMode.PROGRESSIVE
    few_samples = snap(
        DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 10, estimates=Estimates(samples=3)
    )
    assert mode_used(few_samples) is DialMode.PROGRESSIVE
    learnt = snap(DialMode.PREDICTIVE, talking=(60.0,) * 10, wrapup=(3.0,) * 4)
    assert mode_used(learnt) is DialMode.PREDICTIVE
    for mode in (DialMode.PREVIEW, DialMode.PROGRESSIVE, DialMode.POWER):
        assert mode_used(snap(mode, ready=(0.0,))) is mode


def test_the_predictive_minimum_counts_the_team_that_takes_the_campaigns_answers() -> None:
    """Four own agents (two ready, two finishing wrap-up) are below the minimum of 5; with
    agents of other campaigns' pools in the campaign's queue, who take its answers when its own
    are busy, the team is above it and predictive dials ahead for the wrap-ups."""
    own = snap(DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 2)
    assert own.smoothing_agents == 4
    assert decide(own) == 2
    shared = replace(own, team=7)
    assert shared.smoothing_agents == 7
    assert decide(shared) > 2
    # six own agents, three on each of two Asterisks: an answer evens out over three
    split = snap(DialMode.PREDICTIVE, ready=(0.0,) * 2, wrapup=(3.0,) * 4, team=3)
    assert decide(split) == 2
    assert decide(replace(split, team=None)) > 2
    # with nobody of its own active, predictive places nothing for the others' agents
    nobody = snap(DialMode.PREDICTIVE, paused=(5.0,) * 2, team=20)
    assert decide(nobody) == 0


elapsed = st.floats(min_value=0.0, max_value=900.0, allow_nan=False)
times = st.lists(elapsed, max_size=12).map(tuple)
modes = st.sampled_from(list(DialMode))


@st.composite
def snapshots(draw: st.DrawFn, mode: DialMode | None = None) -> Snapshot:
    m = mode or draw(modes)
    windows = draw(
        st.lists(
            st.builds(
                AbandonmentWindow,
                name=st.sampled_from(["hour", "day"]),
                live_answers=st.integers(0, 500),
                abandoned=st.integers(0, 30),
                seconds_left=st.floats(0.0, 86400.0),
            ),
            max_size=2,
        )
    )
    return Snapshot(
        settings=PacingSettings(
            dial_mode=m,
            calls_per_ready_agent=draw(st.floats(0.0, 4.0)),
            calls_per_wrapup_agent=draw(st.floats(0.0, 1.0)),
            min_agents_predictive=draw(st.integers(0, 6)),
            min_samples=draw(st.integers(0, 50)),
            amd_delay_s=draw(st.sampled_from([0.0, 2.5])),
        ),
        estimates=Estimates(
            answer_probability=draw(st.floats(0.0, 1.0)),
            live_share=draw(st.floats(0.0, 1.0)),
            talk=LogNormal(draw(st.floats(10.0, 400.0)), draw(st.floats(1.0, 300.0))),
            wrapup=draw(st.sampled_from([Fixed(15.0), LogNormal(20.0, 10.0)])),
            samples=draw(st.integers(0, 1000)),
        ),
        free_lines=draw(st.integers(0, 40)),
        ready=draw(times),
        talking=draw(times),
        wrapup=draw(st.lists(st.floats(0.0, 60.0), max_size=8).map(tuple)),
        paused=draw(times),
        ringing=draw(st.lists(st.floats(0.0, 25.0), max_size=15).map(tuple)),
        screening=draw(st.lists(st.floats(0.0, 2.5), max_size=3).map(tuple)),
        queued=draw(st.lists(st.floats(0.0, 2.0), max_size=3).map(tuple)),
        windows=tuple(windows),
        accepted_previews=draw(st.integers(0, 10)),
        calibration=draw(st.floats(0.5, 8.0)),
        answer_probability_high=draw(st.floats(0.0, 1.0)),
    )


@settings(max_examples=150, deadline=None)
@given(snapshots())
def test_never_negative_and_never_above_free_lines(s: Snapshot) -> None:
    n = decide(s)
    assert 0 <= n <= s.free_lines


@settings(max_examples=100, deadline=None)
@given(snapshots(DialMode.PROGRESSIVE))
def test_progressive_never_exceeds_ready_agents(s: Snapshot) -> None:
    assert decide(s) <= len(s.ready)


@settings(max_examples=100, deadline=None)
@given(snapshots(DialMode.PREDICTIVE))
def test_predictive_with_nobody_ready_soon_places_nothing(s: Snapshot) -> None:
    idle = Snapshot(
        settings=s.settings,
        estimates=s.estimates,
        free_lines=s.free_lines,
        paused=s.paused,
        leaving=3,
        ringing=s.ringing,
        queued=s.queued,
        windows=s.windows,
    )
    assert decide(idle) == 0


@settings(max_examples=100, deadline=None)
@given(snapshots(DialMode.PREDICTIVE), st.integers(1, 400), st.integers(1, 20))
def test_predictive_at_the_abandonment_limit_is_progressive(
    s: Snapshot, live: int, over: int
) -> None:
    limit = s.settings.abandonment_target
    at_limit = AbandonmentWindow("hour", live, math.floor(limit * live) + over, 0.0)
    capped = Snapshot(
        settings=s.settings,
        estimates=s.estimates,
        free_lines=s.free_lines,
        ready=s.ready,
        talking=s.talking,
        wrapup=s.wrapup,
        ringing=s.ringing,
        queued=s.queued,
        windows=(*s.windows, at_limit),
    )
    assert decide(capped) == min(progressive_count(capped), capped.free_lines)


def test_predictive_with_a_spent_window_margin_still_predials_a_wrapup_ending_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A window whose safety margin has used up its spare budget (but not its target) plans at
    a floor rate, not 0: a call for an agent whose wrap-up ends before the call can be answered
    is all but risk-free, and refusing it would make the rest of the window progressive. The
    floor is lower once one more abandon would break the window."""
    target = PacingSettings().abandonment_target
    # the hour will have ~210 live answers (3 %: 6.4 abandons); 5 or 6 abandons so far leave
    # 1.4 or 0.4 to spare, both under the margin
    for abandoned, floor in ((5, predictive.FLOOR), (6, predictive.FLOOR_SPENT)):
        window = AbandonmentWindow("hour", 100, abandoned, 1800.0)
        s = snap(DialMode.PREDICTIVE, wrapup=(3.0,), talking=(30.0,) * 9, windows=(window,))
        assert predictive.allowed_rate(s) == pytest.approx(floor * target)
        assert progressive_count(s) == 0
        assert decide(s) >= 1
    monkeypatch.setattr(predictive, "FLOOR", 0.0)
    monkeypatch.setattr(predictive, "FLOOR_SPENT", 0.0)
    assert decide(s) == 0


def test_the_last_seconds_of_a_window_one_abandon_from_breaking_it_dial_near_certain_calls() -> (
    None
):
    """An hour with 58 live answers and 1 abandon, 20 s left: one more abandon breaks it
    (2 / 59 > 3 %), so the calls placed now (they answer within this hour) may carry only the
    spent floor's risk, not the full target."""
    target = PacingSettings().abandonment_target
    spent = AbandonmentWindow("hour", 58, 1, 20.0)
    s = snap(DialMode.PREDICTIVE, ready=(1.0,), talking=(30.0,) * 4, windows=(spent,))
    assert predictive.allowed_rate(s) == pytest.approx(predictive.FLOOR_SPENT * target)
    spare = AbandonmentWindow("hour", 58, 0, 20.0)
    s = snap(DialMode.PREDICTIVE, ready=(1.0,), talking=(30.0,) * 4, windows=(spare,))
    assert predictive.allowed_rate(s) == pytest.approx(target)


def test_a_window_that_cannot_take_two_more_abandons_is_not_risked_on_two_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five agents, four ready, an hour of 40 live answers and 1 abandon (1.3 abandons left):
    one more abandon fits, two would break the hour, so the calls are cut until the expected
    abandons beyond the first are a small share of the planned ones. With no abandon yet (2.3
    left) the model's count stands."""

    def team(abandoned: int) -> Snapshot:
        hour = AbandonmentWindow("hour", 40, abandoned, 1200.0)
        return snap(DialMode.PREDICTIVE, ready=(10.0,) * 4, wrapup=(4.0,), windows=(hour,))

    def count(abandoned: int, guard: bool) -> int:
        with monkeypatch.context() as m:
            if not guard:
                m.setattr(predictive, "PAIR_BUDGET", 0.0)
            return decide(team(abandoned))

    assert count(0, guard=True) == count(0, guard=False) >= 5
    n = count(1, guard=True)
    assert 4 <= n < count(1, guard=False)
    s = team(1)
    assert 1.0 < predictive.remaining_budget(s) < predictive.PAIR_BUDGET
    alpha = predictive.planning_rate(s)
    assert alpha is not None
    model = predictive.build_model(s)
    rows = predictive._rows(model)
    beyond_first = pb.excess_curve(1.0 - rows, rows.shape[0] - model.c - 1.0, model.q, 0, n + 1)
    live = [(model.expected_need + k * float(model.q[-1])) * model.live_of_need for k in (n, n + 1)]
    assert beyond_first[n] <= predictive.PAIR_SHARE * alpha * live[0]
    assert beyond_first[n + 1] > predictive.PAIR_SHARE * alpha * live[1]


def test_an_hour_that_takes_a_single_abandon_is_planned_on_a_higher_risk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Five agents with 240 s talks and 30 s wrap-ups take about 57 live answers an hour: the
    hour's whole allowance is 1.7 abandons, so the first is allowed and the second breaks it.
    Such a window plans on 4 x the risk (the rate after the first abandon and the pair guard
    stop the second); a larger team's hour, or a team still logging in below the predictive
    minimum, keeps the ordinary margin."""
    tiny = replace(LEARNT, talk=LogNormal(240.0, 144.0), wrapup=Fixed(30.0))
    hour = AbandonmentWindow("hour", 0, 0, 3600.0)

    def rates(agents: int, estimates: Estimates) -> tuple[float | None, float | None]:
        s = snap(
            DialMode.PREDICTIVE, talking=(60.0,) * agents, estimates=estimates, windows=(hour,)
        )
        with monkeypatch.context() as m:
            m.setattr(predictive, "ONE_ABANDON_RISK_FACTOR", 1.0)
            ordinary = predictive.allowed_rate(s)
        return ordinary, predictive.allowed_rate(s)

    ordinary, single = rates(5, tiny)
    assert ordinary is not None and single is not None
    assert 1.5 * ordinary < single < PacingSettings().abandonment_target
    for agents, estimates in ((10, tiny), (5, LEARNT), (4, tiny)):
        ordinary, single = rates(agents, estimates)
        assert single == ordinary


def test_an_hour_that_just_had_a_burst_of_abandons_keeps_one_as_large_in_hand() -> None:
    """Twenty agents, ten minutes of an hour left with 400 live answers and 8 abandons (6.3
    more allowed). After abandons that came one at a time the hour spends the rest at the
    target; after a burst of 4 within seconds it keeps 3 more abandons in hand and plans on
    half the rate, and after a burst of 6, only the near-certain calls."""
    hour = AbandonmentWindow("hour", 400, 8, 600.0)
    base = snap(DialMode.PREDICTIVE, talking=(60.0,) * 20, windows=(hour,))
    target = base.settings.abandonment_target

    def rate(burst: int, abandoned: int = 8) -> float:
        s = replace(base, windows=(replace(hour, abandoned=abandoned),), abandon_burst=burst)
        r = predictive.allowed_rate(s)
        assert r is not None
        return r

    assert rate(0) == rate(1) == target
    assert predictive.FLOOR * target < rate(4) < rate(1) / 2
    assert rate(6) == rate(8) == predictive.FLOOR * target
    # a budget used up is used up, burst or not
    assert predictive.allowed_rate(replace(base, windows=(replace(hour, abandoned=40),))) is None


def test_a_burst_on_a_fallen_answer_rate_is_held_to_what_the_hour_can_take_if_it_rises() -> None:
    """Ten agents idle at the start of an hour, the answer rate measured at 10 % after an hour
    that also saw 40 %: the model alone fills the lines (about 4 answers expected), but were the
    rate back at 40 % those calls would abandon more callers than the whole hour may. The
    burst is cut to what the hour's budget takes at the high rate; with no such high rate, or
    no window, or at a fixed planning rate, the model's count stands."""
    low = replace(LEARNT, answer_probability=0.1)
    hour = AbandonmentWindow("hour", 0, 0, 3600.0)
    base = snap(
        DialMode.PREDICTIVE,
        ready=(30.0,) * 10,
        talking=(60.0,) * 10,
        estimates=low,
        windows=(hour,),
        calibration=3.0,
    )
    free = decide(base)
    assert free >= 30
    assert decide(replace(base, answer_probability_high=0.1)) == free
    unwindowed = replace(base, windows=())
    assert decide(replace(unwindowed, answer_probability_high=0.4)) == decide(unwindowed)
    stressed = replace(base, answer_probability_high=0.4)
    n = decide(stressed)
    assert progressive_count(stressed) == 10 <= n < free
    cap = predictive.remaining_budget(stressed) / stressed.calibration
    at_high = predictive.build_model(stressed, answer_probability=0.4)
    curve = predictive._excess(at_high, free)
    assert curve[n] <= cap < curve[free]
    # a fixed planning rate (the benchmark's frontier) is the model alone, windows or not
    unstressed = replace(stressed, answer_probability_high=0.0)
    assert decide(stressed, 0.01) == decide(unstressed, 0.01) > n


@settings(max_examples=200, deadline=None)
@given(
    snapshots(DialMode.PREDICTIVE),
    st.floats(0.02, 0.6),
    st.floats(1.0, 6.0),
    st.builds(
        AbandonmentWindow,
        name=st.just("hour"),
        live_answers=st.integers(0, 400),
        abandoned=st.integers(0, 12),
        seconds_left=st.floats(0.0, 3600.0),
    ),
)
def test_the_bound_that_spares_most_decisions_the_burst_stress_test_never_changes_a_count(
    drawn: Snapshot, p: float, rise: float, hour: AbandonmentWindow
) -> None:
    """The stress test skips its second model when a bound clears the burst; the count must
    be the one the full test gives."""
    s = replace(
        drawn,
        estimates=replace(drawn.estimates, answer_probability=p, samples=1000),
        answer_probability_high=min(p * rise, 1.0),
        windows=(hour,),
        free_lines=drawn.free_lines * 3,
    )
    real = predictive.stress_count
    seen: list[tuple[int, int]] = []

    def both(
        snapshot: Snapshot, floor: int, n: int, model: predictive.Model, planned: float
    ) -> int:
        quick = real(snapshot, floor, n, model, planned)
        seen.append((quick, real(snapshot, floor, n, model, math.inf)))
        return quick

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(predictive, "stress_count", both)
        decide(s)
    for quick, full in seen:
        assert quick == full
