"""The API's contact search (``GET .../contacts?phone=|name=|email=``) on SQLite, timed.

Fills a fresh SQLite file (made in a temporary folder) with one campaign of ``--contacts``
contacts added through the store, as the API and small imports add them (no ``ANALYZE``
afterwards: the planner has no statistics, which is how a daemon's database usually is), then
times :func:`dialerd.store.lookup.search_contacts` (page of 20 and the total) for a phone
part, a name, an e-mail part and a phone part within a task. Prints min and median of
``--runs`` runs, in ms.

    PYTHONPATH=src .venv/bin/python bench/contact_search_sqlite.py --contacts 20000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dialerd.domain import campaign_spec as cs
from dialerd.domain.changes import NewContact
from dialerd.domain.selection import ContactSelection
from dialerd.store import Store, upgrade
from dialerd.store.lookup import search_contacts

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

ASKS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("phone 3010001", {"phone_digits": "3010001"}),
    ("name N1234", {"name": "N1234"}),
    ("email n777@", {"email": "n777@"}),
    (
        "phone 3010001, task call",
        {"phone_digits": "3010001", "selection": ContactSelection(task="call")},
    ),
)


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contacts", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dialerd-bench-csearch-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'search.sqlite'}"
        await upgrade(url)
        store = await Store.open(url)
        try:
            spec = cs.CampaignSpec.model_validate(
                {"name": "sales", "tasks": [{"name": "call", "type": "call"}]}
            )
            camp = await store.create_campaign(spec, NOW)
            t0 = time.perf_counter()
            for i in range(0, args.contacts, 5000):
                batch = range(i, min(args.contacts, i + 5000))
                await store.add_contacts(
                    camp.id,
                    [
                        NewContact(phone=f"+49301{j:06d}", last_name=f"N{j}", email=f"n{j}@ex.com")
                        for j in batch
                    ],
                    NOW,
                )
            print(f"filled in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            print(f"| search, {args.contacts:,} contacts | matches | min ms | median ms |")
            print("|---|---:|---:|---:|")
            for name, kw in ASKS:
                spent = []
                total = 0
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    _, total = await search_contacts(store, camp.id, limit=20, **kw)
                    spent.append((time.perf_counter() - t0) * 1000)
                print(
                    f"| {name} | {total} | {min(spent):.1f} | {statistics.median(spent):.1f} |",
                    flush=True,
                )
        finally:
            await store.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
