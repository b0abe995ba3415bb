"""Contact import into the store, on SQLite and PostgreSQL: counts, duplicates, modes, rollback."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.clock import ManualClock
from dialerd.domain.contact_import import (
    ImportMode,
    ImportRequest,
    ParsedChunk,
    ParsedContact,
    ProblemKind,
)
from dialerd.domain.model import Campaign, Contact
from dialerd.domain.selection import ContactSelection
from dialerd.store import NotFound, Store
from dialerd.store.imports import import_contacts, import_history
from dialerd.taskflow.import_job import import_file
from dialerd.taskflow.importing import ColumnMapping, ImportFileError

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def spec(name: str = "c1") -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": name,
            "tasks": [{"name": "call", "type": "call"}, {"name": "later", "type": "wait"}],
            "rules": [],
        }
    )


async def campaign(store: Store, name: str = "c1") -> Campaign:
    return await store.create_campaign(spec(name), NOW)


async def contacts_of(store: Store, camp: Campaign) -> list[Contact]:
    return await store.find_contacts(camp.id, ContactSelection(), limit=10_000)


def csv_file(tmp_path: Path, name: str, lines: list[str]) -> Path:
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


async def test_good_rows_imported_bad_rows_reported_history_written(
    store: Store, tmp_path: Path
) -> None:
    camp = await campaign(store)
    p = csv_file(
        tmp_path,
        "leads.csv",
        [
            "Telefon;Vorname;E-Mail;Tarif",
            "030 1234567;Anna;anna@example.com;gold",
            ";Ben;;",
            "+1 212 555 2368;Cleo;cleo@;",
            "+49 89 12345678;Dora;;silver",
            "+49 30 1234567;Anna again;;",
        ],
    )
    clock = ManualClock(NOW)
    report = await import_file(
        store,
        p,
        campaign="c1",
        mapping=ColumnMapping().with_pairs(variables=["source=fair"]),
        actor="alice",
        clock=clock,
    )
    assert (report.rows, report.imported, report.rejected, report.duplicates) == (5, 2, 2, 1)
    assert [(q.row, q.column, q.kind) for q in report.problems] == [
        (3, "Telefon", ProblemKind.INVALID),
        (4, "E-Mail", ProblemKind.INVALID),
        (6, "Telefon", ProblemKind.DUPLICATE),
    ]
    stored = {c.phone: c for c in await contacts_of(store, camp)}
    assert set(stored) == {"+49301234567", "+498912345678"}
    anna = stored["+49301234567"]
    tasks = {t.name: t.id for t in await store.tasks(camp.id)}
    assert anna.task_id == tasks["call"] and anna.status == "open"
    assert anna.status_detail == "$none"
    assert anna.list_name == "leads" and anna.timezone == "Europe/Berlin"
    assert anna.fields == {"Tarif": "gold", "source": "fair"}
    assert anna.import_id == report.import_id and anna.created_at == NOW

    [entry] = await import_history(store, "c1")
    assert entry["actor"] == "alice" and entry["file"] == "leads.csv"
    assert (entry["mode"], entry["list"], entry["status"]) == ("append", "leads", "completed")
    assert (entry["rows"], entry["imported"], entry["rejected"], entry["duplicates"]) == (
        5,
        2,
        2,
        1,
    )
    assert entry["report"]["problems"][0]["row"] == 3
    assert entry["at"] == NOW.isoformat().replace("+00:00", "Z")


async def test_duplicates_against_the_campaign_are_reported_not_merged(
    store: Store, tmp_path: Path
) -> None:
    camp = await campaign(store)
    first = csv_file(tmp_path, "a.csv", ["phone,first_name", "030 1234567,A", "040 3456789,B"])
    await import_file(store, first, campaign="c1")
    second = csv_file(tmp_path, "b.csv", ["phone,first_name", "+49301234567,X", "089 123456,Y"])
    report = await import_file(store, second, campaign="c1")
    assert (report.imported, report.duplicates) == (1, 1)
    dup = report.problems[0]
    assert dup.row == 2 and dup.kind is ProblemKind.DUPLICATE
    assert "already in the campaign" in dup.reason
    names = {c.phone: c.first_name for c in await contacts_of(store, camp)}
    assert names["+49301234567"] == "A"  # not overwritten
    assert len(names) == 3


async def test_campaigns_are_isolated(store: Store, tmp_path: Path) -> None:
    await campaign(store, "c1")
    other = await campaign(store, "c2")
    p = csv_file(tmp_path, "a.csv", ["phone", "030 1234567"])
    await import_file(store, p, campaign="c1")
    report = await import_file(store, p, campaign="c2")
    assert report.imported == 1 and report.duplicates == 0
    assert len(await contacts_of(store, other)) == 1


async def test_replace_removes_only_untouched_contacts_of_the_list(
    store: Store, tmp_path: Path
) -> None:
    camp = await campaign(store)
    old = csv_file(
        tmp_path,
        "list.csv",
        ["phone,first_name", "030 1111111,untouched", "030 2222222,moved", "030 3333333,keep"],
    )
    await import_file(store, old, campaign="c1", list_name="L")
    other = csv_file(tmp_path, "other.csv", ["phone", "040 4444444"])
    await import_file(store, other, campaign="c1", list_name="other")
    # Touch two contacts: one moved by hand (history), one dialled (attempt count).
    by_name = {c.first_name: c for c in await contacts_of(store, camp)}
    from dialerd.domain.selection import Condition

    await store.move(
        camp.id,
        ContactSelection(conditions=(Condition("id", "eq", by_name["moved"].id),)),
        "later",
        "bob",
        NOW,
    )
    leased = await store.lease(camp.id, 10, "runner", timedelta(minutes=1), NOW)
    assert leased  # leasing marks contacts as touched (lease holder)

    new = csv_file(
        tmp_path,
        "list-v2.csv",
        ["phone,first_name", "030 1111111,fresh", "030 2222222,moved-again", "030 5555555,new"],
    )
    await store.release_all("runner")
    report = await import_file(store, new, campaign="c1", list_name="L", mode=ImportMode.REPLACE)
    # "untouched" and "keep" had no history and no attempt -> replaced; "moved" has history.
    assert report.replaced == 2
    assert report.imported == 2 and report.duplicates == 1
    assert report.problems[0].row == 3 and "already in the campaign" in report.problems[0].reason
    after = {c.first_name: c for c in await contacts_of(store, camp)}
    assert set(after) == {"moved", "fresh", "new", None}  # None: the other list's contact
    assert after["moved"].id == by_name["moved"].id


async def test_replaced_contacts_leave_their_ids_unused(store: Store, tmp_path: Path) -> None:
    # Replacing a list deletes its untouched contacts, the newest ids among them; the new list's
    # contacts must not take those ids (an export or a CRM may still hold them).
    camp = await campaign(store)
    p = csv_file(tmp_path, "l.csv", ["phone", "030 1111111", "030 2222222"])
    await import_file(store, p, campaign="c1", list_name="L")
    old_ids = {c.id for c in await contacts_of(store, camp)}
    report = await import_file(
        store,
        csv_file(tmp_path, "l2.csv", ["phone", "030 3333333", "030 4444444"]),
        campaign="c1",
        list_name="L",
        mode=ImportMode.REPLACE,
    )
    assert (report.replaced, report.imported) == (2, 2)
    new_ids = {c.id for c in await contacts_of(store, camp)}
    assert new_ids.isdisjoint(old_ids)
    assert min(new_ids) > max(old_ids)


async def test_replace_keeps_contacts_with_attempts(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    p = csv_file(tmp_path, "l.csv", ["phone", "030 1111111", "030 2222222"])
    await import_file(store, p, campaign="c1")
    [tried] = await store.lease(camp.id, 1, "runner", timedelta(minutes=5), NOW)
    # A contact that is leased right now is being dialled: never removed.
    report = await import_file(
        store,
        csv_file(tmp_path, "l.csv", ["phone", "030 9999999"]),
        campaign="c1",
        mode=ImportMode.REPLACE,
    )
    assert report.replaced == 1
    phones = {c.phone for c in await contacts_of(store, camp)}
    assert phones == {tried.phone, "+49309999999"}


def failing_chunks() -> Iterator[ParsedChunk]:
    good = ParsedContact(2, "+49305555555", "New", None, None, None, None, None)
    yield ParsedChunk([good], [], 1)
    raise ImportFileError("disk went away at row 20000")


async def test_failed_import_leaves_the_store_as_it_was(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    p = csv_file(tmp_path, "l.csv", ["phone", "030 1111111", "030 2222222"])
    await import_file(store, p, campaign="c1")
    before = sorted((c.id, c.phone) for c in await contacts_of(store, camp))
    request = ImportRequest(
        campaign="c1", file_name="l.csv", mode=ImportMode.REPLACE, list_name="l", actor="eve"
    )
    with pytest.raises(ImportFileError, match="disk went away"):
        await import_contacts(store, request, failing_chunks())
    after = sorted((c.id, c.phone) for c in await contacts_of(store, camp))
    assert after == before  # neither the replace-delete nor the first chunk survived
    history = await import_history(store, "c1")
    assert history[0]["status"] == "failed" and history[0]["imported"] == 0
    assert "disk went away" in history[0]["report"]["error"]
    assert history[1]["status"] == "completed"


async def test_file_broken_after_the_first_chunk_rolls_back(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    # Past the first chunk and the 64 KiB the sniffer reads, so the damage is only met while
    # importing: a lone UTF-16 surrogate, which no error handler can carry as a row's problem.
    lines = "phone\n" + "".join(f"+4930{2000000 + i}\n" for i in range(21_000))
    p = tmp_path / "broken.csv"
    p.write_bytes(codecs.BOM_UTF16_LE + lines.encode("utf-16-le") + b"\x00\xdc")
    with pytest.raises(ImportFileError, match="cannot be read as utf-16 text at or after line"):
        await import_file(store, p, campaign="c1", workers=0)
    assert await contacts_of(store, camp) == []
    assert (await import_history(store, "c1"))[0]["status"] == "failed"


async def test_a_runaway_quote_or_a_huge_cell_costs_its_row_not_the_import(
    store: Store, tmp_path: Path
) -> None:
    camp = await campaign(store)
    lines = ["phone,note"] + [f"+4930{2000000 + i},n" for i in range(25_000)]
    lines.append(f"+4930600001,{'x' * 140_000}")  # over the csv module's 128 KiB cell limit
    lines.append('+4930600002,"a quote that is never closed')
    lines += [f"+4940{2000000 + i},n" for i in range(3)]
    report = await import_file(store, csv_file(tmp_path, "big.csv", lines), campaign="c1")
    assert (report.rows, report.imported, report.rejected) == (25_005, 25_003, 2)
    assert [(p.row, p.column) for p in report.problems] == [(25_002, "note"), (25_003, "note")]
    assert "(140,000)" in report.problems[0].reason
    assert "never closed" in report.problems[1].reason
    assert await store.count_contacts(camp.id) == 25_003


async def test_rows_that_are_not_text_are_rejected_and_the_rest_imported(
    store: Store, tmp_path: Path
) -> None:
    # A NUL byte past the 64 KiB sample was stored (and failed the whole import on PostgreSQL);
    # one Latin-1 byte in a UTF-8 file turned every umlaut of the file into mojibake.
    camp = await campaign(store)
    good = "".join(f"+4930{2000000 + i},Jürgen\n" for i in range(4000)).encode()
    p = tmp_path / "mixed.csv"
    p.write_bytes(
        b"phone,first_name\n" + good + b"+4930600001,a\x00b\n" + b"+4930600002,J\xfcrgen\n"
    )
    report = await import_file(store, p, campaign="c1")
    assert (report.rows, report.imported, report.rejected) == (4002, 4000, 2)
    assert [(q.row, q.value) for q in report.problems] == [(4002, "a\\x00b"), (4003, "J\\xfcrgen")]
    names = {c.first_name for c in await contacts_of(store, camp)}
    assert names == {"Jürgen"}
    [entry] = await import_history(store, "c1")
    assert entry["status"] == "completed" and entry["report"]["problems_total"] == 2


async def test_an_external_id_already_in_the_campaign_is_a_duplicate(
    store: Store, tmp_path: Path
) -> None:
    camp = await campaign(store)
    first = csv_file(tmp_path, "a.csv", ["phone,external_id", "030 1111111,K1"])
    await import_file(store, first, campaign="c1")
    again = csv_file(tmp_path, "b.csv", ["phone,external_id", "030 2222222,K1", "030 3333333,K2"])
    report = await import_file(store, again, campaign="c1")
    assert (report.imported, report.duplicates) == (1, 1)
    [problem] = report.problems
    assert problem.row == 2 and problem.kind is ProblemKind.DUPLICATE
    assert problem.reason.startswith("external id K1 is already in the campaign (contact ")
    assert sorted(c.external_id or "" for c in await contacts_of(store, camp)) == ["K1", "K2"]


async def test_xlsx_import(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["Telefon", "Name", "Zeitzone"])
    ws.append(["+1 312 555 2368", "Chi", None])
    ws.append([None, None, None])
    ws.append([4989123456, "Mue", "Europe/Vienna"])
    ws.append(["bad", "X", None])
    path = tmp_path / "kontakte.xlsx"
    wb.save(path)
    report = await import_file(
        store, path, campaign="c1", mapping=ColumnMapping().with_pairs(["Name=first_name"])
    )
    assert (report.imported, report.rejected) == (2, 1)
    assert report.problems[0].row == 5
    stored = {c.first_name: c for c in await contacts_of(store, camp)}
    assert stored["Chi"].timezone == "America/Chicago"
    assert (stored["Mue"].phone, stored["Mue"].timezone) == ("+4989123456", "Europe/Vienna")
    assert report.details["format"] == "xlsx"


async def test_unknown_campaign_or_task_writes_nothing(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    p = csv_file(tmp_path, "l.csv", ["phone", "030 1111111"])
    with pytest.raises(NotFound, match="no campaign named 'nope'"):
        await import_file(store, p, campaign="nope")
    with pytest.raises(NotFound, match="no task 'x'.*call, later"):
        await import_file(store, p, campaign="c1", task="x")
    assert await import_history(store, "c1") == []
    report = await import_file(store, p, campaign="c1", task="later")
    [c] = await contacts_of(store, camp)
    assert report.task == "later"
    assert c.task_id == {t.name: t.id for t in await store.tasks(camp.id)}["later"]


async def test_big_import_in_worker_processes(store: Store, tmp_path: Path) -> None:
    camp = await campaign(store)
    lines = ["phone,first_name"] + [f"+4930{3000000 + i},n{i}" for i in range(6000)]
    lines.append("+49303000005,dup")
    p = csv_file(tmp_path, "big.csv", lines)
    report = await import_file(store, p, campaign="c1", workers=2)
    assert (report.rows, report.imported, report.duplicates) == (6001, 6000, 1)
    assert await store.count_contacts(camp.id) == 6000


async def test_database_failure_mid_import_rolls_back_and_stops_the_parser(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    camp = await campaign(store)
    await import_file(store, csv_file(tmp_path, "a.csv", ["phone", "030 1111111"]), campaign="c1")

    async def broken(*args: object) -> list[ParsedContact]:
        raise RuntimeError("connection lost")

    monkeypatch.setattr("dialerd.store.imports._drop_existing", broken)
    p = csv_file(tmp_path, "b.csv", ["phone"] + [f"+4930{4000000 + i}" for i in range(500)])
    with pytest.raises(RuntimeError, match="connection lost"):
        await import_file(store, p, campaign="c1")
    assert [c.phone for c in await contacts_of(store, camp)] == ["+49301111111"]
    assert (await import_history(store, "c1"))[0]["status"] == "failed"
