"""Shared set-up of the daemon process tests: a config file, a migrated store, contacts in a
time zone where it is daytime now, a systemd notify socket, and the daemon as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dialerd.domain.campaign_spec import validate_campaign_spec
from dialerd.domain.changes import NewContact
from dialerd.store import Store, upgrade

DIALERD = Path(sys.executable).parent / "dialerd"
CAMPAIGN = "e2e"


def daytime_zone(now: datetime | None = None) -> str:
    """An ``Etc/GMT±N`` zone where it is between 12:00 and 13:00 now (calling hours open)."""
    hour = (now or datetime.now(UTC)).hour
    offset = 12 - hour  # local = utc + offset
    offset = (offset + 12) % 24 - 12  # -12..11
    # Etc/GMT signs are inverted: Etc/GMT-2 is UTC+2.
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def config_text(
    tmp: Path,
    *,
    db_url: str,
    ami_port: int,
    agents: int = 2,
    drain: float = 3.0,
    extra: str = "",
) -> str:
    lines = [
        "[store]",
        f'url = "{db_url}"',
        "[[asterisk]]",
        'name = "sim"',
        'host = "127.0.0.1"',
        f"port = {ami_port}",
        'username = "dialer"',
        'secret_env = "E2E_AMI_SECRET"',
        "ping_interval = 0.5",
        "dead_peer_timeout = 2",
        "reconnect_backoff_min = 0.2",
        "reconnect_backoff_max = 1",
        "[api]",
        "port = 0",
        "[[api.tokens]]",
        'name = "ops"',
        'role = "admin"',
        'token = "e2e-admin-token-0123456789"',
        "[engine]",
        "tick = 0.5",
        f"drain_timeout = {drain}",
        "[[campaigns]]",
        'glob = "campaigns/*.toml"',
        "[logging]",
        'format = "json"',
        'level = "info"',
    ]
    for i in range(1, agents + 1):
        lines += [
            "[[agents]]",
            f'name = "agent-{i}"',
            f'interface = "Local/agent-{i}@sim-agents"',
            f'campaigns = ["{CAMPAIGN}"]',
        ]
    return "\n".join(lines) + "\n" + extra


CAMPAIGN_TOML = f"""
name = "{CAMPAIGN}"
timezone = "UTC"
[dial]
mode = "progressive"
[schedule]
status = "enabled"
[wrapup]
limit = "2s"
default_status = "success"
default_detail = "talked"
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


@dataclass
class Setup:
    config: Path
    db_url: str
    env: dict[str, str] = field(default_factory=dict)


async def prepare(
    tmp: Path, ami_port: int, *, migrate: bool = True, contacts: int = 40, drain: float = 3.0
) -> Setup:
    """Config, campaign file and (optionally) a migrated store holding ``contacts``."""
    (tmp / "campaigns").mkdir(exist_ok=True)
    (tmp / "campaigns" / f"{CAMPAIGN}.toml").write_text(CAMPAIGN_TOML)
    db_url = f"sqlite+aiosqlite:///{tmp / 'dialerd.db'}"
    cfg = tmp / "dialerd.toml"
    cfg.write_text(config_text(tmp, db_url=db_url, ami_port=ami_port, drain=drain))
    if migrate:
        await upgrade(db_url)
        if contacts:
            store = await Store.open(db_url)
            try:
                spec = validate_campaign_spec(
                    __import__("tomllib").loads(CAMPAIGN_TOML), "e2e.toml"
                )
                now = datetime.now(UTC)
                campaign = await store.create_campaign(spec, now)
                zone = daytime_zone()
                await store.add_contacts(
                    campaign.id,
                    [
                        NewContact(phone=f"+4930123{i:05d}", last_name=f"E2E {i}", timezone=zone)
                        for i in range(contacts)
                    ],
                    now,
                )
            finally:
                await store.close()
    env = {**os.environ, "E2E_AMI_SECRET": "dialerpass", "PYTHONUNBUFFERED": "1"}
    for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"):
        env.pop(key, None)
    return Setup(cfg, db_url, env)


class NotifySocket:
    """The systemd side of sd_notify: an AF_UNIX datagram socket collecting messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[tuple[float, dict[str, str]]] = []

    async def receive(self, within: float) -> dict[str, str] | None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(within):
                data = await loop.sock_recv(self.sock, 65536)
        except TimeoutError:
            return None
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
        self.messages.append((loop.time(), fields))
        return fields

    async def wait_for(self, key: str, value: str = "1", within: float = 20.0) -> dict[str, str]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (left := deadline - loop.time()) > 0:
            msg = await self.receive(left)
            if msg is not None and msg.get(key) == value:
                return msg
        raise AssertionError(
            f"no {key}={value} within {within} s; got {[m for _, m in self.messages]}"
        )

    def close(self) -> None:
        self.sock.close()


@asynccontextmanager
async def daemon_process(
    setup: Setup, env: dict[str, str] | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``dialerd run`` with its output in files beside the config (a full pipe would block it)."""
    out = (setup.config.parent / "stdout.log").open("wb")
    err = (setup.config.parent / "stderr.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        str(DIALERD),
        "run",
        "--config",
        str(setup.config),
        stdout=out,
        stderr=err,
        env=env or setup.env,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signal.SIGKILL)
            await proc.wait()
        out.close()
        err.close()


def output(setup: Setup) -> tuple[str, str]:
    d = setup.config.parent
    return (d / "stdout.log").read_text(), (d / "stderr.log").read_text()
