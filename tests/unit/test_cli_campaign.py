"""The store commands of the command line, end to end on a SQLite file (in-process)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialerd.cli.main import main
from dialerd.domain.changes import NewContact
from dialerd.store import Store
from dialerd.store.migrate import head_revision

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = str(REPO / "config" / "campaigns" / "example.toml")


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sub' / 'd.sqlite'}"
    monkeypatch.setenv("DIALERD_DB", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def add_contacts(url: str, n: int) -> list[int]:
    async def go() -> list[int]:
        async with await Store.open(url) as store:
            camp = await store.get_campaign("example-2026")
            return await store.add_contacts(
                camp.id,
                [
                    NewContact(phone=f"+4930{i:07}", fields={"city": "Bonn" if i % 2 else "Köln"})
                    for i in range(n)
                ],
                datetime.now(UTC),
            )

    return asyncio.run(go())


def test_unmigrated_database_says_what_to_run(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "campaign", "list")
    assert code == 78
    assert err.count("\n") == 1 and "run: dialerd migrate --db sqlite+aiosqlite:///" in err
    assert "Traceback" not in err


def test_migrate_create_list_show(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "migrate")
    assert code == 0 and "migrated from empty to" in out
    assert run(capsys, "migrate")[1].endswith(f"already at revision {head_revision()}\n")
    code, out, _ = run(capsys, "campaign", "create", EXAMPLE)
    assert code == 0 and "'example-2026' created" in out
    code, out, err = run(capsys, "campaign", "create", EXAMPLE)
    assert code == 65 and "exists already (use --update" in err
    assert run(capsys, "campaign", "create", "--update", EXAMPLE)[0] == 0
    code, out, _ = run(capsys, "campaign", "list", "--json")
    [listed] = json.loads(out)
    assert (listed["name"], listed["status"], listed["contacts"]) == (
        "example-2026",
        "automatic",
        0,
    )
    code, out, _ = run(capsys, "campaign", "show", "example-2026", "--json")
    shown = json.loads(out)
    assert [t["name"] for t in shown["tasks"]] == [
        "call",
        "success",
        "declined",
        "failed",
        "recall",
    ]
    assert shown["definition"]["ring_timeout"] == "25s"
    assert shown["definition"]["dial"]["min_ring"] == "15s"
    code, out, _ = run(capsys, "campaign", "show", "example-2026")
    assert code == 0 and "$max_attempts" in out
    assert "ring timeout 25s (predictive: 15s when late answers are rare)" in out
    code, _, err = run(capsys, "campaign", "show", "nope")
    assert code == 66 and err == "dialerd: error: no campaign 'nope'\n"


def test_bad_definition_names_file_and_key(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nring_timeout = "5s"\n[[tasks]]\nname = "call"\ntype = "phone"\n')
    code, _, err = run(capsys, "campaign", "create", str(bad))
    assert code == 78
    assert err.startswith(f"dialerd: error: {bad}: ")
    assert "ring_timeout" in err and "tasks.0.type" in err and err.count("\n") == 1


def test_a_new_campaign_name_must_fit_in_a_url(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "42"\n[[tasks]]\nname = "call"\ntype = "call"\n')
    code, _, err = run(capsys, "campaign", "create", str(bad))
    assert code == 78
    assert "name: '42' is not allowed" in err and "not only digits" in err
    assert run(capsys, "migrate")[0] == 0
    code, _, err = run(capsys, "campaign", "create", str(bad))
    assert code == 78, err


def test_overview_move_edit_history(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "migrate")
    run(capsys, "campaign", "create", EXAMPLE)
    ids = add_contacts(db, 6)
    code, out, _ = run(capsys, "overview", "example-2026", "--json")
    assert json.loads(out)["rows"] == [
        {
            "task": "call",
            "status": "open",
            "status_detail": "$none",
            "count": 6,
            "waiting_for": None,
            "next_due": None,
        }
    ]
    code, _, err = run(capsys, "move", "example-2026", "--to", "success")
    assert code == 64 and "no contacts selected" in err
    code, out, _ = run(
        capsys, "move", "example-2026", "--where", "city=Bonn", "--to", "declined", "--json"
    )
    assert json.loads(out)["moved"] == 3
    code, out, _ = run(
        capsys,
        "edit",
        "example-2026",
        "--task",
        "call",
        "--set",
        "company=ACME",
        "--set-status",
        "failed",
        "--set-detail",
        "wrong_person",
        "--actor",
        "alice",
    )
    assert code == 0 and out == "3 contact(s) edited\n"
    code, out, _ = run(capsys, "overview", "example-2026")
    assert "declined" in out
    # a status set by hand applies the campaign's rules: call/failed -> failed (no delay)
    code, out, _ = run(capsys, "overview", "example-2026", "--json")
    assert {(r["task"], r["status"], r["count"]) for r in json.loads(out)["rows"]} == {
        ("declined", "open", 3),
        ("failed", "open", 3),
    }
    code, out, _ = run(capsys, "history", str(ids[0]), "--json")
    hist = json.loads(out)
    assert hist["contact"]["company"] == "ACME"
    assert [(h["actor"], h["to_status"], h["to_detail"]) for h in hist["history"]] == [
        ("alice", "failed", "wrong_person"),
        ("taskflow", "open", "$none"),
    ]
    assert run(capsys, "history", "x")[0] == 64
    assert run(capsys, "history", "999999")[0] == 66


def test_dnc_add_import_check(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "migrate")
    run(capsys, "campaign", "create", EXAMPLE)
    [cid] = add_contacts(db, 1)
    code, out, _ = run(capsys, "dnc", "add", "+49 30 0000000", "--json")
    assert code == 0 and json.loads(out) == {
        "number": "+49300000000",
        "added": True,
        "scope": "all campaigns",
        "contacts_closed": 1,
        "in_call": [],
    }
    assert run(capsys, "dnc", "check", "030 0000000")[0] == 0
    code, _, err = run(capsys, "dnc", "add", "hello")
    assert code == 65 and "not a valid phone number" in err
    numbers = tmp_path / "dnc.txt"
    numbers.write_text("# list\n+49 89 1234567\nnope\n\n0221 1234567\n")
    code, out, err = run(capsys, "dnc", "import", str(numbers), "--campaign", "example-2026")
    assert code == 0 and "2 number(s) added" in out and "1 rejected" in out
    assert f"{numbers}:3: 'nope'" in err
    assert run(capsys, "dnc", "check", "+49891234567", "--campaign", "example-2026")[0] == 0
    assert run(capsys, "dnc", "check", "+49891234567")[0] == 1
    code, out, _ = run(capsys, "history", str(cid), "--json")
    assert json.loads(out)["history"][0]["to_detail"] == "$dnc"


def test_move_with_delay_and_bad_db(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "migrate")
    run(capsys, "campaign", "create", EXAMPLE)
    add_contacts(db, 2)
    code, out, _ = run(
        capsys, "move", "example-2026", "--task", "call", "--to", "recall", "--delay", "2h"
    )
    assert code == 0 and out.startswith("2 contact(s) waiting to enter recall at ")
    rows = json.loads(run(capsys, "overview", "example-2026", "--json")[1])["rows"]
    assert [(r["task"], r["waiting_for"], r["count"]) for r in rows] == [("call", "recall", 2)]
    code, _, err = run(capsys, "move", "example-2026", "--all", "--to", "x", "--at", "tomorrow")
    assert code == 64 and "--at" in err
    # a database that cannot be opened (one that does not exist says to migrate it)
    code, _, err = run(capsys, "overview", "example-2026", "--db", "sqlite:////proc/version")
    assert code == 69 and "unavailable" in err and err.count("\n") == 1
    code, _, err = run(capsys, "overview", "example-2026", "--db", "sqlite:////proc/no/x.db")
    assert code == 78 and "(the file does not exist)" in err and err.count("\n") == 1


def test_where_on_a_field_no_contact_has_is_refused(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It selected nobody and said "0 contact(s) moved"; now it names the closest field."""
    run(capsys, "migrate")
    run(capsys, "campaign", "create", EXAMPLE)
    add_contacts(db, 2)
    code, _, err = run(capsys, "move", "example-2026", "--where", "cty=Bonn", "--to", "declined")
    assert code == 64
    assert "--where: unknown field 'cty' (did you mean 'city'?)" in err
    code, _, err = run(capsys, "edit", "example-2026", "--where", "cty=Bonn", "--set", "a=b")
    assert code == 64 and "did you mean 'city'?" in err
    code, out, _ = run(capsys, "move", "example-2026", "--where", "city=Bonn", "--to", "declined")
    assert (code, out) == (0, "1 contact(s) moved to declined\n")


