"""``dialerd move``, ``edit`` and ``dnc add`` on contacts in a call: the exit codes follow the
API's answers. One contact named (``--contact ID`` alone) in a call is refused as the API's
move or PATCH of one contact is (409): exit 75 (EX_TEMPFAIL, try again when the call has
ended), nothing changed. A set leaves its contacts in a call out, changes the others and says
how many it skipped on stderr: exit 0, as the API's 200. A number listed during its call is
taken (exit 0) and the contact in the call named."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dialerd.cli.main import main
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status
from dialerd.store import Store, upgrade


async def _prepare(url: str) -> tuple[int, int]:
    await upgrade(url)
    store = await Store.open(url)
    try:
        spec = CampaignSpec.model_validate(
            {
                "name": "demo",
                "tasks": [{"name": "call", "type": "call"}, {"name": "later", "type": "wait"}],
                "rules": [],
            }
        )
        now = datetime.now(UTC)  # the command line reads the system clock
        camp = await store.create_campaign(spec, now)
        busy, idle = await store.add_contacts(
            camp.id, [NewContact(phone="+493012345601"), NewContact(phone="+493012345602")], now
        )
        (leased,) = await store.lease(camp.id, 1, "dialer", timedelta(hours=1), now)
        assert leased.id == busy
        return busy, idle
    finally:
        await store.close()


async def _state(url: str, cid: int) -> tuple[int, Status, str | None]:
    store = await Store.open(url)
    try:
        c = await store.get_contact(cid)
        return c.task_id, c.status, c.lease_holder
    finally:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, int, int]:
    url = f"sqlite:///{tmp_path / 'd.sqlite'}"
    busy, idle = asyncio.run(_prepare(url))
    return url, busy, idle


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_one_contact_in_a_call_exits_75_and_a_set_skips_it(
    db: tuple[str, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, busy, idle = db
    before = asyncio.run(_state(url, busy))
    code, _, err = run(capsys, "move", "demo", "--contact", str(busy), "--to", "later", "--db", url)
    assert code == 75, err
    assert f"contact {busy} is being dialled or on preview offer right now" in err
    code, _, err = run(
        capsys, "edit", "demo", "--contact", str(busy), "--set-status", "declined", "--db", url
    )
    assert code == 75, err
    assert asyncio.run(_state(url, busy)) == before  # nothing changed
    # a set: the other contact is moved, the one in the call skipped and told
    code, out, err = run(capsys, "move", "demo", "--all", "--to", "later", "--db", url, "--json")
    assert code == 0, err
    assert json.loads(out) | {"enter_at": None} == {
        "campaign": "demo",
        "to": "later",
        "moved": 1,
        "enter_at": None,
        "skipped_in_call": 1,
        "in_call": [busy],
    }
    code, out, err = run(capsys, "edit", "demo", "--all", "--set-status", "declined", "--db", url)
    assert code == 0, err
    assert out == "1 contact(s) edited\n"
    assert f"1 contact(s) skipped: in a call right now ({busy})" in err
    assert asyncio.run(_state(url, busy)) == before
    assert asyncio.run(_state(url, idle))[1] is Status.DECLINED
    # fields alone change in a call too
    code, out, _ = run(
        capsys, "edit", "demo", "--contact", str(busy), "--set", "tier=a", "--db", url
    )
    assert (code, out) == (0, "1 contact(s) edited\n")


def test_a_number_in_a_call_is_listed_and_the_contact_named(
    db: tuple[str, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, busy, _ = db
    code, out, err = run(capsys, "dnc", "add", "+493012345601", "--db", url)
    assert code == 0, err
    assert "added to the do-not-call list" in out
    assert f"contact(s) {busy} in a call right now: closed as failed/$dnc" in err
    assert asyncio.run(_state(url, busy))[1] is Status.FAILED


def test_a_delete_of_a_contact_in_a_call_exits_75_as_a_move_does(
    db: tuple[str, int, int], capsys: pytest.CaptureFixture[str]
) -> None:
    url, busy, idle = db
    before = asyncio.run(_state(url, busy))
    code, out, err = run(capsys, "delete", "demo", "--contact", str(busy), "--db", url)
    assert code == 75, err
    assert f"contact {busy} is being dialled or on preview offer right now" in err
    assert "cannot be deleted during the call" in err
    assert asyncio.run(_state(url, busy)) == before  # still there, untouched
    code, out, err = run(capsys, "delete", "demo", "--contact", str(idle), "--db", url)
    assert (code, out) == (0, f"contact {idle} deleted from demo\n"), err
    code, _, err = run(capsys, "delete", "demo", "--contact", str(idle), "--db", url)
    assert code == 66, err  # EX_NOINPUT: gone
