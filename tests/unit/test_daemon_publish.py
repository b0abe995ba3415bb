"""Engine events become MQTT payloads with the vocabulary's names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from dialerd.bus import Disposition, MqttBus
from dialerd.daemon.publish import BusPublisher, disposition_handler
from dialerd.domain.enums import AgentState, Status
from dialerd.engine import AgentStateChanged, DispositionState, DispositionTaken

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


class AgentStates:
    """Stands in for the bus: keeps what would go to ``<prefix>/agent/<agent>/state``."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def publish_agent_state(self, agent: str, event: Mapping[str, Any]) -> bool:
        self.sent.append((agent, dict(event)))
        return True


def test_an_agent_whose_state_is_not_known_is_published_with_unknown_since() -> None:
    """During an AMI outage the retained agent state keeps the state last seen (a state of
    the vocabulary) and says since when it is not known; once current, ``unknown_since`` is
    null again."""
    bus = AgentStates()
    publish = BusPublisher(cast(MqttBus, bus))
    lost = T0 + timedelta(minutes=3)
    talking = AgentState.TALKING
    publish(AgentStateChanged("anna", "PJSIP/anna", talking, talking, T0, "pbx1", ("spring",)))
    publish(
        AgentStateChanged("anna", "PJSIP/anna", talking, talking, T0, "pbx1", ("spring",), "", lost)
    )
    (_, current), (agent, stale) = bus.sent
    assert current["unknown_since"] is None
    assert agent == "anna"
    assert stale == {
        "agent": "anna",
        "state": AgentState.TALKING,
        "previous": AgentState.TALKING,
        "since": T0,
        "server": "pbx1",
        "campaigns": ["spring"],
        "paused_reason": "",
        "unknown_since": lost,
    }
    assert "last_state" not in stale


async def test_an_mqtt_disposition_does_not_wait_for_the_database() -> None:
    """The bus reads its messages one after another: the handler asks the engine not to wait
    for the write (a slow or absent database would hold every disposition behind this one)."""
    asked: list[dict[str, Any]] = []

    class Engine:
        async def disposition(self, *args: Any, **kw: Any) -> DispositionTaken:
            asked.append(kw)
            return DispositionTaken("att-1", DispositionState.QUEUED)

    handle = disposition_handler(cast(Any, Engine()))
    await handle(Disposition(agent="anna", status=Status.SUCCESS, status_detail="sale"))
    assert asked == [{"wait": False}]
