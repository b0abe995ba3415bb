"""app_queue member choice and the timer heap, without sockets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from dialerd.domain.clock import ManualClock
from dialerd.sim.queue import Member, Queue
from dialerd.sim.scheduler import Scheduler


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


@dataclass
class Caller:
    ringing: bool = False


def queue_with(*names: str, penalties: dict[str, int] | None = None) -> Queue:
    q = Queue("dialer-q1")
    for n in names:
        q.members[n] = Member(n, n, n, penalty=(penalties or {}).get(n, 0))
    return q


def test_rrmemory_rotates_through_members() -> None:
    q = queue_with("a", "b", "c")
    rung = []
    for _ in range(5):
        m = q.choose(0.0)
        assert m is not None
        rung.append(m.interface)
    assert rung == ["a", "b", "c", "a", "b"]


def test_lower_penalty_always_wins() -> None:
    q = queue_with("rna", "agent", penalties={"agent": 1})
    assert [q.choose(0.0).interface for _ in range(3)] == ["rna", "rna", "rna"]  # type: ignore[union-attr]


def test_removing_a_member_before_the_rrmemory_position_keeps_the_next_one_next() -> None:
    """Checked on Asterisk 22.10.1: after one call to a lone member (04), that member's removal
    and two new members (11), the first new member rings first."""
    q = queue_with("agent-1")
    assert q.choose(0.0).interface == "agent-1"  # type: ignore[union-attr]
    assert q.remove("agent-1") is not None
    q.members["rna-agent-1"] = Member("rna-agent-1", "rna-agent-1", "rna-agent-1")
    q.members["agent-2"] = Member("agent-2", "agent-2", "agent-2")
    assert q.choose(0.0).interface == "rna-agent-1"  # type: ignore[union-attr]


def test_removing_a_member_after_the_rrmemory_position_leaves_it() -> None:
    q = queue_with("a", "b", "c", "d")
    assert q.choose(0.0).interface == "a"  # type: ignore[union-attr]
    assert q.remove("c") is not None
    assert q.remove("x") is None
    assert [q.choose(0.0).interface for _ in range(3)] == ["b", "d", "a"]  # type: ignore[union-attr]


def test_paused_busy_and_wrapping_up_members_are_not_rung() -> None:
    q = queue_with("a", "b", "c", "d")
    q.members["a"].paused = True
    q.members["b"].busy = True
    q.members["c"].wrapup_until = 10.0
    assert q.choose(5.0).interface == "d"  # type: ignore[union-attr]
    q.members["d"].busy = True
    assert q.choose(5.0) is None
    assert q.choose(10.0).interface == "c"  # type: ignore[union-attr]


def test_autofill_turn_counts_idle_callers_ahead() -> None:
    q = queue_with("a")
    first, second = Caller(), Caller()
    q.callers = [first, second]
    assert q.is_our_turn(first, 0.0)
    assert not q.is_our_turn(second, 0.0)
    first.ringing = True  # the one ahead already rings someone: the next may go
    assert q.is_our_turn(second, 0.0)
    q.members["b"] = Member("b", "b", "b")
    first.ringing = False
    assert q.is_our_turn(second, 0.0)


async def test_scheduler_fires_in_time_order_and_skips_cancelled() -> None:
    clock = ManualClock()
    sched = Scheduler(clock)
    fired: list[str] = []
    sched.call_later(2.0, lambda: fired.append("b"))
    sched.call_later(1.0, lambda: fired.append("a"))
    sched.call_later(1.5, lambda: fired.append("x")).cancel()
    sched.call_later(3.0, lambda: fired.append("c"))
    task = asyncio.create_task(sched.run())
    try:
        clock.advance(1.0)  # even before the scheduler task first ran
        await settle()
        assert fired == ["a"]
        clock.advance(2.5)
        await settle()
        assert fired == ["a", "b", "c"]
        assert sched.lag.fired == 3
        assert sched.lag.max == pytest.approx(1.5)  # "b" was due at 2.0, run at 3.5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_timer_added_while_sleeping_wakes_the_scheduler_early() -> None:
    clock = ManualClock()
    sched = Scheduler(clock)
    fired: list[str] = []
    sched.call_later(10.0, lambda: fired.append("late"))
    task = asyncio.create_task(sched.run())
    try:
        await asyncio.sleep(0)
        sched.call_later(1.0, lambda: fired.append("early"))
        clock.advance(1.0)  # even before the scheduler task first ran
        await settle()
        assert fired == ["early"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_timers_scheduled_from_a_late_callback_keep_simulated_time_exact() -> None:
    clock = ManualClock()
    sched = Scheduler(clock)
    seen: list[float] = []

    def first() -> None:
        seen.append(sched.now())
        sched.call_later(1.0, lambda: seen.append(sched.now()))

    sched.call_later(1.0, first)
    clock.advance(1.7)  # the loop was late by 0.7 s
    sched.run_due()
    clock.advance(0.4)
    sched.run_due()
    assert seen == [pytest.approx(1.0), pytest.approx(2.0)]
