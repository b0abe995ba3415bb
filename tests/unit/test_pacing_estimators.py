"""Online estimates and the snapshot builder the engine and the benchmark share."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing import (
    DistributionEstimator,
    LogNormal,
    OnlineEstimates,
    PacingSettings,
    RateEstimator,
    SnapshotBuilder,
    WindowSpec,
)
from dialerd.pacing.distributions import conditional_cdf


def test_rate_estimator_follows_a_drop_in_answer_rate() -> None:
    r = RateEstimator(prior=0.5, prior_weight=10, half_life=100)
    for i in range(2000):
        r.update(i % 10 < 4)  # 40 %
    assert abs(r.value - 0.4) < 0.03
    for i in range(600):
        r.update(i % 10 < 1)  # a poor segment starts: 10 %
    assert abs(r.value - 0.1) < 0.03


def _outcomes(rate: float, n: int, seed: int) -> list[bool]:
    return [bool(x) for x in np.random.default_rng(seed).random(n) < rate]


def test_rate_estimator_follows_a_sudden_rise_within_dozens_of_outcomes() -> None:
    # a dialer that kept planning on 10 % after its callees began to answer 40 % of calls
    # would place four times the calls its agents can take
    decay = 2.0 ** (-1.0 / 150.0)
    before, soon, later, average_only = [], [], [], []
    for seed in range(10):
        r = RateEstimator(prior=0.3)
        hits, total = 3.0, 10.0  # the recency-weighted average alone, for comparison
        for ok in _outcomes(0.10, 3000, seed=seed):
            r.update(ok)
            hits, total = hits * decay + ok, total * decay + 1.0
        before.append(r.value)
        after, plain = [], []
        for ok in _outcomes(0.40, 300, seed=100 + seed):
            r.update(ok)
            hits, total = hits * decay + ok, total * decay + 1.0
            after.append(r.value)
            plain.append(hits / total)
        soon.append(np.mean(after[40:100]))
        later.append(np.mean(after[150:]))
        average_only.append(np.mean(plain[40:100]))
    assert abs(np.mean(before) - 0.10) < 0.02
    # 40-100 outcomes after the rise: about 0.38 against the average's 0.19
    assert np.mean(soon) > 0.32 > 0.22 > np.mean(average_only)
    assert abs(np.mean(later) - 0.40) < 0.05


def test_rate_estimator_on_a_steady_rate_stays_near_it_and_never_dips_below_its_average() -> None:
    r = RateEstimator(prior=0.35)
    seen = []
    for ok in _outcomes(0.35, 20000, seed=3):
        r.update(ok)
        seen.append(r.value)
    tail = np.array(seen[1000:])
    assert abs(tail.mean() - 0.35) < 0.02
    # too low an answer rate over-dials: the estimate follows falls only at the average's pace
    assert tail.min() > 0.25


def test_rate_estimator_with_a_certain_prior_takes_a_contrary_outcome() -> None:
    r = RateEstimator(prior=1.0)  # e.g. the live share before any machine was seen
    r.update(False)
    r.update(True)
    assert 0.8 < r.value < 1.0
    assert np.isfinite(r.value)


def test_distribution_estimator_learns_a_fixed_wrapup_and_a_heavy_tail() -> None:
    fixed = DistributionEstimator(LogNormal(60.0, 30.0), prior_weight=5)
    for _ in range(500):
        fixed.update(15.0)
    d = fixed.distribution
    assert abs(d.mean - 15.0) < 0.5
    assert d.cdf(np.array([13.5]))[0] < 0.05 and d.cdf(np.array([16.5]))[0] > 0.95

    rng = np.random.default_rng(1)
    talk = DistributionEstimator(LogNormal(100.0, 50.0), prior_weight=5, half_life=5000)
    for x in rng.lognormal(4.6, 0.6, 5000):
        talk.update(float(x))
    truth = LogNormal(
        float(np.exp(4.6 + 0.18)), float(np.exp(4.6 + 0.18) * np.sqrt(np.exp(0.36) - 1))
    )
    grid = np.array([30.0, 60.0, 100.0, 200.0, 400.0])
    assert np.max(np.abs(talk.distribution.cdf(grid) - truth.cdf(grid))) < 0.03


@settings(max_examples=50, deadline=None)
@given(st.floats(0.0, 2000.0), st.floats(0.0, 100.0))
def test_conditional_cdf_is_a_probability_and_grows_with_time(e: float, more: float) -> None:
    d = LogNormal(120.0, 72.0)
    a = conditional_cdf(d, np.array([e]), np.array([more]))[0]
    b = conditional_cdf(d, np.array([e]), np.array([more + 10.0]))[0]
    assert 0.0 <= a <= b <= 1.0


def test_long_calls_are_less_likely_to_end_soon_than_the_mean_suggests() -> None:
    d = LogNormal(120.0, 72.0)
    soon = conditional_cdf(d, np.array([100.0, 600.0]), np.array([20.0]))
    # heavy tail: a call at 600 s is less likely to end in 20 s than one at 100 s
    assert soon[1] < soon[0]


def make_builder() -> SnapshotBuilder:
    return SnapshotBuilder(
        PacingSettings(dial_mode=DialMode.PREDICTIVE),
        OnlineEstimates(),
        windows=(WindowSpec("hour", 3600.0), WindowSpec("minute", 60.0, rolling=True)),
        trunk_lines=10,
    )


def test_builder_reports_agents_and_calls_with_their_times() -> None:
    b = make_builder()
    b.agent_state("a", AgentState.READY, 0.0)
    b.agent_state("b", AgentState.TALKING, 0.0)
    b.agent_state("c", AgentState.TALKING, 0.0)
    b.agent_state("c", AgentState.WRAPUP, 50.0, wrapup_s=15.0)
    b.agent_state("d", AgentState.TALKING, 10.0)
    b.agent_leaving("d")
    b.call_placed(1, 55.0)
    b.call_placed(2, 58.0)
    b.call_answered(2, 59.0)
    s = b.build(60.0)
    assert s.ready == (60.0,)
    assert s.talking == (60.0,)
    assert s.wrapup == (5.0,)
    assert s.leaving == 1
    assert s.ringing == (5.0,) and s.queued == (1.0,)
    assert s.free_lines == 8
    assert b.estimates.talk.distribution.mean < 150.0  # learnt one 50 s talk


def test_builder_windows_count_live_answers_and_abandons_and_reset_each_hour() -> None:
    b = make_builder()
    for i in range(4):
        b.call_placed(i, 3500.0)
        b.call_answered(i, 3505.0)
    b.call_connected(0, 3506.0)
    b.call_connected(1, 3506.0)
    b.call_ended(2, 3507.0, CallResult.ABANDONED)
    hour, minute = b.build(3550.0).windows
    assert (hour.live_answers, hour.abandoned, hour.seconds_left) == (3, 1, 50.0)
    assert (minute.live_answers, minute.abandoned) == (3, 1)
    b.call_ended(3, 3601.0, CallResult.ABANDONED)
    hour, minute = b.build(3602.0).windows
    assert (hour.live_answers, hour.abandoned) == (1, 1)
    hour, minute = b.build(3800.0).windows
    assert (minute.live_answers, minute.abandoned) == (0, 0)
    b.restore_window("hour", 100, 2)
    assert b.build(3801.0).windows[0].abandoned == 2


def test_estimates_learn_the_answer_rate_from_finished_attempts() -> None:
    b = make_builder()
    for i in range(300):
        b.call_placed(i, float(i))
        if i % 4 == 0:
            b.call_answered(i, i + 8.0)
            b.call_connected(i, i + 8.0)
        else:
            b.call_ended(i, i + 25.0, CallResult.NO_ANSWER)
    est = b.build(400.0).estimates
    assert abs(est.answer_probability - 0.25) < 0.05
    assert est.samples == 300


def _attempts(b: SnapshotBuilder, start: int, count: int, every: int, at: float) -> None:
    """``count`` finished attempts at time ``at``, one in ``every`` answered."""
    for i in range(start, start + count):
        b.call_placed(i, at)
        if i % every == 0:
            b.call_answered(i, at + 8.0)
            b.call_connected(i, at + 8.0)
        else:
            b.call_ended(i, at + 15.0, CallResult.NO_ANSWER)


def test_builder_keeps_the_largest_burst_of_abandons_of_the_last_hour() -> None:
    """Abandons within a few seconds of each other are one burst; the snapshot carries the
    largest of the last hour, and forgets it an hour later."""
    b = make_builder()
    assert b.build(0.0).abandon_burst == 0

    def abandon(call: int, at: float) -> None:
        b.call_placed(call, at - 10.0)
        b.call_answered(call, at - 2.0)
        b.call_ended(call, at, CallResult.ABANDONED)

    abandon(1, 100.0)
    abandon(2, 200.0)  # a minute and more apart: bursts of one
    assert b.build(201.0).abandon_burst == 1
    for i, at in enumerate((300.0, 301.0, 302.5, 304.0)):
        abandon(10 + i, at)
    assert b.build(305.0).abandon_burst == 4
    abandon(20, 1000.0)
    abandon(21, 1003.0)
    assert b.build(1004.0).abandon_burst == 4
    # an hour after the burst of 4 only the later one of 2 is left, then nothing
    assert b.build(3905.0).abandon_burst == 2
    assert b.build(4604.0).abandon_burst == 0


def test_builder_keeps_the_highest_measured_answer_rate_of_the_last_hour() -> None:
    b = make_builder()
    b.estimates_refresh_s = 0.0
    _attempts(b, 0, 20, 2, 0.0)
    # fewer attempts than min_samples: the estimate is mostly the prior, not remembered
    assert b.build(20.0).answer_probability_high == 0.0
    _attempts(b, 20, 400, 2, 30.0)  # 50 %
    b.build(60.0)
    high = b.estimates.answer.average
    assert high > 0.4
    _attempts(b, 420, 2000, 10, 600.0)  # 10 %
    s = b.build(700.0)
    assert s.estimates.answer_probability < 0.2
    assert s.answer_probability_high == high
    # an hour after the high rate was last seen it is forgotten
    s = b.build(3661.0)
    assert s.answer_probability_high == b.estimates.answer.average < 0.2
