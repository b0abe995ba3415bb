"""``dialerd run`` stopped (SIGTERM) or killed (SIGKILL) during a database outage: the agent's
disposition, taken with 202 "queued", is in the store after the next start, once.

The daemon runs as a process on PostgreSQL reached through a TCP proxy of this test (cut for
the outage) and dials the simulated Asterisk started here. Before the journal, the disposition
and the call's outcome lived in the daemon's memory only: the stop lost them and the next start
closed the attempt ``failed_unknown``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from daemon_e2e_support import Setup, daemon_process, daytime_zone, output
from sqlalchemy.engine import make_url

from dialerd.domain.campaign_spec import validate_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import CallResult
from dialerd.sim import SimAsterisk
from dialerd.store import Store

# the PostgreSQL helpers of the component tests (own database, the proxy that cuts it)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "component"))
from tcp_proxy import TcpProxy, own_pg_database

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TOKEN = "e2e-admin-token-0123456789"
CAMPAIGN_TOML = """
name = "outage"
timezone = "UTC"
[dial]
mode = "progressive"
[schedule]
status = "enabled"
[wrapup]
limit = "300s"
[[tasks]]
name = "call"
type = "call"
[[tasks]]
name = "won"
type = "wait"
[[rules]]
from = "call"
status = "success"
to = "won"
"""


def _config(url: str, ami_port: int, state: Path) -> str:
    return f"""
