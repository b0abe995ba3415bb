"""``dialerd run`` under a (test) systemd: READY, WATCHDOG, STATUS, STOPPING and the drain.

The daemon runs as a real process against the simulated Asterisk started here, with
``NOTIFY_SOCKET`` pointing at a datagram socket of this test, as systemd would set it up.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from daemon_e2e_support import NotifySocket, daemon_process, output, prepare

from dialerd.sim import SimAsterisk
from dialerd.store import Store

pytestmark = pytest.mark.e2e

DRAIN = 3.0


async def test_ready_watchdog_stopping_and_drain_with_calls_in_progress(tmp_path: Path) -> None:
    sim = SimAsterisk(port=0)
    await sim.start()
    notify = NotifySocket(tmp_path / "notify.sock")
    try:
        setup = await prepare(tmp_path, sim.port, contacts=40, drain=DRAIN)
        env = {**setup.env, "NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
        async with daemon_process(setup, env) as proc:
            ready = await notify.wait_for("READY", within=30)
            # READY only once the store is open and the AMI link has logged in.
            assert sim.logins >= 1
            statuses = [m["STATUS"] for _, m in notify.messages if "STATUS" in m]
            assert statuses[0] == "opening the store"
            assert "AMI: sim ready" in ready.get("STATUS", "")

            # WATCHDOG=1 every WATCHDOG_USEC/2 while healthy.
            pings = 0
            loop = asyncio.get_running_loop()
            until = loop.time() + 2.5
            while loop.time() < until:
                msg = await notify.receive(until - loop.time())
                if msg and msg.get("WATCHDOG") == "1":
                    pings += 1
            assert pings >= 2  # every 0.5 s; a loaded host may delay one

            # Calls under way; then the AMI peer dies: no WATCHDOG=1 while the link is down.
            for _ in range(100):
                if sim.active_calls > 0:
                    break
                await asyncio.sleep(0.1)
            assert sim.active_calls > 0, "the daemon placed no calls"
            sim.set_dead(True)
            await sim.drop_connections()
            await asyncio.sleep(1.0)  # a ping already on its way may still arrive
            while await notify.receive(0.05) is not None:
                pass
            until = loop.time() + 1.5
            pings = 0
            while loop.time() < until:
                msg = await notify.receive(until - loop.time())
                if msg and msg.get("WATCHDOG") == "1":
                    pings += 1
            assert pings == 0, "WATCHDOG=1 sent while the AMI link was down"

            # SIGTERM: STOPPING=1, then exit 0 within the drain bound, calls closed and written.
            proc.send_signal(signal.SIGTERM)
            sent = loop.time()
            stopping = await notify.wait_for("STOPPING", within=5)
            assert "draining" in stopping.get("STATUS", "")
            rc = await asyncio.wait_for(proc.wait(), DRAIN + 15)
            took = loop.time() - sent
        _, err = output(setup)
        assert rc == 0, err[-2000:]
        assert took < DRAIN + 10
        assert "Traceback" not in err
    finally:
        notify.close()
        await sim.stop()

    # Flushed: every attempt the daemon started has its result; no contact is left leased.
    store = await Store.open(setup.db_url)
    try:
        campaign = await store.get_campaign("e2e")
        assert await store.unfinished_attempts(campaign.id) == []
        assert await store.release_all("anyone") == 0  # no stray lease of another holder
    finally:
        await store.close()
    out, _ = output(setup)
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "dialerd ready" for line in lines)
    assert "dialerpass" not in out  # the AMI secret never reaches the log