def test_an_update_whose_sort_or_filter_no_contact_has_is_warned_of(
    db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The example sorts by 'priority' and filters on 'segment'; these contacts have neither
    (only 'city'): the campaign would dial nobody, or in id order, and --update said nothing."""
    run(capsys, "migrate")
    code, _, err = run(capsys, "campaign", "create", EXAMPLE)
    assert code == 0 and "warning" not in err  # no contacts yet: fields still to come
    add_contacts(db, 2)
    code, _, err = run(capsys, "campaign", "create", "--update", EXAMPLE)
    assert code == 0  # stored all the same
    assert f"dialerd: warning: {EXAMPLE}: sort.field: unknown field 'priority'" in err
    assert f"{EXAMPLE}: filter[0].field: unknown field 'segment'" in err
    typo = tmp_path / "typo.toml"
    typo.write_text(
        Path(EXAMPLE)
        .read_text()
        .replace('field = "priority"', 'field = "cty"')
        .replace('field = "segment"', 'field = "city"')
        .replace('value = ["A", "B"]', 'value = ["Bonn"]')
    )
    code, _, err = run(capsys, "campaign", "create", "--update", str(typo))
    assert code == 0
    assert (
        err.count("warning") == 1
        and "sort.field: unknown field 'cty' (did you mean 'city'?)" in err
    )
