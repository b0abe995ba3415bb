"""The MQTT bus against the real Mosquitto (DIALERD_TEST_MQTT), through TCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import pytest
import structlog

from dialerd.bus import BusSettings, Disposition, MqttBus
from dialerd.daemon.metrics import Metrics
from dialerd.domain.enums import Status
from dialerd.engine import NoSuchCall

pytestmark = pytest.mark.mqtt


class BrokerProxy:
    """``down``: accepts and hangs up at once (a broker that is not there); ``up``: forwards.

    ``restart()`` cuts every forwarded connection, as a broker restart does; ``pause()`` stops
    forwarding the client's bytes (the broker never acknowledges), ``resume()`` lets them through.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = False
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def restart(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._flowing.set()
        self.restart()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            if not self.up:
                writer.transport.abort()
                return
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers |= {writer, up_writer}
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._pipe(reader, up_writer, gated=True))
                    tg.create_task(self._pipe(up_reader, writer, gated=False))
            except* (OSError, ConnectionError):
                pass
            finally:
                self._writers -= {writer, up_writer}
                up_writer.transport.abort()
                writer.transport.abort()
        finally:
            self._handlers.discard(task)

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, gated: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if gated:
                    await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            # Aborting this side's transport also ends the reader of the other pipe.
            writer.transport.abort()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def broker(mqtt_url: str) -> tuple[str, int]:
    parts = urlsplit(mqtt_url)
    return parts.hostname or "127.0.0.1", parts.port or 1883


def settings(host: str, port: int, prefix: str, **kw: Any) -> BusSettings:
    base: dict[str, Any] = dict(
        host=host,
        port=port,
        client_id=f"dialerd-test-{uuid.uuid4().hex[:8]}",
        topic_prefix=prefix,
        backoff_min=0.05,
        backoff_max=0.2,
        connect_timeout=2.0,
        persistent_session=False,
    )
    return BusSettings(**(base | kw))


@contextlib.asynccontextmanager
async def running(bus: MqttBus) -> AsyncIterator[None]:
    task = asyncio.create_task(bus.run(), name="bus")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)


