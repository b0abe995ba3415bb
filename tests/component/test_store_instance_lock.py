"""One live daemon per lease holder and database (the audit's P4: two daemons on one host and
one database shared ``dialerd@<host>``, and the second closed the first one's live calls as
lost). On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from dialerd.store import InstanceTaken, Store


async def test_a_second_daemon_with_the_same_holder_is_refused(store_url: str) -> None:
    first = await Store.open(store_url)
    second = await Store.open(store_url)
    try:
        lock = await first.lock_instance("dialerd@host")
        with pytest.raises(InstanceTaken, match="another dialerd runs as 'dialerd@host'"):
            await second.lock_instance("dialerd@host")
        await lock.release()  # the first one stopped: the next one may start
        again = await second.lock_instance("dialerd@host")
        await again.release()
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_daemons_with_their_own_instance_names_run_side_by_side(
    store_url: str, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite serves one daemon, whatever its holder")
    a, b = await Store.open(store_url), await Store.open(store_url)
    try:
        lock_a = await a.lock_instance("dialerd@host/a")
        lock_b = await b.lock_instance("dialerd@host/b")
        with pytest.raises(InstanceTaken):
            await b.lock_instance("dialerd@host/a")
        await lock_a.release()
        await lock_b.release()
    finally:
        await a.close()
        await b.close()
