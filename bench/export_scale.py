"""Exports at scale: wall time and peak memory growth of each export path, per format.

The paths are the ones an operator uses: the REST API download
(``GET /api/v1/campaigns/{campaign}/tasks/{task}/export``, served by uvicorn in a child process
as in the daemon, read by a client in this process), the command line (``dialerd export``, when
the ``dialerd`` in use has it) and the export task (``TaskRunner.run_once`` until its contacts
are written; it writes one file per batch of ``export_batch_size`` contacts and moves each
contact on through the taskflow, 1,000 to a transaction (one per contact before), so it is
run on ``--task-contacts`` contacts, not on the full table).

Each measurement runs in a fresh process. Memory: the kernel's high-water mark of that process
(``VmHWM``, reset through ``/proc/PID/clear_refs`` just before the export starts) less its
resident size at that moment (``VmRSS``): how much the export added at its peak. For the
command line, whose process does nothing else, the peak itself (``ru_maxrss``) is given too.

    PYTHONPATH=src .venv/bin/python bench/export_scale.py \
        [--contacts 100000,500000] [--backends sqlite,postgresql] \
        [--pg-url postgresql+asyncpg://root@127.0.0.1:5432/test] [--paths http,cli,task] \
        [--formats csv,xlsx] [--task-contacts 20000] [--lift-cap] [--out bench/results]

PostgreSQL: a database ``dialerd_bench_export`` is created next to the one the URL names and
dropped at the end. The same script measures the code before and after a change (set
``PYTHONPATH`` to the other tree): it uses only the API, the CLI and the task runner.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from dialerd.domain import campaign_spec as cs
from dialerd.domain.changes import NewContact
from dialerd.store import Store, upgrade

TOKEN = "bench-export-token-0123456789"
BENCH_DB = "dialerd_bench_export"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_FIRST = ("Anna", "Ben", "Çelik", "David", "Émilie", "Felix", "Greta", "Hugo", "Ida", "Jonas")
_LAST = ("Müller", "Schmidt", "Fischer", "Weber", "Meyer", "Wagner", "Smith", "O'Brien", "Koch")
_ZONES = ("Europe/Berlin", "Europe/Vienna", "America/New_York", None)


@dataclass(frozen=True, slots=True)
class Row:
    backend: str
    contacts: int
    path: str
    format: str
    seconds: float
    rss_growth_mb: float
    peak_rss_mb: float
    bytes: int
    rows: int


# -- data ----------------------------------------------------------------------------------------


def _contacts(n: int, seed: int) -> Iterator[NewContact]:
    rnd = random.Random(seed)
    for i in range(n):
        first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
        yield NewContact(
            phone=f"+49{rnd.choice(('30', '40', '89', '221'))}{rnd.randrange(10**7, 10**8)}",
            first_name=first,
            last_name=last,
            company=f"{last} GmbH" if i % 3 else None,
            email=f"{first}.{last}{i}@example.com".lower(),
            timezone=_ZONES[i % len(_ZONES)],
            external_id=f"crm-{i:07d}",
            list_name="spring",
            fields={"segment": "ABC"[i % 3], "plan": f"p{i % 17}", "score": i % 100},
            due_at=NOW + timedelta(hours=i % 48) if i % 10 == 0 else None,
        )


def _spec(name: str, folder: Path | None) -> cs.CampaignSpec:
    tasks: list[dict[str, Any]] = [{"name": "call", "type": "call"}]
    if folder is not None:
        for fmt in ("csv", "xlsx"):
            tasks.append(
                {
                    "name": f"out_{fmt}",
                    "type": "export",
                    "settings": {"folder": str(folder / fmt), "format": fmt},
                }
            )
    return cs.CampaignSpec.model_validate({"name": name, "tasks": tasks, "start_task": "call"})


_COLUMNS = (
    "campaign_id",
    "task_id",
    "status",
    "status_detail",
    "phone",
    "first_name",
    "last_name",
    "company",
    "email",
    "timezone",
    "external_id",
    "list_name",
    "fields",
    "attempts",
    "due_at",
    "created_at",
    "updated_at",
)


def _records(
    campaign_id: int, task_id: int, contacts: Iterator[NewContact]
) -> Iterator[tuple[Any, ...]]:
    for c in contacts:
        yield (
            campaign_id,
            task_id,
            "open",
            "$none",
            c.phone,
            c.first_name,
            c.last_name,
            c.company,
            c.email,
            c.timezone,
            c.external_id,
            c.list_name,
            json.dumps(c.fields),
            0,
            c.due_at,
            NOW,
            NOW,
        )


async def _fill(url: str, n: int, task_n: int, folder: Path, seed: int) -> float:
    """Store ``n`` contacts in task ``call`` of campaign ``bench`` and ``task_n`` in each export
    task of campaign ``tasks``, in bulk (the subject is reading them: see ``dialerd bench
    import`` for writing); search index and planner statistics as after an import."""
    t0 = time.perf_counter()
    async with await Store.open(url) as store:
        camp = await store.create_campaign(_spec("bench", None), NOW)
        loads = [(camp.id, (await store.tasks(camp.id))[0].id, _contacts(n, seed))]
        if task_n:
            tasks = await store.create_campaign(_spec("tasks", folder), NOW)
            for t in await store.tasks(tasks.id):
                if t.name.startswith("out_"):
                    due_now = (replace(c, due_at=None) for c in _contacts(task_n, seed + 1))
                    loads.append((tasks.id, t.id, due_now))
        dialect = store.dialect
    if dialect == "sqlite":
        path = url.split("///", 1)[1]
        con = sqlite3.connect(path)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            (trigger,) = con.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?",
                ("contacts_search_ai",),
            ).fetchone()
            con.execute("DROP TRIGGER contacts_search_ai")
            stamp = "%Y-%m-%d %H:%M:%S.%f"
            marks = ", ".join("?" for _ in _COLUMNS)
            for campaign_id, task_id, contacts in loads:
                con.executemany(
                    f"INSERT INTO contacts ({', '.join(_COLUMNS)}) VALUES ({marks})",
                    (
                        r[:14]
                        + tuple(v.astimezone(UTC).strftime(stamp) if v else None for v in r[14:])
                        for r in _records(campaign_id, task_id, contacts)
                    ),
                )
            con.execute("INSERT INTO contacts_search(contacts_search) VALUES ('rebuild')")
            con.execute(trigger)
            con.commit()
            con.execute("ANALYZE")
            con.commit()
        finally:
            con.close()
    else:
        import asyncpg  # type: ignore[import-untyped]

        con = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            for campaign_id, task_id, contacts in loads:
                await con.copy_records_to_table(
                    "contacts", records=_records(campaign_id, task_id, contacts), columns=_COLUMNS
                )
            await con.execute("ANALYZE contacts")
        finally:
            await con.close()
    return time.perf_counter() - t0


@contextlib.asynccontextmanager
async def _database(backend: str, pg_url: str, tmp: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / 'export.sqlite'}"
        return
    import asyncpg

    plain = pg_url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(plain)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        await admin.execute(f"CREATE DATABASE {BENCH_DB}")
        yield pg_url.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        await admin.close()


# -- memory of a process -------------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def _reset_peak(pid: int) -> int:
    """Reset the high-water mark of ``pid``; its resident size now (kB)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _status_kb(pid, "VmRSS")