@contextlib.asynccontextmanager
async def observer(host: str, port: int, topic: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(host, port, identifier=f"obs-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic, qos=1)
        yield client


async def until(predicate: Callable[[], bool], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in time")


async def next_messages(client: aiomqtt.Client, n: int, within: float = 5) -> list[Any]:
    out = []
    async with asyncio.timeout(within):
        async for message in client.messages:
            out.append(message)
            if len(out) == n:
                break
    return out


@pytest.fixture
async def prefix(mqtt_url: str) -> AsyncIterator[str]:
    """A topic prefix of this test's own; its retained messages are cleared afterwards."""
    name = f"dialerd-test/{uuid.uuid4().hex[:10]}"
    yield name
    host, port = broker(mqtt_url)
    async with aiomqtt.Client(host, port) as cleaner:
        await cleaner.subscribe(f"{name}/#")
        retained = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                async for message in cleaner.messages:
                    if message.retain and message.payload:
                        retained.append(message.topic.value)
        for topic in retained:
            await cleaner.publish(topic, b"", qos=1, retain=True)


async def test_events_go_out_under_the_prefix(mqtt_url: str, prefix: str) -> None:
    host, port = broker(mqtt_url)
    metrics = Metrics()
    bus = MqttBus(settings(host, port, prefix), metrics=metrics)
    async with observer(host, port, f"{prefix}/#") as obs, running(bus):
        async with asyncio.timeout(5):
            await bus.wait_connected()
        assert bus.publish_call("spring", {"attempt": 7, "event": "answered", "ring_seconds": 3.2})
        assert bus.publish_agent_state("agent-1", {"state": "talking"})
        assert bus.publish_screenpop("agent-1", {"contact": {"name": "Ada", "phone": "+49301"}})
        assert bus.publish_campaign_status("spring", {"status": "enabled"})
        assert bus.publish_pacing("spring", {"decision": 4, "mode": "predictive"})
        assert not bus.publish_call("spring", {("bad", "key"): 1})  # dropped, not raised
        messages = await next_messages(obs, 6)  # + the daemon's own online status
    by_topic = {m.topic.value: json.loads(m.payload) for m in messages if m.payload != b"online"}
    assert by_topic[f"{prefix}/campaign/spring/call"]["attempt"] == 7
    assert by_topic[f"{prefix}/campaign/spring/call"]["type"] == "call"
    assert "ts" in by_topic[f"{prefix}/campaign/spring/call"]
    assert by_topic[f"{prefix}/agent/agent-1/state"]["state"] == "talking"
    assert by_topic[f"{prefix}/agent/agent-1/screenpop"]["contact"]["name"] == "Ada"
    assert by_topic[f"{prefix}/campaign/spring/status"]["status"] == "enabled"
    assert by_topic[f"{prefix}/campaign/spring/pacing"]["decision"] == 4
    assert bus.stats.published == 5 and bus.stats.dropped == {"unencodable": 1}
    assert b"dialerd_mqtt_events_published_total 5.0" in metrics.render()
    # Stopped cleanly: the retained daemon status says so (no stale "online").
    status_topic = bus.topics.daemon_status(bus.settings.client_id)
    try:
        async with observer(host, port, status_topic) as obs:
            (status,) = await next_messages(obs, 1)
        assert status.payload == b"offline" and status.retain
    finally:
        async with aiomqtt.Client(host, port) as cleaner:
            await cleaner.publish(status_topic, b"", qos=1, retain=True)


async def test_dispositions_in_bad_ones_counted_never_fatal(mqtt_url: str, prefix: str) -> None:
    host, port = broker(mqtt_url)
    received: list[Disposition] = []
    got = asyncio.Event()

    async def handler(disposition: Disposition) -> None:
        if disposition.note == "boom":
            raise RuntimeError("engine bug")
        received.append(disposition)
        got.set()

    metrics = Metrics()
    bus = MqttBus(settings(host, port, prefix), handler, metrics=metrics)
    topic = f"{prefix}/agent/agent-1/disposition"
    bad: list[bytes] = [
        b"not json",
        b"[1, 2]",
        json.dumps({"attempt": 5, "status": "won"}).encode(),
        json.dumps({"attempt": 5, "status": "failed", "status_detail": "$abandoned"}).encode(),
        json.dumps({"attempt": 5, "status": "success", "agent": "agent-2"}).encode(),
        json.dumps(
            {"attempt": 5, "status": "open", "status_detail": "$follow_up_personal"}
        ).encode(),
        json.dumps({"attempt": 5, "status": "success", "colour": "red"}).encode(),
    ]
    async with running(bus), aiomqtt.Client(host, port) as agent_desk:
        async with asyncio.timeout(5):
            await bus.wait_connected()
        for payload in bad:
            await agent_desk.publish(topic, payload, qos=1)
        await agent_desk.publish(
            topic, json.dumps({"attempt": 5, "status": "success", "note": "boom"}), qos=1
        )
        good = {
            "attempt": 5,
            "status": "open",
            "status_detail": "$follow_up_personal",
            "callback_at": "2026-11-24T10:00:00+01:00",
            "note": "call back tomorrow",
        }
        await agent_desk.publish(topic, json.dumps(good), qos=1)
        async with asyncio.timeout(5):
            await got.wait()
    (disposition,) = received
    assert disposition.agent == "agent-1" and disposition.attempt == "5"
    assert disposition.status is Status.OPEN and disposition.callback_at is not None
    assert bus.stats.dispositions_rejected == len(bad)
    assert bus.stats.dispositions_failed == 1
    text = metrics.render()
    assert f'dialerd_mqtt_dispositions_total{{outcome="rejected"}} {len(bad)}.0'.encode() in text
    assert b'dialerd_mqtt_dispositions_total{outcome="accepted"} 1.0' in text


async def test_a_disposition_the_engine_refuses_is_one_warning_not_a_traceback(
    mqtt_url: str, prefix: str
) -> None:
    """Over HTTP the same mistake is a clean 409: over MQTT it is one warning line naming the
    agent and the reason. A real bug in the handler still logs its traceback."""
    host, port = broker(mqtt_url)
    handled: list[str | None] = []

    async def handler(disposition: Disposition) -> None:
        handled.append(disposition.note)
        if disposition.note == "bug":
            raise KeyError("engine bug")
        raise NoSuchCall("agent 'dora' has no call waiting for a disposition")

    metrics = Metrics()
    bus = MqttBus(settings(host, port, prefix), handler, metrics=metrics)
    with structlog.testing.capture_logs() as logs:
        async with running(bus), aiomqtt.Client(host, port) as desk:
            async with asyncio.timeout(5):
                await bus.wait_connected()
            for note in ("no call", "bug"):
                await desk.publish(
                    f"{prefix}/agent/dora/disposition",
                    json.dumps({"status": "success", "status_detail": "sale", "note": note}),
                    qos=1,
                )
            await until(
                lambda: bus.stats.dispositions_failed + bus.stats.dispositions_rejected == 2
            )
    refused = [e for e in logs if e["event"] == "mqtt disposition refused"]
    assert refused == [
        {
            "event": "mqtt disposition refused",
            "log_level": "warning",
            "agent": "dora",
            "attempt": None,
            "reason": "agent 'dora' has no call waiting for a disposition",
            "error": "NoSuchCall",
        }
    ]
    (failed,) = [e for e in logs if e["event"] == "mqtt disposition handler failed"]
    assert failed["log_level"] == "error" and failed["exc_info"] is True
    assert bus.stats.dispositions_rejected == 1 and bus.stats.dispositions_failed == 1
    text = metrics.render()
    assert b'dialerd_mqtt_dispositions_total{outcome="rejected"} 1.0' in text
    assert b'dialerd_mqtt_dispositions_total{outcome="failed"} 1.0' in text


async def test_retained_dispositions_are_refused(mqtt_url: str, prefix: str) -> None:
    host, port = broker(mqtt_url)
    received: list[Disposition] = []

    async def handler(disposition: Disposition) -> None:
        received.append(disposition)

    topic = f"{prefix}/agent/agent-1/disposition"
    payload = json.dumps({"attempt": 9, "status": "success"})
    async with aiomqtt.Client(host, port) as desk:
        await desk.publish(topic, payload, qos=1, retain=True)
    bus = MqttBus(settings(host, port, prefix), handler)
    try:
        async with running(bus):
            await until(lambda: bus.stats.dispositions_rejected > 0)
    finally:
        async with aiomqtt.Client(host, port) as desk:
            await desk.publish(topic, b"", qos=1, retain=True)  # clear the retained message
    assert received == []


async def test_closed_port_drops_and_never_blocks(unused_port: int) -> None:
    metrics = Metrics()
    bus = MqttBus(settings("127.0.0.1", unused_port, "dialerd-test"), metrics=metrics)
    async with running(bus):
        await asyncio.sleep(0.3)  # several connection attempts with 0.05-0.2 s backoff
        results = [bus.publish_call("spring", {"n": i}) for i in range(100)]
        assert not bus.connected
    assert results == [False] * 100
    assert bus.stats.dropped == {"disconnected": 100}
    assert b'dialerd_mqtt_events_dropped_total{reason="disconnected"} 100.0' in metrics.render()


async def test_broker_away_then_back_then_restarted(mqtt_url: str, prefix: str) -> None:
    host, port = broker(mqtt_url)
    proxy = BrokerProxy(host, port)
    await proxy.start()
    metrics = Metrics()
    bus = MqttBus(settings("127.0.0.1", proxy.port, prefix), metrics=metrics)
    try:
        async with observer(host, port, f"{prefix}/campaign/#") as obs, running(bus):
            await asyncio.sleep(0.2)
            assert not bus.publish_call("spring", {"n": 1})  # broker away: dropped, counted

            proxy.up = True
            async with asyncio.timeout(5):
                await bus.wait_connected()
            assert bus.publish_call("spring", {"n": 2})
            (first,) = await next_messages(obs, 1)
            assert json.loads(first.payload)["n"] == 2

            proxy.restart()  # every connection cut, as a broker restart does
            await until(lambda: bus.stats.connects == 2 and bus.connected)
            assert bus.publish_call("spring", {"n": 3})
            (second,) = await next_messages(obs, 1)
            assert json.loads(second.payload)["n"] == 3
    finally:
        await proxy.close()
    assert bus.stats.connects == 2
    assert bus.stats.dropped.get("disconnected", 0) >= 1
    text = metrics.render()
    assert b"dialerd_mqtt_reconnects_total 1.0" in text
    assert b"dialerd_mqtt_connected 0.0" in text  # after run() ended


async def test_full_queue_drops_instead_of_blocking(mqtt_url: str, prefix: str) -> None:
    host, port = broker(mqtt_url)
    proxy = BrokerProxy(host, port)
    proxy.up = True
    await proxy.start()
    bus = MqttBus(settings("127.0.0.1", proxy.port, prefix, queue_size=3))
    try:
        async with running(bus):
            async with asyncio.timeout(5):
                await bus.wait_connected()
            proxy.pause()  # the broker stops acknowledging: QoS 1 screen pops pile up
            loop = asyncio.get_running_loop()
            started = loop.time()
            results = []
            for i in range(20):
                results.append(bus.publish_screenpop("agent-1", {"n": i}))
                await asyncio.sleep(0)
            assert loop.time() - started < 0.5
            proxy.resume()
    finally:
        await proxy.close()
    assert results.count(True) <= 4  # one in flight + three queued
    assert bus.stats.dropped.get("queue_full", 0) >= 16


async def test_a_disposition_names_its_attempt_attempt_id_as_over_http(
    mqtt_url: str, prefix: str
) -> None:
    """``attempt_id`` (the HTTP name) and ``attempt`` (the old MQTT name) both reach the engine."""
    host, port = broker(mqtt_url)
    received: list[Disposition] = []

    async def handler(disposition: Disposition) -> None:
        received.append(disposition)

    bus = MqttBus(settings(host, port, prefix), handler)
    topic = f"{prefix}/agent/agent-1/disposition"
    async with running(bus), aiomqtt.Client(host, port) as desk:
        async with asyncio.timeout(5):
            await bus.wait_connected()
        for key in ("attempt_id", "attempt"):
            await desk.publish(topic, json.dumps({key: "att-4", "status": "success"}), qos=1)
        await until(lambda: len(received) == 2)
    assert [d.attempt_id for d in received] == ["att-4", "att-4"]
    assert bus.stats.dispositions_rejected == 0


async def test_a_stop_that_meets_a_failing_connection_still_stops_the_bus(
    unused_port: int,
) -> None:
    """The daemon's stop cancels the bus; a connection that fails at that moment (the child
    task ends with an MQTT error while being cancelled) made the session's TaskGroup raise the
    error instead of the cancellation, which was then spent: the bus reconnected and the
    daemon never finished stopping (a full run: 300 s pytest timeout after "engine stopped")."""
    bus = MqttBus(settings("127.0.0.1", unused_port, "dialerd-test"))
    sessions = 0
    give_up = False

    async def session() -> None:
        nonlocal sessions
        sessions += 1
        if give_up:  # the bus went on: let it end, so the test fails instead of hanging
            raise asyncio.CancelledError

        async def link() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                raise aiomqtt.MqttError("connection lost") from None

        async with asyncio.TaskGroup() as tg:
            tg.create_task(link())

    bus._session = session  # type: ignore[method-assign]
    task = asyncio.create_task(bus.run())
    await until(lambda: sessions == 1)
    bus.close()  # as the daemon stops it
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2.0)
    if not done:
        give_up = True
        await asyncio.wait({task}, timeout=5.0)
    assert done and task.cancelled(), "the bus went on after it was cancelled"
    assert sessions == 1


async def test_a_held_event_waits_for_the_broker_instead_of_being_dropped(
    mqtt_url: str, prefix: str
) -> None:
    """The finished event of a call a start's journal replay wrote is published while the
    broker may not be connected yet: dropped as stale progress is, no consumer saw the call.
    Held, it goes out at the connect (the list bounded by ``queue_size``, oldest dropped)."""
    host, port = broker(mqtt_url)
    proxy = BrokerProxy(host, port)
    await proxy.start()
    bus = MqttBus(settings("127.0.0.1", proxy.port, prefix, queue_size=2))
    try:
        async with observer(host, port, f"{prefix}/campaign/#") as obs, running(bus):
            await asyncio.sleep(0.2)
            assert not bus.connected
            assert not bus.publish_call("spring", {"n": 1})  # progress: dropped
            for n in (2, 3, 4):
                assert bus.publish_call("spring", {"n": n, "replayed": True}, hold=True)
            proxy.up = True
            messages = await next_messages(obs, 2)
    finally:
        await proxy.close()
    assert [json.loads(m.payload)["n"] for m in messages] == [3, 4]
    assert bus.stats.dropped == {"disconnected": 1, "queue_full": 1}
