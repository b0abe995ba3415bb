"""``dialerd bench import``: contact import throughput on SQLite against plain ``executemany``.

Generates a CSV of N contacts (default one million) in a temporary directory, imports it into a
fresh, migrated SQLite file through the real import path (``dialerd.taskflow.import_file``:
sniffing, mapping, E.164 normalisation and validation in worker processes, duplicate checks,
one transaction with the import history), and in the same run inserts the same rows with the
standard library's ``sqlite3`` ``executemany`` into another fresh file with the same schema
(same table, same indexes, same pragmas, values taken as they are in the file). The ratio of the
two is the price of doing an import properly; the target is one million rows under two minutes.

The file mixes the ways numbers arrive in practice: E.164 (``+4930...``), German national format
with spaces (``030 1234 5678``) and US numbers written internationally with punctuation, spread
over several time zones, plus about 0.1% bad rows (missing or impossible numbers, broken e-mail
addresses) and, from the random draw, about 1.6% repeated numbers, so the error and duplicate
paths are exercised too.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import random
import resource
import sqlite3
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialerd.domain.contact_import import ImportMode
from dialerd.store.engine import make_engine
from dialerd.store.migrate import upgrade
from dialerd.taskflow.import_job import import_file

HEADER = ["phone", "first_name", "last_name", "company", "email", "customer_no", "segment"]
_FIRST = ("Anna", "Ben", "Carla", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas")
_LAST = ("Müller", "Schmidt", "Fischer", "Weber", "Meyer", "Wagner", "Smith", "Brown")
_DE_AREAS = ("30", "40", "89", "221", "69", "711", "211", "351")
_US_AREAS = ("212", "415", "312", "713", "303", "602", "206", "305")
_SEGMENTS = ("A", "B", "C")


@dataclass(frozen=True, slots=True)
class Measurement:
    path: str
    rows: int
    inserted: int
    seconds: float
    #: CPU seconds of this process and of its (finished) worker processes during the run.
    cpu_seconds: float = 0.0
    cpu_workers: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "import", help="contact import throughput vs plain executemany (SQLite)"
    )
    p.add_argument("--rows", type=int, default=1_000_000, help="rows to generate (1,000,000)")
    p.add_argument("--out", default="bench/results", help="directory for the JSON results")
    p.add_argument(
        "--workers", type=int, default=None, help="parser processes (default: 2 for big files)"
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the temporary files")
    p.set_defaults(func=run)


def generate_csv(path: Path, rows: int, seed: int = 1) -> int:
    """Write ``rows`` contacts; returns how many of them are deliberately bad."""
    rng = random.Random(seed)
    bad = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        for i in range(rows):
            kind = i % 4
            if kind == 0 or kind == 1:
                area = _DE_AREAS[i % len(_DE_AREAS)]
                local = f"{rng.randrange(2_000_000, 9_999_999)}{i % 10}"
                phone = f"+49{area}{local}" if kind == 0 else f"0{area} {local[:4]} {local[4:]}"
            elif kind == 2:
                area = _US_AREAS[i % len(_US_AREAS)]
                phone = f"+1 ({area}) {rng.randrange(200, 999)}-{i % 10_000:04d}"
            else:
                area = _DE_AREAS[i % len(_DE_AREAS)]
                phone = f"+49 {area} {rng.randrange(20_000_000, 99_999_999)}"
            email = f"c{i}@example.com"
            if i % 1000 == 999:
                bad += 1
                if i % 3000 == 999:
                    phone = ""
                elif i % 3000 == 1999:
                    phone = "12"
                else:
                    email = "broken@"
            w.writerow(
                [
                    phone,
                    _FIRST[i % len(_FIRST)],
                    _LAST[(i // 7) % len(_LAST)],
                    f"Firma {i % 5000}",
                    email,
                    f"K{i:08d}",
                    _SEGMENTS[i % 3],
                ]
            )
    return bad


def _setup_campaign(db: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    con = sqlite3.connect(db)
    try:
        with con:
            con.execute(
                "INSERT INTO campaigns (id, name, status, dial_mode, timezone, settings, "
                "start_task_id, created_at, updated_at) "
                "VALUES (1, 'bench', 'disabled', 'predictive', 'Europe/Berlin', '{}', 1, ?, ?)",
                (now, now),
            )
            con.execute(
                "INSERT INTO tasks (id, campaign_id, name, type, position, settings) "
                "VALUES (1, 1, 'call', 'call', 0, '{}')"
            )
    finally:
        con.close()


async def _real(csv_path: Path, db: Path, workers: int | None) -> Measurement:
    url = f"sqlite+aiosqlite:///{db}"
    await upgrade(url)
    _setup_campaign(db)
    engine = make_engine(url)
    try:
        t0 = time.perf_counter()
        report = await import_file(
            engine,
            csv_path,
            campaign="bench",
            mode=ImportMode.APPEND,
            actor="bench",
            region="DE",
            workers=workers,
        )
        seconds = time.perf_counter() - t0
    finally:
        await engine.dispose()
    return Measurement("dialerd import", report.rows, report.imported, seconds)


async def _baseline(csv_path: Path, db: Path) -> Measurement:
    await upgrade(f"sqlite+aiosqlite:///{db}")
    _setup_campaign(db)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    t0 = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA cache_size=-262144")
        con.execute("BEGIN IMMEDIATE")
        # The baseline is the bare insert: no search indexing (dialerd's import indexes the rows
        # for contact search in bulk at its end, which is part of what it is measured on).
        con.execute("DROP TRIGGER IF EXISTS contacts_search_ai")
        sql = (
            "INSERT INTO contacts (campaign_id, task_id, list_name, status, status_detail, "
            "attempts, created_at, updated_at, phone, first_name, last_name, company, email, "
            "external_id, fields) VALUES (1, 1, 'bench', 'open', '$none', 0, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?)"
        )
        rows = 0
        with csv_path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            next(reader)
            batch: list[tuple[str, ...]] = []
            for phone, first, last, company, email, customer, segment in reader:
                batch.append((now, now, phone, first, last, company, email, customer, segment))
                if len(batch) >= 20_000:
                    con.executemany(sql, batch)
                    rows += len(batch)
                    batch = []
            con.executemany(sql, batch)
            rows += len(batch)
        con.execute("COMMIT")
    finally:
        con.close()
    return Measurement("sqlite3 executemany (baseline)", rows, rows, time.perf_counter() - t0)


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _measured(m: Measurement, before: tuple[float, float]) -> Measurement:
    after = _cpu()
    return Measurement(
        m.path, m.rows, m.inserted, m.seconds, after[0] - before[0], after[1] - before[1]
    )


def _count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT count(*) FROM contacts").fetchone()[0])
    finally:
        con.close()


def run(args: argparse.Namespace) -> int:
    rows: int = args.rows
    out = Path(args.out)
    tmp = Path(tempfile.mkdtemp(prefix="dialerd-bench-import-"))
    try:
        csv_path = tmp / "contacts.csv"
        t0 = time.perf_counter()
        bad = generate_csv(csv_path, rows, args.seed)
        gen_s = time.perf_counter() - t0
        sys.stderr.write(f"generated {rows:,} rows ({bad} bad) in {gen_s:.1f} s: {csv_path}\n")
        before = _cpu()
        baseline = _measured(asyncio.run(_baseline(csv_path, tmp / "baseline.sqlite")), before)
        before = _cpu()
        real = _measured(asyncio.run(_real(csv_path, tmp / "dialerd.sqlite", args.workers)), before)
        stored = _count(tmp / "dialerd.sqlite")
        if stored != real.inserted:
            raise RuntimeError(f"import reported {real.inserted} rows but {stored} are stored")
    finally:
        if not args.keep:
            for p in sorted(tmp.glob("*"), reverse=True):
                p.unlink()
            tmp.rmdir()
    ratio = real.rows_per_second / baseline.rows_per_second if baseline.rows_per_second else 0.0
    per_million = 1_000_000 / real.rows_per_second if real.rows_per_second else float("inf")
    lines = [
        "| path | rows | inserted | seconds | rows/s | CPU s (main + workers) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in (real, baseline):
        lines.append(
            f"| {m.path} | {m.rows:,} | {m.inserted:,} | {m.seconds:.2f} | "
            f"{m.rows_per_second:,.0f} | {m.cpu_seconds:.1f} + {m.cpu_workers:.1f} |"
        )
    load = os.getloadavg()[0]
    lines.append("")
    lines.append(
        f"ratio dialerd/baseline: {ratio:.2f}; 1M rows take {per_million:.1f} s "
        f"(target < 120 s: {'met' if per_million < 120 else 'NOT met'}); "
        f"load average {load:.1f} on {os.cpu_count()} CPUs"
    )
    sys.stdout.write("\n".join(lines) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "import",
        "at": datetime.now(UTC).isoformat(),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "sqlite": sqlite3.sqlite_version,
        "rows": rows,
        "bad_rows": bad,
        "workers": args.workers,
        "dialerd": asdict(real) | {"rows_per_second": real.rows_per_second},
        "baseline": asdict(baseline) | {"rows_per_second": baseline.rows_per_second},
        "ratio": ratio,
        "seconds_per_million": per_million,
        "target_met": per_million < 120,
    }
    path = out / f"import-sqlite-{rows}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(f"results: {path}\n")
    return 0
