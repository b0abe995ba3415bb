"""The engine facade refuses work clearly when it cannot do it (what the API turns into 503)."""

from __future__ import annotations

from typing import cast

import pytest
import structlog

from dialerd.ami import AsteriskServer
from dialerd.domain.clock import ManualClock
from dialerd.engine import Engine, EngineNotRunning, EngineSettings
from dialerd.engine.outage import StoreOutage
from dialerd.engine.runner import CampaignRunner
from dialerd.store import Store


def idle_engine() -> Engine:
    return Engine(
        cast(Store, object()),
        {"sim1": cast(AsteriskServer, object())},
        ManualClock(),
        EngineSettings(holder="unit"),
    )


async def test_requests_to_an_engine_that_is_not_running_are_refused() -> None:
    engine = idle_engine()
    with pytest.raises(EngineNotRunning):
        await engine.agent_login("a0")
    with pytest.raises(EngineNotRunning):
        await engine.disposition("a0", "success", "sale")
    with pytest.raises(EngineNotRunning):
        await engine.preview_accept("a0", 1)
    assert not engine.running
    await engine.stop(5)  # nothing to stop: returns at once


def test_an_engine_needs_a_server() -> None:
    with pytest.raises(ValueError, match="at least one Asterisk server"):
        Engine(cast(Store, object()), {}, ManualClock())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tick_seconds": 0}, "tick_seconds"),
        ({"lease_ttl": 1}, "lease_ttl"),
        ({"dial_template": "PJSIP/trunk"}, "dial_template"),
        ({"restart_backoff_min": 5, "restart_backoff_max": 1}, "backoff"),
    ],
)
def test_settings_refuse_values_that_cannot_work(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EngineSettings(holder="unit", **kwargs)  # type: ignore[arg-type]


class _SleepRecordingClock(ManualClock):
    """Sleeping moves the clock on at once and notes how long."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


class _CrashingRunner:
    """Runs ``lengths[i]`` seconds, then crashes; returns when they are used up."""

    def __init__(self, clock: ManualClock, lengths: list[float]) -> None:
        self.clock = clock
        self.lengths = list(lengths)
        self.name = "camp"
        self.restarts = 0
        self.state = "starting"
        self.last_error: str | None = None
        self.stop_deadline: float | None = None
        self.outage = StoreOutage(structlog.get_logger(), "test")

    async def run(self) -> None:
        if not self.lengths:
            return
        self.clock.advance(self.lengths.pop(0))
        raise RuntimeError("boom")


async def test_the_restart_backoff_starts_over_after_the_runner_ran_fine_for_a_while() -> None:
    clock = _SleepRecordingClock()
    engine = Engine(
        cast(Store, object()),
        {"sim1": cast(AsteriskServer, object())},
        clock,
        EngineSettings(holder="unit", restart_backoff_min=1, restart_backoff_max=60),
    )
    # three crashes in a row, then ten minutes of dialing, then two more crashes
    runner = _CrashingRunner(clock, [0, 0, 0, 600, 1])
    await engine._keep_running(cast(CampaignRunner, runner))
    assert clock.sleeps == [1, 2, 4, 1, 2]
    assert runner.restarts == 5
