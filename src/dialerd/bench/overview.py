"""``dialerd bench overview``: taskflow overview and leasing on a campaign of N contacts.

Loads N contacts (default one million) into a fresh, migrated SQLite file (or ``--db`` for
PostgreSQL), spread over tasks, statuses, status details and waiting contacts the way a campaign
looks after some days of dialing, then times (median of ``--repeat`` runs):

- ``overview``: counts per task x status x status_detail incl. waiting (the dashboard query);
- ``count``: a plain ``COUNT(*)`` of the campaign's contacts - the baseline, same run, same data:
  the overview should cost little more than counting the rows at all;
- ``lease 50``: claiming 50 contacts (then released), the engine's per-tick query.

Prints a markdown table and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status
from dialerd.domain.selection import Condition, ContactSelection
from dialerd.store.migrate import upgrade
from dialerd.store.store import Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
BATCH = 20_000


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "overview", help="overview counts and leasing on a campaign of N contacts"
    )
    p.add_argument("--contacts", type=int, default=1_000_000, help="contacts (1,000,000)")
    p.add_argument("--repeat", type=int, default=5, help="timed runs per query (5)")
    p.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="JSON results dir")
    p.add_argument("--seed", type=int, default=1)
    p.set_defaults(func=run)


def _spec() -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "bench-overview",
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "success", "type": "export"},
                {"name": "declined", "type": "wait"},
                {"name": "failed", "type": "wait"},
            ],
            "rules": [{"from": "call", "status": "failed", "to": "failed", "delay": "1d"}],
        }
    )


async def _load(store: Store, campaign_id: int, n: int, seed: int) -> float:
    rng = random.Random(seed)
    start = time.perf_counter()
    done = 0
    while done < n:
        size = min(BATCH, n - done)
        batch = [
            NewContact(
                phone=f"+4930{done + i:08d}",
                first_name="Anna",
                last_name="Muster",
                fields={"bucket": rng.randrange(100), "priority": rng.randrange(10)},
            )
            for i in range(size)
        ]
        await store.add_contacts(campaign_id, batch, NOW, return_ids=False)
        done += size
        sys.stderr.write(f"\rloading {done:,}/{n:,}")
    sys.stderr.write("\n")
    # Shape: 20% success, 10% declined, 15% retries, 10% failed-and-waiting, rest fresh.
    plan: list[tuple[int, int, dict[str, Any]]] = [
        (0, 20, {"status": Status.SUCCESS, "status_detail": "sale"}),
        (20, 30, {"status": Status.DECLINED, "status_detail": "not_interested"}),
        (30, 45, {"status": Status.OPEN, "status_detail": "$follow_up_auto"}),
    ]
    for lo, hi, change in plan:
        sel = ContactSelection(
            conditions=(Condition("bucket", "ge", lo), Condition("bucket", "lt", hi))
        )
        await store.bulk_edit(campaign_id, sel, "bench", NOW, **change)
    failed = ContactSelection(
        conditions=(Condition("bucket", "ge", 45), Condition("bucket", "lt", 55))
    )
    await store.bulk_edit(
        campaign_id, failed, "bench", NOW, status=Status.FAILED, status_detail="$max_attempts"
    )
    # ... and waiting a day to enter the "failed" task, as a delayed rule leaves them.
    await store.move(campaign_id, failed, "failed", "bench", NOW, enter_at=NOW + timedelta(days=1))
    return time.perf_counter() - start


async def _time(fn: Callable[[], Awaitable[object]], repeat: int) -> dict[str, float]:
    await fn()  # warm the cache
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        await fn()
        runs.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs)}


async def _bench(args: argparse.Namespace, url: str) -> dict[str, Any]:
    await upgrade(url)
    async with await Store.open(url) as store:
        camp = await store.create_campaign(_spec(), NOW)
        load_s = await _load(store, camp.id, args.contacts, args.seed)
        await store.optimize()  # what an operator's big import ends with, too
        rows = await store.overview(camp.id)

        async def lease() -> None:
            got = await store.lease(camp.id, 50, "bench", timedelta(minutes=1), NOW)
            await store.release([c.id for c in got], "bench")

        results = {
            "overview": await _time(lambda: store.overview(camp.id), args.repeat),
            "count (baseline)": await _time(lambda: store.count_contacts(camp.id), args.repeat),
            "lease 50": await _time(lease, args.repeat),
        }
    return {
        "benchmark": "overview",
        "database": store.dialect,
        "contacts": args.contacts,
        "overview_rows": len(rows),
        "load_seconds": load_s,
        "results": results,
        "ratio_overview_to_count": results["overview"]["median_s"]
        / max(results["count (baseline)"]["median_s"], 1e-9),
        "machine": platform.platform(),
        "at": datetime.now(UTC).isoformat(),
    }


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="dialerd-bench-") as tmp:
        url = args.db or f"sqlite+aiosqlite:///{Path(tmp) / 'overview.sqlite'}"
        report = await _bench(args, url)
    out = sys.stdout.write
    out(
        f"\n### overview benchmark: {report['contacts']:,} contacts on {report['database']} "
        f"({report['overview_rows']} overview rows; load {report['load_seconds']:.1f} s)\n\n"
    )
    out("| query | median ms | min ms | max ms |\n|---|---:|---:|---:|\n")
    for name, r in report["results"].items():
        out(
            f"| {name} | {r['median_s'] * 1000:.1f} | {r['min_s'] * 1000:.1f} | "
            f"{r['max_s'] * 1000:.1f} |\n"
        )
    out(f"\noverview / count baseline: {report['ratio_overview_to_count']:.2f}x\n")
    _write(args.out, report)
    return 0


def _write(out_dir: Path, report: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"overview-{report['database']}-{report['contacts']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    sys.stderr.write(f"results: {path}\n")
