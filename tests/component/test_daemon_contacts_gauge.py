"""The contacts gauge of a big campaign does not keep the database counting all the time.

``dialerd_contacts`` is a count of every contact of a campaign by task and status. The daemon
counted every campaign every 5 s; with 500,000 contacts on PostgreSQL one count took 0.24 s on
average (0.54 s at worst) during a 50-agent run, 5% of a database core for one gauge, and the
count grows with the campaign (0.9 s on average while the planner had no statistics). A count
is now repeated no sooner than twenty times its own duration.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from daemon_component_support import config, prepare, until

from dialerd.config import load_config
from dialerd.daemon.app import Daemon
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.clock import ScaledClock
from dialerd.sim import SimAsterisk


async def test_a_slow_contact_count_is_not_repeated_every_status_refresh(tmp_path: Path) -> None:
    clock = ScaledClock(10.0, start=datetime.now(UTC))
    db_url = await prepare(tmp_path, "alpha", clock.now(), contacts=5)
    sim = SimAsterisk(port=0, clock=clock)
    await sim.start()
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(config(db_url, sim.port, [("agent-1", "alpha")]))
    daemon = Daemon(load_config(cfg), clock=clock, notifier=Notifier(None), watchdog=0)
    registry = daemon.metrics.registry
    counted = 0
    try:
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(daemon.run())
            await until(daemon.ready.is_set)
            store = daemon.store
            assert store is not None
            real_overview = store.overview

            async def slow_overview(campaign_id: int) -> Any:
                """A campaign as big as a production one: the count takes 0.3 s."""
                nonlocal counted
                counted += 1
                await asyncio.sleep(0.3)
                return await real_overview(campaign_id)

            store.overview = slow_overview  # type: ignore[method-assign]
            for _ in range(4):
                await daemon._refresh_metrics()
            # The first count is done and shown; the next is due 6 s (20 x 0.3 s) later, not at
            # every refresh (the status loop may have started one more meanwhile).
            assert counted <= 2
            open_now = registry.get_sample_value(
                "dialerd_contacts", {"campaign": "alpha", "task": "call", "status": "open"}
            )
            assert open_now is not None and open_now >= 1
            daemon.request_stop()
            await task
    finally:
        await sim.stop()
