"""The learnt ratio of abandons seen to abandons planned, and how pacing uses it."""

from __future__ import annotations

from dataclasses import replace

from test_pacing_modes import LEARNT

from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing import (
    PacingSettings,
    Snapshot,
    SnapshotBuilder,
    WindowSpec,
    decide,
)
from dialerd.pacing.calibration import HIGH, LOW, PRIOR_RATIO, Calibration


def test_without_data_the_ratio_is_the_prior() -> None:
    assert Calibration().ratio == PRIOR_RATIO


def test_the_ratio_converges_to_abandons_seen_over_abandons_planned() -> None:
    cal = Calibration(prior_ratio=1.0, prior_weight=1.0, half_life=1e9)
    cal.plan_rate = 0.01
    for i in range(3000):
        cal.placed(i)
        cal.live_answer(i, abandoned=i % 33 == 0)  # 3 % seen where 1 % was planned
    assert 2.7 < cal.ratio < 3.1


def test_calls_without_a_live_answer_do_not_count() -> None:
    cal = Calibration(prior_ratio=1.0, prior_weight=1.0)
    cal.plan_rate = 0.05
    for i in range(100):
        cal.placed(i)
        cal.forget(i)
    assert cal.planned == 0.0
    assert cal.ratio == 1.0


def test_the_ratio_stays_within_its_bounds() -> None:
    cal = Calibration(prior_weight=0.1)
    cal.plan_rate = 0.0
    for i in range(50):
        cal.placed(i)
        cal.live_answer(i, abandoned=True)
    assert cal.ratio == HIGH
    cal2 = Calibration(prior_weight=0.1)
    cal2.plan_rate = 0.5
    for i in range(50):
        cal2.placed(i)
        cal2.live_answer(i, abandoned=False)
    assert cal2.ratio == LOW


def test_builder_feeds_abandons_of_predictive_calls_into_the_snapshot() -> None:
    settings = PacingSettings(dial_mode=DialMode.PREDICTIVE, min_samples=0)
    b = SnapshotBuilder(settings, windows=(WindowSpec("hour", 3600.0),))
    for a in range(10):
        b.agent_state(a, AgentState.TALKING, 0.0)
    before = b.build(1.0).calibration
    for c in range(20):
        b.call_placed(c, 1.0)
        b.call_answered(c, 5.0)
        b.call_ended(c, 7.0, CallResult.ABANDONED)
    assert b.build(8.0).calibration > before


def test_a_campaign_that_abandons_more_than_planned_dials_less() -> None:
    base = Snapshot(
        settings=PacingSettings(dial_mode=DialMode.PREDICTIVE),
        estimates=LEARNT,
        free_lines=1000,
        ready=(0.0,) * 3,
        talking=tuple(float(x) for x in range(10, 400, 10)),
        wrapup=(5.0, 9.0, 12.0),
    )
    calibrated = decide(replace(base, calibration=1.0))
    pessimistic = decide(replace(base, calibration=4.0))
    assert calibrated > pessimistic >= 3
