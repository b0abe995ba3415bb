"""The reports page in a real headless Chromium: filters, figures, chart, screenshot.

Served by uvicorn on 127.0.0.1 (port 0) from a real SQLite store; the supervisor's numbers must
move after an agent closes a lead through the API.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from dialerd.api import Role, TokenGrant, build_app
from dialerd.domain import campaign_spec as cs
from dialerd.domain.agentwork import ResultClass
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import CallResult
from dialerd.domain.model import Agent, Attempt
from dialerd.store import Store, upgrade
from dialerd.store import agentwork as work

CHROMIUM = Path("/usr/bin/chromium")
DAY1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SUP = TokenGrant("floor", Role.SUPERVISOR, "supervisor-token-e2e-0123")
AGENT = TokenGrant("desk-1", Role.AGENT, "agent-token-e2e-01234567", agent="agent-1")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs /usr/bin/chromium (apt-get install -y chromium chromium-driver)",
)


@dataclass
class Site:
    base: str
    store: Store
    leads: list[int]


async def _seed(store: Store) -> list[int]:
    spec = cs.CampaignSpec.model_validate(
        {"name": "sales", "tasks": [{"name": "call", "type": "call"}]}
    )
    camp = await store.create_campaign(spec, DAY1)
    # the agent token works leads of its agent's campaigns only
    await store.upsert_agent(Agent("agent-1", "PJSIP/agent-1", campaigns=("sales",)), DAY1)
    tasks = await store.tasks(camp.id)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone=f"+49301234567{i}") for i in range(6)], DAY1
    )
    results = [CallResult.CONNECTED, CallResult.ABANDONED, CallResult.NO_ANSWER]
    for day in range(3):
        for i, cid in enumerate(ids[: 3 + day]):
            start = DAY1 + timedelta(days=day, minutes=10 * i)
            result = results[i % 3]
            answered = start + timedelta(seconds=8) if result.live_answer else None
            await store.record_attempt(
                Attempt(
                    f"a-{day}-{i}",
                    camp.id,
                    cid,
                    tasks[0].id,
                    f"+49301234567{i}",
                    agent="agent-1" if result is CallResult.CONNECTED else None,
                    originated_at=start,
                    answered_at=answered,
                    connected_at=answered if result is CallResult.CONNECTED else None,
                    hungup_at=start + timedelta(seconds=200),
                    result=result,
                )
            )
    await work.add_note(
        store,
        ids[0],
        "agent-1",
        DAY1,
        text="Termin vereinbart",
        close=True,
        result_class=ResultClass.POSITIVE,
    )
    return ids


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'dialerd.sqlite'}"
    await upgrade(url)
    store = await Store.open(url)
    try:
        leads = await _seed(store)
        app = build_app(store, tokens=[SUP, AGENT], clock=ManualClock(DAY1 + timedelta(days=2)))
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            try:
                yield Site(f"http://127.0.0.1:{port}", store, leads)
            finally:
                server.should_exit = True
    finally:
        await store.close()


async def _chromium(tmp: Path, *args: str) -> bytes:
    profile = tmp / "profile"
    proc = await asyncio.create_subprocess_exec(
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1200,900",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def _card(dom: str, card: str) -> int:
    m = re.search(rf'id="{card}"[^>]*>[^<]*<b>(\d+)</b>', dom)
    assert m, f"card {card} not in page"
    return int(m.group(1))


async def test_reports_page_in_headless_chromium(site: Site, tmp_path: Path) -> None:
    page = f"{site.base}/ui/reports?token={SUP.token}&from=2026-03-02&to=2026-03-04&campaign=sales"
    dom = (await _chromium(tmp_path, "--dump-dom", page)).decode()
    assert "<h1>Reports</h1>" in dom
    assert _card(dom, "calls") == 3 + 4 + 5
    assert _card(dom, "closed") == 1
    assert _card(dom, "class-positive") == 1
    assert len(re.findall(r'<rect class="bar"', dom)) == 3  # one bar per day
    assert 'data-day="2026-03-04" data-calls="5"' in dom
    assert 'value="2026-03-02"' in dom and '<option value="sales" selected' in dom
    assert "<td>agent-1</td>" in dom

    cookies = {"dialerd_token": SUP.token}
    async with httpx.AsyncClient(base_url=site.base, cookies=cookies) as client:
        # The date filter narrows the figures (same page, fetched without a browser).
        one_day = await client.get(
            "/ui/reports",
            params={"from": "2026-03-03", "to": "2026-03-03"},
        )
        assert _card(one_day.text, "calls") == 4 and _card(one_day.text, "closed") == 0
        # An agent closes a lead through the API; the supervisor's page shows it.
        r = await client.post(
            f"/api/v1/leads/{site.leads[1]}/close",
            headers={"Authorization": f"Bearer {AGENT.token}"},
            json={"text": "Kein Interesse"},
        )
        assert r.status_code == 201, r.text
    shot = tmp_path / "reports.png"
    dom = (await _chromium(tmp_path, f"--screenshot={shot}", "--dump-dom", page)).decode()
    assert _card(dom, "closed") == 2
    assert _card(dom, "class-negative") == 1
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000, len(data)  # a rendered page with a chart, not a blank one


async def test_page_needs_a_token(site: Site) -> None:
    async with httpx.AsyncClient(base_url=site.base) as client:
        assert (await client.get("/ui/reports")).status_code == 401
        bad = await client.get("/ui/reports", params={"token": "nope"})
        assert bad.status_code == 401
