"""The engine facade refuses work clearly when it cannot do it (what the API turns into 503)."""

from __future__ import annotations

from typing import cast

import pytest

from dialerd.ami import AsteriskServer
from dialerd.domain.clock import ManualClock
from dialerd.engine import Engine, EngineNotRunning, EngineSettings
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
