"""``dialerd run`` as a process and the queue members it leaves in Asterisk.

Before, the daemon QueueAdd-ed its agents at start and never removed them: after a SIGTERM they
stayed members of the campaign's queue, and Asterisk (here the simulator, over TCP) would offer
calls to agents no dialer managed. Now a clean stop removes them after the drain, and a start
removes a member of a campaign queue that is none of its agents (left by hand, or by a
dialer that died) while keeping members of other queues.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import pytest
from daemon_e2e_support import CAMPAIGN, NotifySocket, daemon_process, output, prepare

from dialerd.ami import AsteriskServer, ServerConfig
from dialerd.sim import SimAsterisk

pytestmark = pytest.mark.e2e

QUEUE = f"dialerd-{CAMPAIGN}"  # the campaign's default queue
STRAY = "Local/agent-9@sim-agents"  # no agent of the daemon's configuration


def members(sim: SimAsterisk) -> set[tuple[str, str]]:
    return {(m.queue, m.interface) for m in sim.queue_members()}


async def test_sigterm_takes_the_agents_out_and_a_start_removes_strangers(tmp_path: Path) -> None:
    sim = SimAsterisk(port=0)
    await sim.start()
    notify = NotifySocket(tmp_path / "notify.sock")
    other = AsteriskServer(
        ServerConfig(name="hand", port=sim.port, username="dialer", secret="dialerpass")
    )
    other.start()
    try:
        await other.link.wait_ready(timeout=10)
        # left over in the campaign's queue, and someone in a queue of no campaign
        await other.queue_add(QUEUE, STRAY, "stray")
        await other.queue_add("support", STRAY, "front desk")
        setup = await prepare(tmp_path, sim.port, contacts=0)
        env = {**setup.env, "NOTIFY_SOCKET": str(notify.path)}
        async with daemon_process(setup, env) as proc:
            await notify.wait_for("READY", within=30)
            agents = {
                (QUEUE, "Local/agent-1@sim-agents"),
                (f"{QUEUE}.agent-1", "Local/agent-1@sim-agents"),
                (QUEUE, "Local/agent-2@sim-agents"),
                (f"{QUEUE}.agent-2", "Local/agent-2@sim-agents"),
            }
            assert members(sim) == agents | {("support", STRAY)}
            proc.send_signal(signal.SIGTERM)
            rc = await asyncio.wait_for(proc.wait(), 30)
        out, err = output(setup)
        assert rc == 0, err[-2000:]
        assert members(sim) == {("support", STRAY)}
        lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        events = [line.get("event") for line in lines]
        assert "unmanaged queue member removed" in events
        assert any(
            line.get("event") == "agents taken out of the queues" and line["memberships"] == 4
            for line in lines
        )
    finally:
        notify.close()
        await other.close()
        await sim.stop()
