"""Engine events -> MQTT topics, and MQTT dispositions -> the engine.

The bus's ``publish_*`` only enqueue (or drop and count), so this listener never makes the
engine wait for the broker. Payloads use the vocabulary's names (campaign, contact, attempt,
status, status_detail) so a desktop or wallboard reads the same words as the API.

Ids are ``attempt_id`` and ``contact_id``, as in the REST API. Call events carried them as
``attempt`` and ``contact`` first; those keys stay (deprecated) so existing desktops keep
working. In a screen pop ``contact`` is the contact itself, with ``contact_id`` beside it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import structlog

from dialerd.bus import Disposition, MqttBus
from dialerd.engine import (
    AgentStateChanged,
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    CampaignSwitched,
    Engine,
    EngineEvent,
    PreviewOffered,
    ScreenPop,
)

log = structlog.get_logger(__name__)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class BusPublisher:
    """``engine.add_listener(BusPublisher(bus))``.

    Campaign status and pacing figures come every tick; they are published at most once per
    ``figures_interval`` seconds of real time per campaign, so an accelerated clock (demo,
    benchmarks) or many campaigns cannot flood the broker and delay call events behind them.
    """

    def __init__(
        self,
        bus: MqttBus,
        figures_interval: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.figures_interval = figures_interval
        self._monotonic = monotonic
        self._figures_sent: dict[str, float] = {}

    def __call__(self, event: EngineEvent) -> None:
        bus = self.bus
        if isinstance(event, CallProgressed):
            bus.publish_call(
                event.campaign,
                {
                    "attempt_id": event.attempt_id,
                    "contact_id": event.contact_id,
                    "attempt": event.attempt_id,  # deprecated: attempt_id
                    "contact": event.contact_id,  # deprecated: contact_id
                    "phase": event.phase,
                    "at": event.at,
                    "server": event.server,
                    "agent": event.agent,
                },
            )
        elif isinstance(event, AttemptFinished):
            a = event.attempt
            # A call written by a start's replay of the outage journal ended in an earlier run:
            # "replayed" says so, and its event waits for the broker (this runs before the
            # link may be up) instead of being dropped as stale progress is.
            bus.publish_call(
                event.campaign,
                {
                    "attempt_id": a.id,
                    "contact_id": event.contact_id,
                    "attempt": a.id,  # deprecated: attempt_id
                    "contact": event.contact_id,  # deprecated: contact_id
                    "phase": "finished",
                    "result": event.result,
                    "status": event.status,
                    "status_detail": event.status_detail,
                    "task": event.task,
                    "agent": event.agent,
                    "originated_at": a.originated_at,
                    "answered_at": a.answered_at,
                    "connected_at": a.connected_at,
                    "hungup_at": a.hungup_at,
                    "cause": a.cause,
                    # the contact changed during the call (do-not-call list, edit by hand,
                    # deleted): it kept that change, and status is what it is now
                    "contact_changed": event.stale,
                    "replayed": event.replayed,
                },
                hold=event.replayed,
            )
        elif isinstance(event, AgentStateChanged):
            bus.publish_agent_state(
                event.agent,
                {
                    "agent": event.agent,
                    "state": event.state,
                    "previous": event.previous,
                    "since": event.at,
                    "server": event.server,
                    "campaigns": list(event.campaigns),
                    "paused_reason": event.paused_reason,
                    # set while the link to the agent's Asterisk is lost: state is the last
                    # seen, not what the agent does now (retained, a desktop must not read it
                    # as current)
                    "unknown_since": event.unknown_since,
                },
            )
        elif isinstance(event, ScreenPop):
            bus.publish_screenpop(
                event.agent,
                {
                    "campaign": event.campaign,
                    "agent": event.agent,
                    "attempt_id": event.attempt_id,
                    "attempt": event.attempt_id,  # deprecated: attempt_id
                    "contact_id": event.contact.id,
                    "contact": _plain(event.contact),
                    "history": [_plain(h) for h in event.history],
                    "attempts": [_plain(a) for a in event.attempts],
                    "connected_at": event.at,
                },
            )
        elif isinstance(event, PreviewOffered):
            bus.publish(
                bus.topics.agent_screenpop(event.agent),
                "preview",
                {
                    "campaign": event.campaign,
                    "agent": event.agent,
                    "contact_id": event.contact.id,
                    "contact": _plain(event.contact),
                    "history": [_plain(h) for h in event.history],
                    "auto_accept_at": event.auto_accept_at,
                },
                qos=1,
            )
        elif isinstance(event, CampaignFigures):
            now = self._monotonic()
            last = self._figures_sent.get(event.campaign)
            if last is not None and now - last < self.figures_interval:
                return
            self._figures_sent[event.campaign] = now
            bus.publish_campaign_status(
                event.campaign,
                {
                    "campaign": event.campaign,
                    "status": event.status,
                    "active": event.active,
                    "calls_in_flight": event.calls_in_flight,
                    "agents_by_state": event.agents_by_state,
                    "abandonment": [
                        {**dataclasses.asdict(w), "rate": w.rate} for w in event.abandonment
                    ],
                },
            )
            if event.decision is not None:
                bus.publish_pacing(event.campaign, dataclasses.asdict(event.decision))
        elif isinstance(event, CampaignSwitched):
            bus.publish_campaign_status(
                event.campaign,
                {
                    "campaign": event.campaign,
                    "active": event.active,
                    "reason": event.reason,
                    "at": event.at,
                },
            )


def disposition_handler(engine: Engine) -> Any:
    """The bus's ``on_disposition``: an agent's result, applied like one sent over HTTP.

    The bus validates the message; the engine finds the agent's call waiting for a
    disposition. Errors propagate to the bus: one the engine refuses (``EngineError``) is a
    rejected disposition logged as a warning, anything else a failed one with its traceback.
    The engine takes it in memory and this returns without waiting for its write: the bus
    reads its messages one after another, and a slow or absent database must not hold up
    the dispositions behind this one (a queued one is written when the database is back).
    """

    async def handle(d: Disposition) -> None:
        taken = await engine.disposition(
            d.agent, d.status, d.status_detail, d.note, d.callback_at, d.attempt_id, wait=False
        )
        log.info(
            "disposition over mqtt",
            agent=d.agent,
            attempt=taken.attempt_id,
            status=d.status.value,
            written=taken.state.value,
        )

    return handle
