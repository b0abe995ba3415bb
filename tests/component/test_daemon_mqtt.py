"""The daemon's MQTT wiring against the real Mosquitto: engine events go out on their topics,
and a disposition sent by an agent desktop completes the agent's call."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.clock import ScaledClock
from dialerd.engine import AttemptFinished, CallProgressed, EngineEvent
from dialerd.sim import SimAsterisk

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