[store]
url = "{url}"
connect_timeout = 2
[[asterisk]]
name = "sim"
port = {ami_port}
username = "dialer"
secret_env = "E2E_AMI_SECRET"
[api]
port = 0
[[api.tokens]]
name = "ops"
role = "admin"
token = "{TOKEN}"
[engine]
tick = 0.5
drain_timeout = 3
state_dir = "{state}"
[[campaigns]]
glob = "campaigns/*.toml"
[[agents]]
name = "agent-1"
interface = "Local/agent-1@sim-agents"
campaigns = ["outage"]
[logging]
format = "json"
"""


def _log(setup: Setup) -> list[dict[str, Any]]:
    out, _ = output(setup)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


async def _api_url(setup: Setup, within: float = 30.0) -> str:
    async with asyncio.timeout(within):
        while True:
            for line in _log(setup):
                if line.get("event") == "dialerd ready":
                    return str(line["api"])
            await asyncio.sleep(0.1)


async def _agent_state(api: httpx.AsyncClient) -> str:
    status = (await api.get("/api/v1/status")).json()["engine"]
    return str(next(a["state"] for a in status["agents"] if a["name"] == "agent-1"))


async def _until_state(api: httpx.AsyncClient, state: str, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while await _agent_state(api) != state:  # noqa: ASYNC110 (polls another process)
            await asyncio.sleep(0.1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_a_queued_disposition_outlives_the_daemon_stopped_during_a_database_outage(
    tmp_path: Path, sig: signal.Signals
) -> None:
    """SIGTERM: the drain waits for the database up to its bound, then the call's outcome goes
    to the journal; the next start writes it. SIGKILL: nothing runs at the end, but the
    disposition was journaled when it was taken (202); the next start closes the call's
    attempt, left open, as connected with it (its hang-up not known)."""
    async with own_pg_database() as direct:
        u = make_url(direct)
        proxy = TcpProxy(u.host or "127.0.0.1", u.port or 5432)
        await proxy.start()
        sim = SimAsterisk(port=0)
        await sim.start()
        try:
            await _run(tmp_path, direct, proxy.url(direct), proxy, sim, sig)
        finally:
            await sim.stop()
            await proxy.close()


async def _run(
    tmp: Path, direct: str, url: str, proxy: TcpProxy, sim: SimAsterisk, sig: signal.Signals
) -> None:
    (tmp / "campaigns").mkdir()
    (tmp / "campaigns" / "outage.toml").write_text(CAMPAIGN_TOML)
    state = tmp / "state"
    state.mkdir(mode=0o700)
    store = await Store.open(direct)
    try:
        spec = validate_campaign_spec(__import__("tomllib").loads(CAMPAIGN_TOML), "outage.toml")
        now = datetime.now(UTC)
        camp = await store.create_campaign(spec, now)
        # a short answer: connected at once, the callee hangs up after 3 s
        contact = NewContact(phone="555070001", timezone=daytime_zone(now))
        (cid,) = await store.add_contacts(camp.id, [contact], now)
    finally:
        await store.close()
    config = tmp / "dialerd.toml"
    config.write_text(_config(url, sim.port, state))
    env = {**os.environ, "E2E_AMI_SECRET": "dialerpass", "PYTHONUNBUFFERED": "1"}
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "STATE_DIRECTORY"):
        env.pop(key, None)
    setup = Setup(config, url, env)

    async with daemon_process(setup) as proc:
        base = await _api_url(setup)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            await _until_state(api, "talking")
            await proxy.down()
            try:
                await _until_state(api, "wrapup")  # the callee hung up
                answer = await api.post(
                    "/api/v1/agents/agent-1/disposition",
                    json={"status": "success", "status_detail": "sale"},
                )
                assert answer.status_code == 202, answer.text
                assert answer.json()["written"] == "queued"
                attempt_id = answer.json()["result"]
                proc.send_signal(sig)
                rc = await asyncio.wait_for(proc.wait(), 30)
            finally:
                await proxy.up()
    _, err = output(setup)
    (journal,) = state.glob("unwritten-*.jsonl")
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    if sig is signal.SIGTERM:
        assert rc == 0, err[-3000:]
        assert "Traceback" not in err
        assert [x["kind"] for x in lines] == ["disposition", "outcome"]
        assert lines[1]["transition"]["attempt"]["disposition"] == "sale"
        events = [e.get("event") for e in _log(setup)]
        assert (
            "outcomes not stored at stop: database unavailable; journaled, written at the next"
            " start" in events
        )
    else:
        assert rc == -signal.SIGKILL
        assert [x["kind"] for x in lines] == ["disposition"]
        assert lines[0]["disposition"]["status_detail"] == "sale"

    # the next start, the database back
    (tmp / "stdout.log").rename(tmp / "first-stdout.log")
    async with daemon_process(setup) as proc:
        await _api_url(setup)
        store = await Store.open(direct)
        try:
            async with asyncio.timeout(15):  # SIGKILL: the runner's recovery closes it
                while not (attempts := await store.attempts(cid))[0].result:  # noqa: ASYNC110
                    await asyncio.sleep(0.1)
            (attempt,) = attempts
            assert (attempt.id, attempt.result, attempt.disposition, attempt.agent) == (
                attempt_id,
                CallResult.CONNECTED,
                "sale",
                "agent-1",
            )
            assert attempt.connected_at is not None
            # SIGTERM: the tracker's end; SIGKILL: not seen (the outcome died with the process)
            assert (attempt.hungup_at is not None) is (sig is signal.SIGTERM)
            tasks = {t.id: t.name for t in await store.tasks(camp.id)}
            assert tasks[(await store.get_contact(cid)).task_id] == "won"
        finally:
            await store.close()
        proc.send_signal(signal.SIGTERM)
        rc = await asyncio.wait_for(proc.wait(), 30)
    assert rc == 0
    log = _log(setup)
    replayed = [e for e in log if e.get("event") == "journal of outcomes replayed"]
    finished = [e for e in log if e.get("event") == "call finished"]
    if sig is signal.SIGTERM:
        assert not journal.exists()
        assert [(e["applied"], e["dispositions_of_lost_calls"]) for e in replayed] == [(1, 0)]
        # the call has its line, written by the replay (none in the run that stopped)
        assert [(e["attempt"], e.get("replayed"), e["status_detail"]) for e in finished] == [
            (attempt_id, True, "sale")
        ]
    else:
        assert [(e["applied"], e["dispositions_of_lost_calls"]) for e in replayed] == [(0, 1)]
        closed = [e for e in log if e.get("event") == "closing attempt whose outcome was lost"]
        assert [(e["attempt"], e["disposition"]) for e in closed] == [(attempt_id, "sale")]
