"""ring_timeout(): how long predictive lets an unanswered call ring, and when it keeps the full
timeout (other modes, too little history, callees who answer late)."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from dialerd.domain.enums import DialMode
from dialerd.pacing import Estimates, Fixed, LogNormal, PacingSettings, Snapshot, ring_timeout

LEARNT = Estimates(
    answer_probability=0.2,
    answer_delay=LogNormal(8.0, 4.0),
    failure_delay=LogNormal(22.0, 6.0),
    talk=LogNormal(240.0, 144.0),
    wrapup=Fixed(30.0),
    samples=400,
    answered_samples=80,
)


def snap(mode: DialMode = DialMode.PREDICTIVE, est: Estimates = LEARNT, **kw: float) -> Snapshot:
    return Snapshot(
        settings=PacingSettings(dial_mode=mode, **kw),  # type: ignore[arg-type]
        estimates=est,
        free_lines=100,
        ready=(1.0,) * 5,
    )


def test_predictive_gives_up_at_the_legal_minimum_when_late_answers_are_rare() -> None:
    # a call still ringing at 15 s is answered with about 1.5 % against 20 % for a fresh one
    assert ring_timeout(snap()) == 15.0


def test_callees_who_answer_late_keep_the_full_ring() -> None:
    slow = dataclasses.replace(LEARNT, answer_delay=LogNormal(14.0, 6.0))
    assert ring_timeout(snap(est=slow)) == 25.0


def test_other_modes_ring_the_campaign_timeout() -> None:
    for mode in (DialMode.PROGRESSIVE, DialMode.POWER, DialMode.PREVIEW):
        assert ring_timeout(snap(mode)) == 25.0


def test_without_enough_history_the_full_timeout_is_kept() -> None:
    young = dataclasses.replace(LEARNT, samples=10)
    assert ring_timeout(snap(est=young)) == 25.0


def test_a_min_ring_at_or_above_the_timeout_turns_it_off() -> None:
    assert ring_timeout(snap(min_ring_s=25.0)) == 25.0
    assert ring_timeout(snap(min_ring_s=40.0, ring_timeout_s=30.0)) == 30.0
    assert ring_timeout(snap(min_ring_s=20.0)) == 20.0


@given(
    p=st.floats(0.0, 1.0),
    mean=st.floats(1.0, 60.0),
    min_ring=st.floats(15.0, 60.0),
    timeout=st.floats(15.0, 60.0),
)
def test_the_ring_is_never_shorter_than_min_ring_nor_longer_than_the_timeout(
    p: float, mean: float, min_ring: float, timeout: float
) -> None:
    est = dataclasses.replace(LEARNT, answer_probability=p, answer_delay=LogNormal(mean, mean / 2))
    ring = ring_timeout(snap(est=est, min_ring_s=min_ring, ring_timeout_s=timeout))
    assert ring in (min(min_ring, timeout), timeout)
