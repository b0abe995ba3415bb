"""The daemon's [compliance] floor reaches every way a campaign enters: the API stores a laxer
definition held to it, the engine holds a campaign stored without it (``dialerd campaign
create`` without ``--config``) to it, and a reload with a new floor applies the new one."""

from __future__ import annotations

import asyncio
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import structlog
from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.campaign_spec import validate_campaign_spec
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk
from dialerd.store import Store

TOKEN = "compliance-test-token-0123"
HELD = "campaign held to the daemon's [compliance] rules"


def daemon_config(db_url: str, port: int, target: float) -> str:
    text = config(db_url, port, [], extra=f"[compliance]\nabandonment_target = {target}\n")
    return text.replace(
        "[api]\nenabled = false\n",
        f'[api]\nport = 0\n[[api.tokens]]\nname = "ops"\nrole = "admin"\ntoken = "{TOKEN}"\n',
    )


def lax(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "dial": {"mode": "progressive", "abandonment_target": 0.5},
        "calling_hours": {"enabled": False},
        "tasks": [{"name": "call", "type": "call"}],
    }


def held(logs: list[dict[str, Any]], campaign: str) -> list[list[str]]:
    return [e["changes"] for e in logs if e["event"] == HELD and e["campaign"] == campaign]


async def test_api_engine_and_reload_all_apply_the_daemon_floor(tmp_path: Path) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=0)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(daemon_config(db_url, sim.port, 0.02))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    try:
        with structlog.testing.capture_logs() as logs:
            async with asyncio.TaskGroup() as tg:
                task = tg.create_task(daemon.run())
                await until(daemon.ready.is_set)
                engine = daemon.engine
                assert engine is not None
                async with httpx.AsyncClient(
                    base_url=daemon.api_urls["api"],
                    headers={"Authorization": f"Bearer {TOKEN}"},
                ) as api:
                    r = await api.post("/api/v1/campaigns", json=lax("by-api"))
                    assert r.status_code == 201, r.text
                    assert r.json()["definition"]["dial"]["abandonment_target"] == 0.02
                    assert r.json()["definition"]["calling_hours"]["enabled"] is True
                    assert r.json()["tightened"] == [
                        "calling hours set to 08:00-21:00 (daemon [compliance])",
                        "abandonment target lowered to 2.0% (daemon [compliance])",
                    ]
                    # stored by a command that did not know the floor
                    store = await Store.open(db_url)
                    try:
                        await store.create_campaign(
                            validate_campaign_spec(lax("by-cli")), clock.now()
                        )
                    finally:
                        await store.close()
                    os.kill(os.getpid(), signal.SIGHUP)
                    await until(lambda: len(engine.status().campaigns) == 3)
                    await until(lambda: bool(held(logs, "by-cli")))
                    assert held(logs, "by-cli") == [
                        [
                            "calling hours set to 08:00-21:00 (daemon [compliance])",
                            "abandonment target lowered to 2.0% (daemon [compliance])",
                        ]
                    ]
                    assert held(logs, "by-api") == []  # stored held already

                    # a stricter floor, applied by a reload, to the API and the engine
                    cfg.write_text(daemon_config(db_url, sim.port, 0.01))
                    os.kill(os.getpid(), signal.SIGHUP)
                    await until(lambda: len(held(logs, "by-api")) == 1)
                    assert held(logs, "by-api") == [
                        ["abandonment target lowered to 1.0% (daemon [compliance])"]
                    ]
                    await until(lambda: len(held(logs, "by-cli")) == 2)
                    r = await api.put("/api/v1/campaigns/by-api/rules", json={"rules": []})
                    assert r.status_code == 200, r.text
                    got = (await api.get("/api/v1/campaigns/by-api")).json()
                    assert got["definition"]["dial"]["abandonment_target"] == 0.01
                daemon.request_stop()
                await task
    finally:
        await sim.stop()
