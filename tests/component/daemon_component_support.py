"""Set-up shared by the in-process daemon tests: config text, campaign files, contacts in a
time zone where it is daytime (the calling-hours guard stays on), polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from dialerd.domain.campaign_spec import load_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.store import Store, upgrade


def daytime_zone(now: datetime) -> str:
    """An ``Etc/GMT±N`` zone where it is about noon at ``now``."""
    offset = (12 - now.hour + 12) % 24 - 12
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def campaign(name: str) -> str:
    return f"""
name = "{name}"
[dial]
mode = "progressive"
[schedule]
status = "enabled"
[[tasks]]
name = "call"
type = "call"
[[tasks]]
name = "done"
type = "wait"
[[rules]]
from = "call"
status = "success"
to = "done"
"""


def config(db_url: str, port: int, agents: list[tuple[str, str]], extra: str = "") -> str:
    text = f"""
[store]
url = "{db_url}"
[[asterisk]]
name = "sim"
port = {port}
username = "dialer"
secret = "dialerpass"
[api]
enabled = false
[engine]
tick = 0.5
drain_timeout = 5
[[campaigns]]
glob = "campaigns/*.toml"
{extra}
"""
    for name, camp in agents:
        text += f"""
[[agents]]
name = "{name}"
interface = "Local/{name}@sim-agents"
campaigns = ["{camp}"]
"""
    return text


async def prepare(tmp: Path, name: str, now: datetime, contacts: int) -> str:
    """A migrated store with campaign ``name`` (file in tmp/campaigns) and its contacts."""
    (tmp / "campaigns").mkdir(exist_ok=True)
    path = tmp / "campaigns" / f"{name}.toml"
    path.write_text(campaign(name))
    db_url = f"sqlite+aiosqlite:///{tmp / 'd.db'}"
    await upgrade(db_url)
    store = await Store.open(db_url)
    try:
        c = await store.create_campaign(load_campaign_spec(path), now)
        zone = daytime_zone(now)
        await store.add_contacts(
            c.id,
            [NewContact(phone=f"+4930555{i:04d}", timezone=zone) for i in range(contacts)],
            now,
        )
    finally:
        await store.close()
    return db_url


async def until(check: Callable[[], bool], within: float = 20.0) -> None:
    """Poll a condition spread over several components (no single event tells it)."""
    async with asyncio.timeout(within):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
