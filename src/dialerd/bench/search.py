"""``dialerd bench search``: contact search (name, e-mail, phone; partial) on one million contacts.

Builds a fresh, migrated SQLite file with N contacts in one campaign (bulk-inserted with the
standard library, since the subject here is reading; the FTS5 trigram index of migration 0004 is
built in one go afterwards, as the importer does), then runs the searches agents type through
both search functions: the REST API's contact search
(:func:`dialerd.store.lookup.search_contacts`, exact total) and the work-queue search
(:func:`dialerd.store.agentwork.search_leads`, one box, total capped). Each page is 20 plus a
count. Candidate: with the trigram index. Baseline, in the same run on the same file: the index
dropped, so the same functions fall back to ``LIKE '%x%'`` (a scan per query), which is what
search did before the index existed.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialerd.domain import campaign_spec as cs
from dialerd.store import Store, upgrade
from dialerd.store.agentwork import search_leads
from dialerd.store.lookup import search_contacts

#: The FTS5 table and its triggers (migration 0004); dropped for the LIKE baseline.
FTS_TABLE = "contacts_search"
INSERT_TRIGGER = "contacts_search_ai"
TRIGGERS = (INSERT_TRIGGER, "contacts_search_ad", "contacts_search_au")
_FIRST = ("Anna", "Ben", "Carla", "David", "Emma", "Felix", "Greta", "Hugo", "Ida", "Jonas")
_LAST = ("Müller", "Schmidt", "Fischer", "Weber", "Meyer", "Wagner", "Smith", "Brown", "Koch")
_COMPANY = ("GmbH", "AG", "KG", "Ltd", "Inc", "e.K.")

#: (label, search kind, text for the API search, text as an agent types it in the work queue).
QUERIES: tuple[tuple[str, str, str, str], ...] = (
    ("name, common", "name", "schmi", "schmi"),
    ("name, rare", "name", "zeller-9", "zeller-9"),
    ("full name", "name", "anna müller", "anna müller"),
    ("email, partial", "email", "greta.wag", "greta.wag"),
    ("email, rare", "email", "x-42@", "x-42@"),
    ("phone, national digits", "phone", "30123", "030 123"),
    ("phone, rare digits", "phone", "9876543", "987 6543"),
)


@dataclass(frozen=True, slots=True)
class Row:
    query: str
    kind: str
    text: str
    matches: int
    matches_capped: int
    api_like_ms: float
    api_index_ms: float
    work_like_ms: float
    work_index_ms: float

    @property
    def api_speedup(self) -> float:
        return self.api_like_ms / self.api_index_ms if self.api_index_ms else 0.0

    @property
    def work_speedup(self) -> float:
        return self.work_like_ms / self.work_index_ms if self.work_index_ms else 0.0


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "search", help="contact search (name/email/phone, partial) on 1M contacts"
    )
    p.add_argument("--contacts", type=int, default=1_000_000, help="contacts (1,000,000)")
    p.add_argument("--repeat", type=int, default=5, help="runs per query (median reported)")
    p.add_argument("--out", default="bench/results", help="directory for the JSON results")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run)


def _fill(path: Path, campaign_id: int, task_id: int, n: int, seed: int) -> tuple[float, bool]:
    """Insert ``n`` contacts; returns the seconds spent building the search index and whether
    there is one (no FTS5/trigram in this SQLite: the migration leaves it out)."""
    rnd = random.Random(seed)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        trigger = con.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?", (INSERT_TRIGGER,)
        ).fetchone()
        if trigger is not None:
            con.execute(f"DROP TRIGGER {INSERT_TRIGGER}")

        def rows() -> Any:
            for i in range(n):
                first, last = rnd.choice(_FIRST), rnd.choice(_LAST)
                if i % 100_000 == 9:
                    last = f"Zeller-{i // 100_000}"
                phone = f"+49{rnd.choice(('30', '40', '89', '221'))}{rnd.randrange(10**7, 10**8)}"
                email = f"{first}.{last}{i}@example.com".lower()
                if i % 250_000 == 42:
                    email = f"x-{i // 250_000 + 42}@example.org"
                company = f"{last} {rnd.choice(_COMPANY)}"
                yield (campaign_id, task_id, phone, first, last, company, email, now, now)

        con.executemany(
            "INSERT INTO contacts (campaign_id, task_id, status, status_detail, phone, "
            "first_name, last_name, company, email, fields, attempts, created_at, updated_at) "
            "VALUES (?, ?, 'open', '$none', ?, ?, ?, ?, ?, '{\"segment\": \"A\"}', 0, ?, ?)",
            rows(),
        )
        con.commit()
        t0 = time.perf_counter()
        if trigger is not None:
            con.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
            con.execute(trigger[0])
            con.commit()
        index_s = time.perf_counter() - t0
        con.execute("ANALYZE")
        con.commit()
    finally:
        con.close()
    return index_s, trigger is not None


def _drop_index(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        for name in TRIGGERS:
            con.execute(f"DROP TRIGGER IF EXISTS {name}")
        con.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        con.commit()
    finally:
        con.close()


async def _median(fn: Any, repeat: int) -> tuple[float, int]:
    runs: list[float] = []
    total = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        _, total = await fn()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs), total


async def _measure(url: str, campaign_id: int, repeat: int) -> list[tuple[float, int, float, int]]:
    """Per query: (API ms, API total, work ms, work total)."""
    out: list[tuple[float, int, float, int]] = []
    async with await Store.open(url) as store:
        for _label, kind, api_text, typed in QUERIES:
            kw: dict[str, Any] = {
                "name": {"name": api_text},
                "email": {"email": api_text},
                "phone": {"phone_digits": api_text},
            }[kind]

            def api(kw: dict[str, Any] = kw) -> Any:
                return search_contacts(store, campaign_id, limit=20, **kw)

            def work(typed: str = typed) -> Any:
                return search_leads(store, campaign_id, typed, limit=20)

            api_ms, api_total = await _median(api, repeat)
            work_ms, work_total = await _median(work, repeat)
            out.append((api_ms, api_total, work_ms, work_total))
    return out


def _write(outdir: Path, result: dict[str, Any]) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    target = outdir / "search.json"
    target.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return target


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dialerd-bench-search-") as tmp:
        path = Path(tmp) / "search.sqlite"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade(url)
        spec = cs.CampaignSpec.model_validate(
            {"name": "bench", "tasks": [{"name": "call", "type": "call"}]}
        )
        async with await Store.open(url) as store:
            camp = await store.create_campaign(spec, datetime.now(UTC))
            task_id = (await store.tasks(camp.id))[0].id
        t0 = time.perf_counter()
        index_s, indexed = _fill(path, camp.id, task_id, args.contacts, args.seed)
        fill_s = time.perf_counter() - t0
        with_index = await _measure(url, camp.id, args.repeat)
        size_mb = path.stat().st_size / 1e6
        _drop_index(path)
        with_like = await _measure(url, camp.id, args.repeat)
    rows: list[Row] = []
    for (label, kind, _api_text, typed), idx, like in zip(
        QUERIES, with_index, with_like, strict=True
    ):
        if (idx[1], idx[3]) != (like[1], like[3]):
            raise RuntimeError(f"{label}: index and LIKE disagree: {idx} vs {like}")
        rows.append(Row(label, kind, typed, idx[1], idx[3], like[0], idx[0], like[2], idx[2]))
    out = sys.stdout
    out.write(
        f"\n## contact search, {args.contacts:,} contacts (SQLite {sqlite3.sqlite_version}, "
        f"median of {args.repeat}, page of 20 + total count)\n\n"
        f"Baseline: `LIKE '%x%'` scan (index dropped). Candidate: FTS5 trigram index "
        f"({'built' if indexed else 'NOT AVAILABLE in this SQLite'}, {index_s:.1f} s for "
        f"{args.contacts:,} rows).\n\n"
    )
    out.write(
        "| query | typed | matches | API LIKE (ms) | API index (ms) | speed-up "
        "| work LIKE (ms) | work index (ms) | speed-up |\n"
    )
    out.write("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        out.write(
            f"| {r.query} | `{r.text}` | {r.matches:,} | {r.api_like_ms:.1f} | "
            f"{r.api_index_ms:.1f} | {r.api_speedup:.1f}x | {r.work_like_ms:.1f} | "
            f"{r.work_index_ms:.1f} | {r.work_speedup:.1f}x |\n"
        )
    result = {
        "benchmark": "search",
        "contacts": args.contacts,
        "repeat": args.repeat,
        "fill_seconds": round(fill_s, 2),
        "index_seconds": round(index_s, 2),
        "indexed": indexed,
        "db_megabytes": round(size_mb, 1),
        "sqlite": sqlite3.sqlite_version,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "rows": [
            {
                **asdict(r),
                "api_speedup": round(r.api_speedup, 2),
                "work_speedup": round(r.work_speedup, 2),
            }
            for r in rows
        ],
    }
    target = _write(Path(args.out), result)
    out.write(f"\nresults: {target}\n")
    return 0
