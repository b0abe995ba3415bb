"""Pacing estimates seeded from a campaign's finished attempts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt
from dialerd.engine.history import seed_estimates
from dialerd.pacing import OnlineEstimates

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def attempt(
    n: int,
    result: CallResult,
    *,
    answer: float | None = None,
    connect: float | None = None,
    end: float = 30.0,
) -> Attempt:
    at = T0 + timedelta(minutes=n)
    return Attempt(
        id=f"a{n}",
        campaign_id=1,
        contact_id=n,
        task_id=1,
        phone="555",
        originated_at=at,
        answered_at=at + timedelta(seconds=answer) if answer is not None else None,
        connected_at=at + timedelta(seconds=connect) if connect is not None else None,
        hungup_at=at + timedelta(seconds=end),
        result=result,
    )


def test_history_teaches_answer_rate_ring_and_talk_times() -> None:
    history = [
        attempt(i, CallResult.CONNECTED, answer=6.0, connect=7.0, end=127.0) for i in range(20)
    ] + [attempt(100 + i, CallResult.NO_ANSWER, end=25.0) for i in range(60)]
    est = OnlineEstimates()
    assert seed_estimates(est, history) == 80
    e = est.estimates()
    assert e.samples == 80 and e.answered_samples == 20
    assert 0.2 < e.answer_probability < 0.32  # 25 % seen, pulled a little to the prior
    assert abs(e.talk.mean - 120.0) < 25.0
    assert abs(e.answer_delay.mean - 6.0) < 3.0


def test_attempts_without_a_usable_timeline_are_skipped() -> None:
    lost = attempt(1, CallResult.FAILED_UNKNOWN)
    never = Attempt(id="x", campaign_id=1, contact_id=2, task_id=1, phone="5")
    est = OnlineEstimates()
    assert seed_estimates(est, [lost, never]) == 0
    assert est.estimates().samples == 0


def test_machines_lower_the_live_share() -> None:
    est = OnlineEstimates()
    seed_estimates(est, [attempt(i, CallResult.MACHINE, answer=3.0) for i in range(40)])
    assert est.estimates().live_share < 0.5
