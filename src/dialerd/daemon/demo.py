"""``dialerd demo``: the simulated Asterisk and the real daemon together, in one process.

What is simulated and what is real, so the demo does not oversell:

- simulated: the Asterisk (:class:`dialerd.sim.SimAsterisk`, real AMI over loopback TCP), the
  called people (answer, busy, no answer ... by the simulator's model), the agents' softphones
  (``Local/agent-N@sim-agents``) and the agents' dispositions (given a few seconds into wrap-up);
- real: everything else. The daemon is the one ``dialerd run`` starts (store, AMI links,
  engine, pacing, API, /metrics), on a fresh SQLite file under ``./var/demo/``.
- time: one accelerated clock (``--speed``) drives the simulator and the engine. It starts on
  a weekday at 10:00 in the campaign's time zone, so the calling-hours guard (08:00-21:00 in
  each contact's own zone, never switched off) lets the German contacts be dialed at once while
  contacts whose local time is still night wait, whatever the time of day the demo is run.
"""

from __future__ import annotations

import asyncio
import csv
import random
import signal
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import structlog

import dialerd
from dialerd.config import DaemonConfig, validate_config
from dialerd.daemon.app import Daemon, first_error
from dialerd.daemon.console import ConsoleView, ViewHeader, contacts_by_task
from dialerd.daemon.observe import Totals
from dialerd.daemon.provision import provision
from dialerd.daemon.sdnotify import Notifier
from dialerd.domain.campaign_spec import load_campaign_spec
from dialerd.domain.changes import OverviewRow
from dialerd.domain.clock import ScaledClock, SystemClock
from dialerd.domain.enums import AgentState, Status
from dialerd.engine import AgentStateChanged, Engine, EngineError, EngineEvent
from dialerd.sim import SimAsterisk
from dialerd.store import Store, upgrade
from dialerd.taskflow.calling_hours import inside
from dialerd.taskflow.import_job import import_file

log = structlog.get_logger(__name__)

CAMPAIGN = "demo"
ADMIN_TOKEN_NAME = "demo-admin"


def config_dir() -> Path:
    """The repository's ``config/`` (an editable install) or ``./config``."""
    here = Path(dialerd.__file__).resolve().parents[2] / "config"
    return here if (here / "dialerd-demo.toml").is_file() else Path.cwd() / "config"


@dataclass(frozen=True, slots=True)
class DemoOptions:
    minutes: float | None = None
    speed: float = 10.0
    agents: int = 10
    contacts: int = 3000
    port: int = 8080
    seed: int = 1
    workdir: Path = Path("var/demo")
    config: Path = field(default_factory=config_dir)


@dataclass(slots=True)
class DemoSummary:
    real_seconds: float
    demo_seconds: float
    totals: Totals
    overview: list[OverviewRow]
    imported: int

    def lines(self, speed: float) -> list[str]:
        t = self.totals
        rate = f"{t.abandonment_rate:.1%}" if t.answered else "n/a"
        out = [
            f"summary: {self.real_seconds / 60:.1f} real minutes = "
            f"{self.demo_seconds / 60:.0f} demo minutes at {speed:g}x",
            f"  calls placed {t.placed}, finished {t.finished}, answered by a person "
            f"{t.answered}, connected to agents {t.connected}, abandoned {t.abandoned} "
            f"({rate} of live answers)",
        ]
        if t.results:
            out.append("  results: " + ", ".join(f"{k} {v}" for k, v in sorted(t.results.items())))
        out.append(f"  contacts ({self.imported} imported) per task/status:")
        for task, parts in contacts_by_task(self.overview).items():
            out.append(f"    {task:<10} " + ", ".join(parts))
        return out