# -- the paths -----------------------------------------------------------------------------------


async def _http(url: str, fmt: str, n: int, lift_cap: bool) -> tuple[float, int, int, int, int]:
    """(seconds, bytes, rows, server's RSS growth kB, its peak kB) of one download."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve-lifted" if lift_cap else "--serve",
        url,
        stdout=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        line = b""
        while not line.startswith(b"PORT "):
            line = await child.stdout.readline()
            if not line:
                raise RuntimeError("the API child ended before listening")
        port = int(line.split()[1])
        base = f"http://127.0.0.1:{port}"
        path = "/api/v1/campaigns/bench/tasks/call/export"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:
            # warm up (imports, first connection) on an empty selection
            r = await client.get(path, params={"format": fmt, "status": "failed"}, headers=headers)
            r.raise_for_status()
            before = _reset_peak(child.pid)
            size = 0
            newlines = 0
            t0 = time.perf_counter()
            async with client.stream(
                "GET", path, params={"format": fmt}, headers=headers
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    return time.perf_counter() - t0, 0, -response.status_code, 0, 0
                async for part in response.aiter_bytes():
                    size += len(part)
                    newlines += part.count(b"\n")
            seconds = time.perf_counter() - t0
            peak = _status_kb(child.pid, "VmHWM")
    finally:
        child.stdin.close()
        await child.wait()
    rows = newlines - 1 if fmt == "csv" else n
    return seconds, size, rows, peak - before, peak


def _serve(url: str, lift_cap: bool = False) -> None:
    """Child: the API over the store at ``url`` on a free port (printed), until stdin closes.
    ``lift_cap``: lift the download's old 200,000-contact limit (``MAX_ROWS`` of the code before
    exports streamed) to measure that code on more contacts."""
    from dialerd.api import ApiServer, Role, TokenGrant, build_app, routes_exports

    if lift_cap and hasattr(routes_exports, "MAX_ROWS"):
        routes_exports.MAX_ROWS = 10**9

    async def main() -> None:
        async with await Store.open(url) as store:
            app = build_app(store, tokens=[TokenGrant("bench", Role.ADMIN, TOKEN)])
            server = ApiServer(app, "127.0.0.1", 0, shutdown_timeout=1.0)
            port = server.bind()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(server.serve())
                await server.started.wait()
                print(f"PORT {port}", flush=True)
                await asyncio.to_thread(sys.stdin.read)
                await server.shutdown()

    asyncio.run(main())


def _cli(url: str, fmt: str, n: int, tmp: Path) -> tuple[float, int, int, int, int] | None:
    """(seconds, bytes, rows, growth kB, peak kB) of ``dialerd export``; None if it has none."""
    exe = [sys.executable, "-m", "dialerd.cli.main"]
    probe = subprocess.run([*exe, "export", "--help"], capture_output=True)
    if probe.returncode != 0:
        return None
    out = tmp / f"cli.{fmt}"
    empty = tmp / f"cli-empty.{fmt}"
    common = ["--db", url, "--format", fmt, "bench", "call"]
    runs: list[tuple[float, int]] = []
    for target, extra in ((empty, ["--status", "failed"]), (out, [])):
        t0 = time.perf_counter()
        proc = subprocess.Popen([*exe, "export", *common, *extra, "--output", str(target)])
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"dialerd export exited {proc.returncode}")
        runs.append((time.perf_counter() - t0, usage.ru_maxrss))
    (_, idle_kb), (seconds, peak_kb) = runs
    # counted a piece at a time: a child forked while this process is large would start with
    # that size as its peak (ru_maxrss counts the pages it had before exec)
    size = out.stat().st_size
    newlines = 0
    with out.open("rb") as f:
        while piece := f.read(1 << 20):
            newlines += piece.count(b"\n")
    rows = newlines - 1 if fmt == "csv" else n
    out.unlink()
    empty.unlink()
    return seconds, size, rows, peak_kb - idle_kb, peak_kb


def _task_child(url: str, fmt: str) -> None:
    """Child: the export task ``out_<fmt>`` of campaign ``tasks`` run until it has no contact
    left; prints JSON (seconds, growth kB, peak kB, contacts)."""
    from dialerd.domain.clock import ManualClock
    from dialerd.engine.tasks import TaskRunner

    async def main() -> dict[str, Any]:
        async with await Store.open(url) as store:
            camp = await store.get_campaign("tasks")
            clock = ManualClock(NOW)
            runner = TaskRunner(store, camp.id, clock, holder="bench")
            before = _reset_peak(os.getpid())
            t0 = time.perf_counter()
            done = 0
            while True:
                n = await runner.export_now(f"out_{fmt}")
                if n == 0:
                    break
                done += n
            seconds = time.perf_counter() - t0
            peak = _status_kb(os.getpid(), "VmHWM")
            return {"seconds": seconds, "growth": peak - before, "peak": peak, "rows": done}

    print(json.dumps(asyncio.run(main())), flush=True)


def _task(url: str, fmt: str, folder: Path) -> tuple[float, int, int, int, int]:
    proc = subprocess.run(
        [sys.executable, __file__, "--task-child", url, fmt],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in (folder / fmt).glob(f"*.{fmt}"))
    return got["seconds"], size, got["rows"], got["growth"], got["peak"]


# -- the run -------------------------------------------------------------------------------------


async def _measure(args: argparse.Namespace) -> list[Row]:
    rows: list[Row] = []
    for backend in args.backends:
        for n in args.contacts:
            with tempfile.TemporaryDirectory(prefix="dialerd-bench-export-") as name:
                tmp = Path(name)
                async with _database(backend, args.pg_url, tmp) as url:
                    await upgrade(url)
                    task_n = args.task_contacts if "task" in args.paths else 0
                    fill_s = await _fill(url, n, task_n, tmp / "out", args.seed)
                    print(f"{backend}: {n} contacts stored in {fill_s:.1f} s", file=sys.stderr)
                    for path in args.paths:
                        for fmt in args.formats:
                            got: tuple[float, int, int, int, int] | None
                            if path == "http":
                                got = await _http(url, fmt, n, args.lift_cap)
                            elif path == "cli":
                                got = await asyncio.to_thread(_cli, url, fmt, n, tmp)
                            else:
                                got = await asyncio.to_thread(_task, url, fmt, tmp / "out")
                            if got is None:
                                print(f"{path}: not in this dialerd", file=sys.stderr)
                                continue
                            seconds, size, count, growth, peak = got
                            row = Row(
                                backend,
                                task_n if path == "task" else n,
                                path,
                                fmt,
                                round(seconds, 2),
                                round(growth / 1024, 1),
                                round(peak / 1024, 1),
                                size,
                                count,
                            )
                            print(row, file=sys.stderr)
                            rows.append(row)
                    shutil.rmtree(tmp / "out", ignore_errors=True)
    return rows


def _table(rows: list[Row]) -> str:
    out = [
        "| back end | contacts | path | format | seconds | RSS growth MB | peak RSS MB | MB out |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r.backend} | {r.contacts:,} | {r.path} | {r.format} | {r.seconds:.2f} | "
            f"{r.rss_growth_mb:.1f} | {r.peak_rss_mb:.1f} | {r.bytes / 1e6:.1f} |"
        )
    return "\n".join(out)


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] in ("--serve", "--serve-lifted"):
        _serve(sys.argv[2], lift_cap=sys.argv[1] == "--serve-lifted")
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "--task-child":
        _task_child(sys.argv[2], sys.argv[3])
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    def listed(text: str) -> list[str]:
        return [t.strip() for t in text.split(",") if t.strip()]

    p.add_argument("--contacts", type=lambda t: [int(x) for x in listed(t)], default=[100_000])
    p.add_argument("--backends", type=listed, default=["sqlite"])
    p.add_argument("--pg-url", default="postgresql+asyncpg://root@127.0.0.1:5432/test")
    p.add_argument("--paths", type=listed, default=["http", "cli", "task"])
    p.add_argument("--formats", type=listed, default=["csv", "xlsx"])
    p.add_argument("--task-contacts", type=int, default=20_000)
    p.add_argument(
        "--lift-cap",
        action="store_true",
        help="code before streaming: lift its 200,000-contact download limit",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results")
    args = p.parse_args()
    rows = asyncio.run(_measure(args))
    table = _table(rows)
    print(table)
    outdir = Path(args.out)
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / "export_scale.json"
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average": os.getloadavg(),
        "args": {k: v for k, v in vars(args).items()},
        "rows": [asdict(r) for r in rows],
    }
    target.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n(JSON: {target})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
