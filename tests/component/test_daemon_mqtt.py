"""The daemon's MQTT wiring against the real Mosquitto: engine events go out on their topics,
and a disposition sent by an agent desktop completes the agent's call."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import structlog
from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon, engine_settings
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.changes import Transition
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import CallResult, Status
from dialerd.domain.model import Attempt
from dialerd.engine import AttemptFinished, CallProgressed, EngineEvent
from dialerd.engine.journal import JournalEntry, OutcomeJournal
from dialerd.sim import SimAsterisk
from dialerd.store import Store

pytestmark = pytest.mark.mqtt


async def test_events_out_and_a_disposition_in(tmp_path: Path, mqtt_url: str) -> None:
    prefix = f"dialerd-test-{uuid.uuid4().hex[:8]}"
    clock = ScaledClock(20.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "gamma", clock.now(), contacts=40)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    mqtt = f'[mqtt]\nenabled = true\nurl = "{mqtt_url}"\nclient_id = "{prefix}"\n'
    mqtt += f'topic_prefix = "{prefix}"\nreconnect_backoff_min = 0.1\n'
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "gamma")], extra=mqtt))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    connected: list[CallProgressed] = []
    finished: dict[str, AttemptFinished] = {}

    def on_event(e: EngineEvent) -> None:
        if isinstance(e, CallProgressed) and e.phase == "connected":
            connected.append(e)
        elif isinstance(e, AttemptFinished):
            finished[e.attempt.id] = e

    daemon.add_listener(on_event)
    seen: dict[str, list[dict[str, Any]]] = {}
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    try:
        async with (
            aiomqtt.Client(host, int(port), identifier=f"obs-{prefix}") as obs,
            asyncio.TaskGroup() as tg,
        ):
            await obs.subscribe(f"{prefix}/#", qos=1)

            async def collect() -> None:
                async for m in obs.messages:
                    body = m.payload if isinstance(m.payload, bytes) else b"{}"
                    if body.startswith(b"{"):
                        seen.setdefault(str(m.topic), []).append(json.loads(body))

            collector = tg.create_task(collect())
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            assert daemon.bus is not None
            await until(lambda: daemon.bus is not None and daemon.bus.connected)
            await until(lambda: bool(connected), within=30)
            call = connected[0]
            assert call.agent == "agent-1"
            await obs.publish(
                f"{prefix}/agent/agent-1/disposition",
                json.dumps(
                    {"attempt": call.attempt_id, "status": "success", "status_detail": "sale"}
                ),
                qos=1,
            )
            await until(lambda: call.attempt_id in finished, within=30)

            def published(phase: str) -> bool:
                calls = seen.get(f"{prefix}/campaign/gamma/call", [])
                return any(c["attempt"] == call.attempt_id and c["phase"] == phase for c in calls)

            await until(lambda: published("finished"))
            daemon.request_stop()
            await task
            collector.cancel()
        done = finished[call.attempt_id]
        assert done.attempt.disposition is not None and "sale" in done.attempt.disposition
        calls = seen[f"{prefix}/campaign/gamma/call"]
        assert {"dialing", "connected", "finished"} <= {c["phase"] for c in calls}
        assert any(s["state"] == "talking" for s in seen[f"{prefix}/agent/agent-1/state"])
        pops = seen[f"{prefix}/agent/agent-1/screenpop"]
        assert any(p["attempt"] == call.attempt_id for p in pops)
        assert seen[f"{prefix}/campaign/gamma/pacing"]
    finally:
        await sim.stop()
        async with aiomqtt.Client(host, int(port), identifier=f"clean-{prefix}") as c:
            for topic in seen:  # clear what the daemon retained under the test's prefix
                await c.publish(topic, b"", qos=1, retain=True)


async def test_a_call_written_from_the_journal_has_its_finished_event_and_line(
    tmp_path: Path, mqtt_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call whose outcome a stop journaled (the database was away) is written by the next
    start's replay. Before, it had no "call finished" log line and no finished event on the
    bus, so a wallboard or CRM listening there never learned of the call; now both come, as
    for any call, marked ``replayed``."""
    prefix = f"dialerd-test-{uuid.uuid4().hex[:8]}"
    clock = ScaledClock(20.0, start=datetime.now(UTC))
    now = clock.now()
    db_url = await prepare(tmp_path, "gamma", now, contacts=1)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    mqtt = f'[mqtt]\nenabled = true\nurl = "{mqtt_url}"\nclient_id = "{prefix}"\n'
    mqtt += f'topic_prefix = "{prefix}"\nreconnect_backoff_min = 0.1\n'
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "gamma")], extra=mqtt))
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path / "state"))
    loaded = load_config(cfg)
    journal_path = engine_settings(loaded).journal
    assert journal_path is not None and journal_path.parent == tmp_path / "state"

    # what the previous run left: the call's attempt open in the store, its outcome journaled
    dialed = now - timedelta(minutes=10)
    store = await Store.open(db_url)
    try:
        (camp,) = await store.list_campaigns()
        (contact,) = await store.find_contacts(camp.id)
        tasks = {t.name: t.id for t in await store.tasks(camp.id)}
        started = Attempt(
            id=f"journaled-{prefix}",
            campaign_id=camp.id,
            contact_id=contact.id,
            task_id=contact.task_id,
            phone=contact.phone or "",
            server="sim",
            originated_at=dialed,
        )
        await store.start_attempt(started)
    finally:
        await store.close()
    over = now - timedelta(minutes=9)
    finished = replace(
        started,
        agent="agent-1",
        answered_at=dialed + timedelta(seconds=5),
        connected_at=dialed + timedelta(seconds=6),
        hungup_at=over,
        result=CallResult.CONNECTED,
        disposition="sale",
    )
    OutcomeJournal(journal_path).append(
        [
            JournalEntry(
                "gamma",
                Transition(
                    contact_id=contact.id,
                    actor="agent:agent-1",
                    at=over,
                    task_id=contact.task_id,
                    status=Status.SUCCESS,
                    status_detail="sale",
                    pending_task_id=tasks["done"],
                    pending_due_at=over,
                    count_attempt=True,
                    attempt=finished,
                    expect_task_id=contact.task_id,
                    expect_status=Status.OPEN,
                ),
                over,
            )
        ]
    )

    daemon = Daemon(loaded, clock=clock, notifier=Notifier(None), watchdog=0)
    seen: list[dict[str, Any]] = []
    host, port = mqtt_url.removeprefix("mqtt://").split(":")
    try:
        with structlog.testing.capture_logs() as logs:
            async with (
                aiomqtt.Client(host, int(port), identifier=f"obs-{prefix}") as obs,
                asyncio.TaskGroup() as tg,
            ):
                await obs.subscribe(f"{prefix}/campaign/gamma/call", qos=1)

                async def collect() -> None:
                    async for m in obs.messages:
                        body = m.payload if isinstance(m.payload, bytes) else b"{}"
                        if body.startswith(b"{"):
                            seen.append(json.loads(body))

                collector = tg.create_task(collect())
                task = tg.create_task(daemon.run())
                await until(daemon.ready.is_set)
                await until(lambda: any(c.get("phase") == "finished" for c in seen), within=15)
                daemon.request_stop()
                await task
                collector.cancel()
    finally:
        await sim.stop()
    assert not journal_path.exists()
    (event,) = [c for c in seen if c.get("phase") == "finished"]
    assert (event["attempt_id"], event["contact_id"], event["replayed"]) == (
        started.id,
        contact.id,
        True,
    )
    assert (event["result"], event["status"], event["status_detail"], event["task"]) == (
        "connected",
        "success",
        "sale",
        "call",
    )
    assert event["agent"] == "agent-1" and event["hungup_at"] is not None
    (line,) = [e for e in logs if e["event"] == "call finished"]
    assert (line["attempt"], line["contact"], line["campaign"], line["replayed"]) == (
        started.id,
        contact.id,
        "gamma",
        True,
    )
    assert (line["next_task"], line["agent"]) == ("done", "agent-1")
