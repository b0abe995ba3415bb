"""Drop folders: files imported with the folder's mapping, then filed with a report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.clock import ManualClock
from dialerd.domain.selection import ContactSelection
from dialerd.engine.dropfolder import DropFolderWatcher
from dialerd.store import Store
from dialerd.store.imports import import_history

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

GOOD = (
    "Telefon;Vorname;Nachname;Kundennr\n"
    "030 1234567;Ada;Lovelace;K1\n"
    "0301234568;Alan;Turing;K2\n"
    "not-a-number;Bad;Row;K3\n"
)


def spec(folder: Path, mode: str = "append") -> CampaignSpec:
    return CampaignSpec.model_validate(
        {
            "name": "drop",
            "tasks": [
                {
                    "name": "call",
                    "type": "call",
                    "settings": {
                        "drop_folder": {
                            "path": str(folder),
                            "mode": mode,
                            "mapping": {
                                "columns": {
                                    "Telefon": "phone",
                                    "Vorname": "first_name",
                                    "Nachname": "last_name",
                                },
                                "variables": {"source": "ftp"},
                                "unmapped": "fields",
                            },
                        }
                    },
                },
                {"name": "done", "type": "wait"},
            ],
        }
    )


async def test_a_dropped_file_is_imported_and_filed_with_its_report(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    camp = await store.create_campaign(spec(folder), NOW)
    watcher = DropFolderWatcher(store, ManualClock(NOW))
    (folder / "list-1.csv").write_text(GOOD, encoding="utf-8")
    (folder / "upload.csv.part").write_text("still coming", encoding="utf-8")
    assert await watcher.poll_once() == []  # first sight: maybe still being written
    [result] = await watcher.poll_once()
    assert result.ok and result.imported == 2 and result.rejected == 1
    assert not (folder / "list-1.csv").exists()
    assert (folder / "done" / "list-1.csv").read_text(encoding="utf-8") == GOOD
    report = json.loads((folder / "done" / "list-1.csv.report.json").read_text())
    assert report["status"] == "imported" and report["imported"] == 2
    assert report["problems"][0]["row"] == 4 and report["problems"][0]["column"] == "Telefon"
    assert (folder / "upload.csv.part").exists()  # partial uploads are left alone
    contacts = await store.find_contacts(camp.id, ContactSelection(task="call"))
    assert sorted(c.phone or "" for c in contacts) == ["+49301234567", "+49301234568"]
    assert contacts[0].fields["Kundennr"] in {"K1", "K2"}
    assert contacts[0].fields["source"] == "ftp"
    [entry] = await import_history(store, "drop")
    assert entry["file"] == "list-1.csv" and entry["imported"] == 2
    assert entry["actor"] == "dropfolder"


async def test_a_bad_file_goes_to_failed_with_the_reason_and_nothing_is_lost(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    await store.create_campaign(spec(folder), NOW)
    watcher = DropFolderWatcher(store, ManualClock(NOW))
    wrong = "Phone number;Name\n0301234567;Ada\n"  # no "Telefon" column for the mapping
    (folder / "wrong.csv").write_text(wrong, encoding="utf-8")
    (folder / "garbage.xlsx").write_bytes(b"PK\x03\x04 this is no workbook")
    await watcher.poll_once()
    results = {r.file: r for r in await watcher.poll_once()}
    assert set(results) == {"wrong.csv", "garbage.xlsx"}
    for name, r in results.items():
        assert not r.ok and r.error
        assert (folder / "failed" / name).exists()
        report = json.loads((folder / "failed" / f"{name}.report.json").read_text())
        assert report["status"] == "failed" and report["error"] == r.error
    assert (folder / "failed" / "wrong.csv").read_text(encoding="utf-8") == wrong
    assert "Telefon" in (results["wrong.csv"].error or "")
    history = {h["file"]: h for h in await import_history(store, "drop")}
    assert set(history) == {"wrong.csv", "garbage.xlsx"}
    assert all(h["status"] == "failed" and h["imported"] == 0 for h in history.values())
    assert history["wrong.csv"]["report"]["error"] == results["wrong.csv"].error
    # the same name dropped again is kept beside the first one, not overwritten
    (folder / "wrong.csv").write_text(wrong, encoding="utf-8")
    await watcher.poll_once()
    await watcher.poll_once()
    assert (folder / "failed" / "wrong-2.csv").exists()


async def test_a_dropped_file_with_an_unreadable_row_is_imported_without_it(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    camp = await store.create_campaign(spec(folder), NOW)
    watcher = DropFolderWatcher(store, ManualClock(NOW))
    body = "".join(f"0301{i:06d};N{i};X;K{i}\n" for i in range(1000))
    broken = (
        f'Telefon;Vorname;Nachname;Kundennr\n{body}030 9999999;"no end;X;K\n030 9999998;Z;Y;K\n'
    )
    (folder / "list.csv").write_text(broken, encoding="utf-8")
    await watcher.poll_once()
    [result] = await watcher.poll_once()
    assert result.ok and (result.imported, result.rejected) == (1001, 1)
    report = json.loads((folder / "done" / "list.csv.report.json").read_text())
    [problem] = report["problems"]
    assert (problem["row"], problem["column"]) == (1002, "Vorname")
    assert "never closed" in problem["reason"]
    assert await store.count_contacts(camp.id) == 1001


async def test_a_file_still_growing_waits_for_the_next_poll(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    await store.create_campaign(spec(folder), NOW)
    watcher = DropFolderWatcher(store, ManualClock(NOW))
    path = folder / "big.csv"
    path.write_text(GOOD[:40], encoding="utf-8")
    await watcher.poll_once()
    path.write_text(GOOD, encoding="utf-8")  # more bytes arrived
    assert await watcher.poll_once() == []
    [result] = await watcher.poll_once()
    assert result.ok and result.imported == 2