def demo_start(timezone: str, now: datetime) -> datetime:
    """The next weekday (today if it is one) at 10:00 in ``timezone``, as an aware datetime."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, dtime(10, 0), tzinfo=zone).astimezone(UTC)


def port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def demo_config(
    base: Path, db_url: str, ami_port: int, api_port: int, agents: int, speed: float = 10.0
) -> DaemonConfig:
    """``config/dialerd-demo.toml`` with this run's database, ports, campaign and agents.

    The drain at the end lets calls in progress finish (up to a minute of demo time, at most
    ten seconds of real time), so the summary shows what the callees did, not a cut-off.
    """
    source = base / "dialerd-demo.toml"
    data: dict[str, Any] = tomllib.loads(source.read_text("utf-8"))
    data.setdefault("engine", {})["drain_timeout"] = min(60.0, 10.0 * speed)
    if db_url.startswith("sqlite") and "///" in db_url:
        # the journal of outcomes unwritten at a stop beside the demo's database
        data["engine"].setdefault("state_dir", str(Path(db_url.split("///", 1)[1]).parent))
    data["store"] = {"url": db_url}
    data["asterisk"][0]["port"] = ami_port
    data["api"]["port"] = api_port
    data["campaigns"] = [{"file": str((base / "campaigns" / f"{CAMPAIGN}.toml").resolve())}]
    data["agents"] = [
        {"name": f"agent-{i}", "interface": f"Local/agent-{i}@sim-agents", "campaigns": [CAMPAIGN]}
        for i in range(1, agents + 1)
    ]
    names = {a["name"] for a in data["agents"]}
    data["api"]["tokens"] = [
        t for t in data["api"].get("tokens", []) if t.get("agent") is None or t["agent"] in names
    ]
    return validate_config(data, source)


def write_contacts(sample: Path, target: Path, count: int) -> Path:
    """The first ``count`` sample contacts; more than the sample holds are made up (DE)."""
    with sample.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out = body[:count]
    rng = random.Random(count)
    n = len(out)
    while len(out) < count:
        n += 1
        row = dict.fromkeys(header, "")
        row.update(
            phone=f"+49301{rng.randrange(10**6, 10**7)}",
            first_name="Demo",
            last_name=f"Contact {n}",
            email=f"demo.{n}@example.de",
            customer_no=f"D{n:06d}",
        )
        out.append([row[h] for h in header])
    with target.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(out)
    return target


class DemoDesk:
    """The simulated agents' desktops: a disposition a few (demo) seconds into wrap-up."""

    OUTCOMES: tuple[tuple[Status, str, float], ...] = (
        (Status.SUCCESS, "sale", 0.25),
        (Status.SUCCESS, "interested", 0.15),
        (Status.DECLINED, "not_interested", 0.45),
        (Status.FAILED, "wrong_person", 0.15),
    )

    def __init__(self, clock: ScaledClock, seed: int) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.given = 0

    def __call__(self, event: EngineEvent) -> None:
        if (
            isinstance(event, AgentStateChanged)
            and event.state is AgentState.WRAPUP
            and event.previous is not AgentState.WRAPUP  # not a queue joined in wrap-up
        ):
            self.queue.put_nowait(event.agent)

    async def run(self, daemon: Daemon) -> None:
        async with asyncio.TaskGroup() as tg:
            while True:
                agent = await self.queue.get()
                if daemon.engine is not None:
                    tg.create_task(self._dispose(daemon.engine, agent))

    async def _dispose(self, engine: Engine, agent: str) -> None:
        await self.clock.sleep(self.rng.uniform(3.0, 12.0))
        weights = [w for _, _, w in self.OUTCOMES]
        status, detail, _ = self.rng.choices(self.OUTCOMES, weights)[0]
        try:
            await engine.disposition(agent, status, detail)
            self.given += 1
        except (EngineError, ValueError, LookupError) as exc:
            log.debug("demo disposition not applied", agent=agent, error=str(exc))


async def _overview(url: str) -> list[OverviewRow]:
    # The demo migrated this database itself at its start: no second schema check.
    store = await Store.open(url, check_schema=False)
    try:
        campaign = await store.get_campaign(CAMPAIGN)
        return await store.overview(campaign.id)
    finally:
        await store.close()


def _zones_note(zones: Iterable[str | None], now: datetime, tz: str) -> str:
    start, end = dtime(8, 0), dtime(21, 0)
    known = sorted({z or tz for z in zones})
    now_ok = [z for z in known if inside(now, z, start, end)]
    waiting = [z for z in known if z not in now_ok]
    text = f"dialable now: {', '.join(now_ok) or 'none'}"
    if waiting:
        text += f"; waiting for 08:00 local time: {', '.join(waiting)}"
    return text


def fresh_workdir(work: Path) -> tuple[Path, Path]:
    """An empty database path (old demo files removed) and the log path under ``work``."""
    work.mkdir(parents=True, exist_ok=True)
    db = (work / "demo.db").resolve()
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    for old in work.glob("unwritten-demo-*.jsonl"):  # outcomes of a database now gone
        old.unlink()
    return db, work / "dialerd.log"


