"""What an operator sees of a campaign queue Asterisk lacks, and that defining it is enough.

The daemon runs in this process (API on a loopback port) against a simulated Asterisk whose
queues.conf has the agent's own queue but not the campaign's: the campaign places no call,
``/healthz`` is degraded naming server and queue, ``dialerd_queue_missing`` is 1, the log says
which queue and what to do; once the queue is defined (``module reload app_queue``) the daemon
finds it at its next check and dials, with no restart.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.clock import ScaledClock
from dialerd.sim import QueueConfig, SimAsterisk, SimModel

CHECK_S = 5.0  # clock seconds between two queue checks (0.5 s real at 10x)


async def test_a_missing_campaign_queue_is_reported_and_dialing_resumes_once_defined(
    tmp_path: Path,
) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=5)
    # the campaign file sets no queue: "dialerd-alpha"; the agent's own is "dialerd-alpha.agent-1"
    model = SimModel(queue=QueueConfig(queues=frozenset({"dialerd-alpha.agent-1"})))
    sim = SimAsterisk(port=0, clock=clock, model=model)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    text = config(db_url, sim.port, [("agent-1", "alpha")])
    cfg.write_text(text.replace("[api]\nenabled = false\n", "[api]\nport = 0\n"))
    daemon = Daemon(
        load_config(cfg),
        clock=clock,
        notifier=Notifier(None),
        watchdog=0,
        settings={"queue_check_seconds": CHECK_S},
    )
    registry = daemon.metrics.registry

    def gauge() -> float | None:
        labels = {"server": "sim", "queue": "dialerd-alpha"}
        return registry.get_sample_value("dialerd_queue_missing", labels)

    async def health(api: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
        r = await api.get("/healthz")
        return r.status_code, r.json()

    try:
        with structlog.testing.capture_logs() as logs:
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(daemon.run())
                await until(daemon.ready.is_set)
                engine = daemon.engine
                assert engine is not None
                async with httpx.AsyncClient(base_url=daemon.api_urls["api"]) as api:
                    await until(lambda: engine.missing_queues() == {"sim": ("dialerd-alpha",)})
                    code, body = await health(api)
                    assert (code, body["status"]) == (200, "degraded"), body
                    assert body["checks"]["queues"] == {
                        "ok": False,
                        "missing": {"sim": ["dialerd-alpha"]},
                    }
                    await daemon._refresh_metrics()
                    assert gauge() == 1.0
                    warned = [e for e in logs if e["event"].startswith("asterisk queue missing")]
                    assert warned and warned[0]["log_level"] == "warning"
                    assert (warned[0]["server"], warned[0]["queue"]) == ("sim", "dialerd-alpha")
                    assert "module reload app_queue" in warned[0]["event"]

                    await clock.sleep(4 * CHECK_S)
                    assert sim.originates_received == 0, "dialed into a missing queue"

                    sim.define_queues("dialerd-alpha")
                    await until(lambda: sim.originates_received > 0)
                    await until(lambda: engine.missing_queues() == {})
                    code, body = await health(api)
                    assert (code, body["status"]) == (200, "ok"), body
                    await daemon._refresh_metrics()
                    assert gauge() == 0.0
                daemon.request_stop()
                await task
    finally:
        await sim.stop()
