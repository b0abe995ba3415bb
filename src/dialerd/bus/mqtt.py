"""The daemon's MQTT connection: events out, dispositions in.

Dialing must never wait for MQTT. ``publish_*`` are synchronous and only enqueue into a bounded
queue; while the broker is away (or the queue is full) the event is dropped and counted, and the
caller carries on. ``run()`` owns the connection: it connects, subscribes to the disposition
topic with QoS 1, pumps the queue out, and after any loss reconnects with capped, jittered
exponential backoff. Events queued when the link drops are counted as dropped rather than sent
late: call progress minutes old would mislead a wallboard. The exception is an event published
with ``hold`` (the finished event of a call whose outcome a start wrote from the outage
journal, marked ``replayed``: it is late by nature and says so): it waits, in a bounded list,
for the next connection.

A persistent session (fixed client id, ``clean_session=False``) lets the broker hold QoS 1
dispositions sent while the daemon was reconnecting. Retained dispositions are refused: one
would be replayed at every start and apply a result twice. A disposition the engine refuses
(no call waiting for one, unknown agent, reserved detail: an ``EngineError``, what HTTP answers
with 404/409/422/503) is logged as one warning naming the agent and the reason and counted as
rejected; any other error in the handler is a bug, logged with its traceback as failed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiomqtt
import structlog
from pydantic import ValidationError

from dialerd.bus.messages import Disposition, encode_event
from dialerd.bus.topics import Topics
from dialerd.domain.clock import Clock, SystemClock
from dialerd.engine.errors import EngineError

log = structlog.get_logger(__name__)

DispositionHandler = Callable[[Disposition], Awaitable[None]]

DROP_DISCONNECTED = "disconnected"
DROP_QUEUE_FULL = "queue_full"
DROP_UNENCODABLE = "unencodable"


class BusMetrics(Protocol):
    """What the bus reports; ``dialerd.daemon.metrics.Metrics`` implements it."""

    def mqtt_connection(self, connected: bool, reconnect: bool) -> None: ...
    def mqtt_published(self) -> None: ...
    def mqtt_dropped(self, reason: str, count: int = 1) -> None: ...
    def mqtt_disposition(self, outcome: str) -> None: ...


@dataclass(frozen=True, slots=True)
class BusSettings:
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    client_id: str = "dialerd"
    topic_prefix: str = "dialerd"
    keepalive: int = 30
    queue_size: int = 10_000
    backoff_min: float = 0.5
    backoff_max: float = 30.0
    connect_timeout: float = 10.0
    persistent_session: bool = True


@dataclass(slots=True)
class BusStats:
    """Plain counts for status lines and tests (the metrics carry the same)."""

    connects: int = 0
    published: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    dispositions_accepted: int = 0
    dispositions_rejected: int = 0
    dispositions_failed: int = 0

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


@dataclass(frozen=True, slots=True)
class _Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttBus:
    def __init__(
        self,
        settings: BusSettings,
        on_disposition: DispositionHandler | None = None,
        *,
        metrics: BusMetrics | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.topics = Topics(settings.topic_prefix)
        self.stats = BusStats()
        self._on_disposition = on_disposition
        self._metrics = metrics
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._queue: asyncio.Queue[_Outgoing] = asyncio.Queue(maxsize=settings.queue_size)
        self._held: collections.deque[_Outgoing] = collections.deque()
        """Events published with ``hold`` while the broker was away, sent at the next connect."""
        self._connected = asyncio.Event()
        self._closing = False

    # --------------------------------------------------------------- publishing

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    def publish(
        self,
        topic: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        qos: int = 0,
        retain: bool = False,
        hold: bool = False,
    ) -> bool:
        """Queue one event; False (and counted as dropped) if it cannot be sent now.

        ``hold``: while the broker is away the event waits for the next connection (up to
        ``queue_size`` such events; beyond, the oldest is dropped as ``queue_full``)."""
        if not self._connected.is_set() and not hold:
            self._drop(DROP_DISCONNECTED)
            return False
        try:
            body = encode_event(kind, payload, self._clock.now())
        except (TypeError, ValueError) as exc:  # e.g. non-string keys: a caller's bug
            log.error("mqtt event cannot be encoded", topic=topic, error=str(exc))
            self._drop(DROP_UNENCODABLE)
            return False
        item = _Outgoing(topic, body, qos, retain)
        if not self._connected.is_set():
            if len(self._held) >= self.settings.queue_size:
                self._held.popleft()
                self._drop(DROP_QUEUE_FULL)
            self._held.append(item)
            return True
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(DROP_QUEUE_FULL)
            return False
        return True

    def publish_call(self, campaign: str, event: Mapping[str, Any], *, hold: bool = False) -> bool:
        """Call progress (originated, ringing, answered, connected, hung up) of one attempt."""
        return self.publish(self.topics.campaign_call(campaign), "call", event, hold=hold)

    def publish_agent_state(self, agent: str, event: Mapping[str, Any]) -> bool:
        """Retained, so a desktop that (re)connects sees its agent's state at once."""
        return self.publish(
            self.topics.agent_state(agent), "agent_state", event, qos=1, retain=True
        )

    def publish_screenpop(self, agent: str, event: Mapping[str, Any]) -> bool:
        """The contact (fields, history) of a call just connected to ``agent``."""
        return self.publish(self.topics.agent_screenpop(agent), "screenpop", event, qos=1)

    def publish_campaign_status(self, campaign: str, event: Mapping[str, Any]) -> bool:
        return self.publish(
            self.topics.campaign_status(campaign), "campaign_status", event, qos=1, retain=True
        )

    def publish_pacing(self, campaign: str, event: Mapping[str, Any]) -> bool:
        return self.publish(self.topics.campaign_pacing(campaign), "pacing", event)

    def _drop(self, reason: str, count: int = 1) -> None:
        if count <= 0:
            return
        self.stats.dropped[reason] = self.stats.dropped.get(reason, 0) + count
        if self._metrics is not None:
            self._metrics.mqtt_dropped(reason, count)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Keep the broker connection up until cancelled (owned by the caller's TaskGroup)."""
        s = self.settings
        backoff = s.backoff_min
        while True:
            connects = self.stats.connects
            try:
                await self._session()
            except* (aiomqtt.MqttError, OSError) as group:
                log.warning(
                    "mqtt broker unavailable",
                    host=s.host,
                    port=s.port,
                    error="; ".join(str(e) for e in group.exceptions),
                )
            finally:
                self._disconnected()
            if self._closing:
                # Cancelled to stop while the session failed: its TaskGroup raised the
                # failure, not the CancelledError, so the cancellation was spent; looping on
                # would reconnect and hold the daemon's shutdown for good.
                raise asyncio.CancelledError
            if self.stats.connects > connects:
                backoff = s.backoff_min  # it worked for a while: start over
            await self._clock.sleep(backoff * self._rng.uniform(0.5, 1.0))
            backoff = min(backoff * 2, s.backoff_max)

    def close(self) -> None:
        """Stop :meth:`run`: it is cancelled next, and must not take a failure of the session
        it is cancelled in for a lost connection to reconnect."""
        self._closing = True

    def _client(self) -> aiomqtt.Client:
        s = self.settings
        status = self.topics.daemon_status(s.client_id)
        return aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=s.client_id,
            clean_session=not s.persistent_session,
            keepalive=s.keepalive,
            timeout=s.connect_timeout,
            tls_context=ssl.create_default_context() if s.tls else None,
            will=aiomqtt.Will(status, b"offline", qos=1, retain=True),
        )

    async def _session(self) -> None:
        async with self._client() as client:
            await client.subscribe(self.topics.dispositions, qos=1)
            status = self.topics.daemon_status(self.settings.client_id)
            await client.publish(status, b"online", qos=1, retain=True)
            reconnect = self.stats.connects > 0
            self.stats.connects += 1
            self._connected.set()
            while self._held:  # what waited for this connection goes first
                try:
                    self._queue.put_nowait(self._held[0])
                except asyncio.QueueFull:
                    break
                self._held.popleft()
            if self._metrics is not None:
                self._metrics.mqtt_connection(True, reconnect)
            log.info("mqtt connected", host=self.settings.host, port=self.settings.port)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._send(client), name="mqtt-send")
                    tg.create_task(self._receive(client), name="mqtt-receive")
            except asyncio.CancelledError:
                # A clean DISCONNECT suppresses the last will: say "offline" ourselves, briefly.
                with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await client.publish(status, b"offline", qos=1, retain=True)
                raise

    def _disconnected(self) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        stale = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            stale += 1
        self._drop(DROP_DISCONNECTED, stale)
        if was and self._metrics is not None:
            self._metrics.mqtt_connection(False, False)

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            item = await self._queue.get()
            try:
                await client.publish(item.topic, item.payload, qos=item.qos, retain=item.retain)
            except (aiomqtt.MqttError, asyncio.CancelledError):
                self._drop(DROP_DISCONNECTED)  # in flight when the link went
                raise
            self.stats.published += 1
            if self._metrics is not None:
                self._metrics.mqtt_published()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # aiomqtt waits for a publish with asyncio.wait_for, which on Python 3.11
                # swallows a cancellation that comes as the publish completes: this loop then
                # waited on the queue for good and the daemon's stop hung with it.
                raise asyncio.CancelledError

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            await self._handle(message)
        # The iterator ends only when the client is done: treat it as a lost connection.
        raise aiomqtt.MqttError("message stream ended")

    # ------------------------------------------------------------- dispositions

    async def _handle(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        agent = self.topics.disposition_agent(topic)
        if agent is None:
            return
        disposition = self._parse(agent, message)
        if disposition is None:
            return
        if self._on_disposition is None:
            log.warning("mqtt disposition ignored: no handler", agent=agent)
            return
        try:
            await self._on_disposition(disposition)
        except EngineError as exc:
            # The engine refused it (no call waits for a disposition, unknown agent, reserved
            # detail, stopping): the sender's mistake, as HTTP answers with a 4xx/503. There is
            # no reply topic, so the log line is where the reason shows.
            self.stats.dispositions_rejected += 1
            self._count_disposition("rejected")
            log.warning(
                "mqtt disposition refused",
                agent=agent,
                attempt=disposition.attempt_id,
                reason=str(exc) or type(exc).__name__,
                error=type(exc).__name__,
            )
            return
        except Exception:
            self.stats.dispositions_failed += 1
            self._count_disposition("failed")
            log.exception(
                "mqtt disposition handler failed", agent=agent, attempt=disposition.attempt_id
            )
            return
        self.stats.dispositions_accepted += 1
        self._count_disposition("accepted")

    def _parse(self, agent: str, message: aiomqtt.Message) -> Disposition | None:
        reason: str
        if message.retain:
            reason = "retained dispositions are refused (they would be applied again)"
        else:
            raw = message.payload
            try:
                if isinstance(raw, bytes | bytearray | str):
                    data = json.loads(raw)
                else:
                    raise ValueError("payload is not a JSON object")
                if not isinstance(data, dict):
                    raise ValueError("payload is not a JSON object")
                claimed = data.pop("agent", agent)
                if claimed != agent:
                    raise ValueError(f"payload names agent {claimed!r}, topic names {agent!r}")
                return Disposition.model_validate({**data, "agent": agent})
            except ValidationError as exc:
                reason = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                    for e in exc.errors(include_url=False)
                )
            except (ValueError, UnicodeDecodeError) as exc:
                reason = str(exc)
        self.stats.dispositions_rejected += 1
        self._count_disposition("rejected")
        log.warning("mqtt disposition rejected", agent=agent, reason=reason)
        return None

    def _count_disposition(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.mqtt_disposition(outcome)
