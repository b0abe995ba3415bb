"""Done when (issue 8): the example follow-up campaign runs end to end.

config/campaigns/followup-flow.toml: call -> (success) webhook -> PDF letters, and
call -> (declined) -> email. The calls go through the engine against the simulated Asterisk
(agents answer and give dispositions); the webhook goes to a local HTTP server, the email to a
local SMTP server, the letters to a folder. Every contact must end where the taskflow says.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tasks_testkit import HttpRecorder, MailBox, http_server, pdf_pages, pdf_text, smtp_server

from dialerd.ami import AsteriskServer, ServerConfig
from dialerd.domain.campaign_spec import CampaignSpec, load_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import Status
from dialerd.domain.model import Agent
from dialerd.engine import Engine, EngineEvent, EngineSettings, ScreenPop
from dialerd.engine.tasks import TaskRunnerSettings, TaskService
from dialerd.sim import SimAsterisk
from dialerd.store import Store, upgrade

REPO = Path(__file__).resolve().parents[2]
MONDAY_10_UTC = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
SECRET = "crm-secret"


async def until(pred: Callable[[], bool], limit: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + limit
    while not pred():
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def flow_spec(url: str, smtp_port: int, letters: Path, drop: Path) -> CampaignSpec:
    """The shipped example with its servers and folders pointed at this test's."""
    data: dict[str, Any] = load_campaign_spec(
        REPO / "config" / "campaigns" / "followup-flow.toml"
    ).model_dump(mode="json", by_alias=True)
    data["connect_limit"] = "10s"
    tasks = {t["name"]: t for t in data["tasks"]}
    tasks["call"]["settings"]["drop_folder"]["path"] = str(drop)
    tasks["notify_crm"]["settings"]["url"] = url + "/hooks/dialerd"
    tasks["letters"]["settings"]["folder"] = str(letters)
    mail = tasks["sorry_mail"]["settings"]
    mail.update(smtp_host="127.0.0.1", smtp_port=smtp_port, tls="none")
    mail.pop("username"), mail.pop("password_env")
    return CampaignSpec.model_validate(data)


async def test_followup_flow_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIALERD_CRM_WEBHOOK_SECRET", SECRET)
    url_db = f"sqlite+aiosqlite:///{tmp_path / 'flow.sqlite'}"
    await upgrade(url_db)
    clock = ScaledClock(20.0, start=MONDAY_10_UTC)
    store = await Store.open(url_db)
    sim = SimAsterisk(clock=clock, seed=3)
    await sim.start()
    server = AsteriskServer(
        # generous in engine seconds: at 20x a busy test machine must not look like a dead peer
        ServerConfig(
            name="sim1",
            port=sim.port,
            username="dialer",
            secret="dialerpass",
            dead_peer_timeout=300.0,
            action_timeout=100.0,
        ),
        clock=clock,
    )
    server.start()
    rec = HttpRecorder(replies=[(200, {"fields": {"crm_id": "CRM-7"}})])
    box = MailBox()
    letters = tmp_path / "letters"
    people = {
        "555010001": ("Ada", "Lovelace", "success"),
        "555010002": ("Alan", "Turing", "declined"),
        "555010003": ("Grace", "Hopper", "success"),
        "555010004": ("Edsger", "Dijkstra", "declined"),
    }
    events: list[EngineEvent] = []
    pending: list[asyncio.Task[Any]] = []
    try:
        async with http_server(rec) as url, smtp_server(box) as smtp_port:
            camp = await store.create_campaign(
                flow_spec(url, smtp_port, letters, tmp_path / "drop"), clock.now()
            )
            ids = await store.add_contacts(
                camp.id,
                [
                    NewContact(
                        phone=p,
                        first_name=f,
                        last_name=last,
                        email=f"{f.lower()}@example.test",
                    )
                    for p, (f, last, _) in people.items()
                ],
                clock.now(),
            )
            for i in (1, 2):
                await store.upsert_agent(
                    Agent(f"a{i}", f"Local/agent-{i}@sim-agents", ("followup-flow",)),
                    clock.now(),
                )
            await until(lambda: server.ready)
            engine = Engine(
                store, {"sim1": server}, clock, EngineSettings(holder="flow", tick_seconds=1.0)
            )
            service = TaskService(
                store,
                clock,
                holder="flow",
                servers={"sim1": server},
                settings=TaskRunnerSettings(tick_seconds=1.0),
            )

            def on_event(e: EngineEvent) -> None:
                events.append(e)
                if isinstance(e, ScreenPop):
                    wanted = people[e.contact.phone or ""][2]
                    pending.append(
                        asyncio.create_task(
                            engine.disposition(e.agent, wanted, None, attempt_id=e.attempt_id)
                        )
                    )

            engine.add_listener(on_event)
            async with asyncio.TaskGroup() as tg:
                running_engine = tg.create_task(engine.run())
                running_tasks = tg.create_task(service.run())
                await until(lambda: engine.running and bool(engine.status().campaigns))
                for i in (1, 2):
                    await engine.agent_login(f"a{i}")

                async def finished() -> bool:
                    done = 0
                    for cid in ids:
                        c = await store.get_contact(cid)
                        done += c.status is Status.SUCCESS and c.pending_task_id is None
                    return done == len(ids)

                loop = asyncio.get_running_loop()
                end = loop.time() + 30
                while not await finished():
                    assert loop.time() < end, "contacts did not reach the end of the flow"
                    await asyncio.sleep(0.1)
                await asyncio.gather(*pending)
                await engine.stop(0)
                await running_engine
                running_tasks.cancel()
    finally:
        await asyncio.wait_for(server.close(), 10)
        await asyncio.wait_for(sim.stop(), 10)
        await store.close()

    store = await Store.open(url_db)
    try:
        tasks = {t.id: t.name for t in await store.tasks(camp.id)}
        where = {}
        for cid in ids:
            c = await store.get_contact(cid)
            where[c.phone] = (tasks[c.task_id], c.status, c.fields.get("crm_id"))
    finally:
        await store.close()
    assert where == {
        "555010001": ("letters", Status.SUCCESS, "CRM-7"),
        "555010002": ("sorry_mail", Status.SUCCESS, None),
        "555010003": ("letters", Status.SUCCESS, "CRM-7"),
        "555010004": ("sorry_mail", Status.SUCCESS, None),
    }
    # the CRM got one signed notification per successful call, with the attempt
    assert len(rec.requests) == 2
    for req in rec.requests:
        want = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.headers["x-dialerd-signature"] == want
        body = req.json()
        assert body["last_attempt"]["result"] == "connected"
        assert any(h["to_status"] == "success" for h in body["history"])
    assert {r.json()["contact"]["last_name"] for r in rec.requests} == {"Lovelace", "Hopper"}
    # one letter per successful contact
    pdfs = sorted(letters.glob("*.pdf"))
    assert len(pdfs) == 2
    texts = [pdf_text(p.read_bytes()) for p in pdfs]
    assert any("Dear Ada Lovelace," in t for t in texts)
    assert any("Dear Grace Hopper," in t for t in texts)
    assert all(p.read_bytes().startswith(b"%PDF") and pdf_pages(p.read_bytes()) == 1 for p in pdfs)
    # one email per declined contact
    got = box.by_recipient()
    assert set(got) == {"alan@example.test", "edsger@example.test"}
    assert got["alan@example.test"]["Subject"] == "Thank you for your time, Alan"
