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


def test_ids_are_attempt_id_and_contact_id_as_in_the_api_with_the_old_keys_kept() -> None:
    """MQTT call events said ``attempt``/``contact`` where the REST API says
    ``attempt_id``/``contact_id``; both are sent now (the old ones deprecated), the same value."""
    from unittest.mock import MagicMock

    from dialerd.domain.enums import Status
    from dialerd.domain.model import Contact
    from dialerd.engine import CallProgressed, PreviewOffered, ScreenPop

    bus = MagicMock()
    publish = BusPublisher(cast(MqttBus, bus))
    contact = Contact(id=42, campaign_id=1, task_id=1, status=Status.OPEN, status_detail="$none")
    publish(CallProgressed("spring", "att-7", 42, "ringing", T0, "pbx1"))
    (_, call), _ = bus.publish_call.call_args
    assert (call["attempt_id"], call["contact_id"]) == ("att-7", 42)
    assert (call["attempt"], call["contact"]) == ("att-7", 42)
    publish(ScreenPop("spring", "anna", "PJSIP/anna", "att-7", contact))
    (_, pop), _ = bus.publish_screenpop.call_args
    assert (pop["attempt_id"], pop["attempt"], pop["contact_id"]) == ("att-7", "att-7", 42)
    assert pop["contact"]["id"] == 42  # the contact itself, as before
    publish(PreviewOffered("spring", "anna", contact))
    (_, _, preview), _ = bus.publish.call_args
    assert preview["contact_id"] == 42 and preview["contact"]["id"] == 42


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