async def run_demo(options: DemoOptions, out: TextIO) -> DemoSummary:
    """Run the demo until ``options.minutes`` have passed (or SIGINT/SIGTERM)."""
    from dialerd.daemon.logging import configure_logging

    db, log_path = fresh_workdir(options.workdir)
    url = f"sqlite+aiosqlite:///{db}"
    log_file = log_path.open("w", encoding="utf-8")
    try:
        configure_logging("info", "json", stream=log_file)
        return await _run(options, out, url, db, log_path)
    finally:
        log_file.close()


async def _run(
    options: DemoOptions, out: TextIO, url: str, db: Path, log_path: Path
) -> DemoSummary:
    spec = load_campaign_spec(options.config / "campaigns" / f"{CAMPAIGN}.toml")
    start = demo_start(spec.timezone, SystemClock().now())
    clock = ScaledClock(options.speed, start=start)
    await upgrade(url)
    port = options.port
    port_note = ""
    if port != 0 and not port_free("127.0.0.1", port):
        port_note = f" (port {port} is taken: picked a free one; --port sets it)"
        port = 0
    sim = SimAsterisk(host="127.0.0.1", port=0, clock=clock, seed=options.seed)
    await sim.start()
    try:
        config = demo_config(options.config, url, sim.port, port, options.agents, options.speed)
        store = await Store.open(url)
        try:
            await provision(store, config, clock.now())
            csv_path = write_contacts(
                options.config / "contacts" / "sample.csv",
                options.workdir / "contacts.csv",
                options.contacts,
            )
            report = await import_file(
                store, csv_path, campaign=CAMPAIGN, actor="demo", workers=0, clock=clock
            )
            campaign = await store.get_campaign(CAMPAIGN)
            zones = await store.contact_timezones(campaign.id)
        finally:
            await store.close()
        daemon = Daemon(
            config,
            clock=clock,
            notifier=Notifier(None),
            handle_signals=False,
            settings={"holder": "dialerd-demo"},
        )
        desk = DemoDesk(clock, options.seed)
        daemon.add_listener(desk)
        header = ViewHeader([], spec.timezone, options.speed, options.minutes)
        view = ConsoleView(daemon, header, out)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, daemon.request_stop)
        began = time.monotonic()
        demo_began = clock.monotonic()
        try:
            async with asyncio.TaskGroup() as tg:
                daemon_task = tg.create_task(daemon.run(), name="daemon")
                helpers = [tg.create_task(desk.run(daemon), name="demo-desk")]
                await _wait_ready(daemon, daemon_task)
                if daemon.ready.is_set():
                    token = next(
                        t.token.get_secret_value()
                        for t in config.api.tokens
                        if t.name == ADMIN_TOKEN_NAME
                    )
                    api = daemon.api_urls.get("api", "")
                    header.lines = [
                        f"simulated Asterisk: AMI on 127.0.0.1:{sim.port} (seed {options.seed}); "
                        f"{options.agents} simulated agents; store {db} (fresh, migrated)",
                        f"API {api}/docs (bearer token {token}){port_note}   "
                        f"metrics {api}/metrics   health {api}/healthz",
                        f"imported {report.imported} contacts into campaign {CAMPAIGN!r} "
                        f"({report.rejected} rejected, {report.duplicates} duplicates); "
                        f"log {log_path}",
                        f"demo clock starts {start.astimezone(ZoneInfo(spec.timezone)):%a %H:%M} "
                        f"{spec.timezone}; calling hours 08:00-21:00 contact-local are enforced: "
                        + _zones_note(zones, clock.now(), spec.timezone),
                    ]
                    out.write("\n".join(header.lines) + "\n")
                    out.flush()
                    helpers.append(tg.create_task(view.run(), name="console"))
                    if options.minutes is not None:
                        helpers.append(tg.create_task(_stop_after(daemon, options.minutes * 60.0)))
                try:
                    await daemon_task
                finally:
                    for h in helpers:
                        h.cancel()
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        await sim.stop()
    overview = await _overview(url)
    summary = DemoSummary(
        real_seconds=time.monotonic() - began,
        demo_seconds=clock.monotonic() - demo_began,
        totals=daemon.listener.totals,
        overview=overview,
        imported=report.imported,
    )
    out.write("\n".join(summary.lines(options.speed)) + "\n")
    out.flush()
    return summary


async def _wait_ready(daemon: Daemon, task: asyncio.Task[None]) -> None:
    ready = asyncio.ensure_future(daemon.ready.wait())
    try:
        await asyncio.wait({ready, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
        await asyncio.gather(ready, return_exceptions=True)


async def _stop_after(daemon: Daemon, seconds: float) -> None:
    await asyncio.sleep(seconds)  # real time: the user asked for real minutes
    daemon.request_stop()
