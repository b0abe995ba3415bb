"""``dialerd import`` from the command line: output, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dialerd.cli.main import main
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store, upgrade

REPO = Path(__file__).resolve().parents[2]


async def _prepare(url: str) -> None:
    await upgrade(url)
    store = await Store.open(url)
    try:
        spec = CampaignSpec.model_validate(
            {"name": "demo", "tasks": [{"name": "call", "type": "call"}], "rules": []}
        )
        await store.create_campaign(spec, datetime(2026, 3, 2, tzinfo=UTC))
    finally:
        await store.close()


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'd.sqlite'}"
    asyncio.run(_prepare(url))
    return url


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["import", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_prints_counts_and_bad_rows_with_a_pointer_to_the_full_report(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "problems.csv"
    code, out, err = run(
        capsys,
        "--db", db, "--campaign", "demo", "--actor", "alice", "--report", str(report),
        "--file", str(REPO / "config" / "contacts" / "sample-with-errors.csv"),
        "--mapping", str(REPO / "config" / "imports" / "example-mapping.toml"),
        "--show", "3",
    )  # fmt: skip
    assert code == 0, err
    assert "one transaction" in out
    assert "rows 12: imported 5, rejected 6, duplicates 1" in out
    assert "problems (first 3 of 7; all of them in " in out and str(report) in out
    assert "row 4, column 'Telefon': missing phone number" in out
    lines = report.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "row,column,kind,reason,value" and len(lines) == 8


def test_json_output_and_append_of_the_same_file_gives_duplicates(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = str(REPO / "config" / "contacts" / "sample.csv")
    code, out, _ = run(capsys, "--db", db, "--campaign", "demo", "--file", sample, "--json")
    assert code == 0
    first = json.loads(out)
    assert first["imported"] == first["rows"] >= 2000 and first["list"] == "sample"
    code, out, err = run(capsys, "--db", db, "--campaign", "demo", "--file", sample, "--json")
    again = json.loads(out)
    assert code == 65  # nothing imported
    assert again["duplicates"] == first["rows"] and again["imported"] == 0
    assert again["problems_total"] == first["rows"] and len(again["problems"]) == 1000
    code, out, err = run(capsys, "--db", db, "--campaign", "demo", "--file", sample,
                         "--mode", "replace")  # fmt: skip
    assert code == 0, err
    assert f"replaced {first['rows']:,} untouched contacts" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--file", "/nonexistent.csv"], 66, "no such file"),
        (["--file", "{csv}", "--map", "Nope=phone"], 64, "column 'Nope' is not in the file"),
        (["--file", "{csv}", "--map", "phone=telephone"], 64, "unknown field 'telephone'"),
        (["--file", "{csv}", "--mapping", "/none.toml"], 64, "no such mapping file"),
        (["--file", "{csv}", "--task", "nope"], 66, "no task 'nope'"),
        (["--file", "{csv}", "--region", "XX"], 64, "unknown region 'XX'"),
        (["--file", "{bad}"], 65, "nothing imported: all 1 rows were rejected"),
        (["--file", "{empty}"], 65, "has no data rows"),
        (["--file", "{csv}", "--sheet", "Kontakte"], 66, "a CSV file, which has no sheets"),
        (["--file", "{csv}", "--encoding", "utf-16"], 66, "cannot be read as utf-16 text"),
        (["--file", "{dupes}"], 64, "2 columns are named 'note' (columns 2, 3)"),
    ],
)
def test_errors_are_one_line_with_distinct_exit_codes(
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    code: int,
    message: str,
) -> None:
    files = {
        "csv": tmp_path / "ok.csv",
        "bad": tmp_path / "bad.csv",
        "empty": tmp_path / "empty.csv",
        "dupes": tmp_path / "dupes.csv",
    }
    files["csv"].write_text("phone\n030 1234567\n")
    files["bad"].write_text("phone\n12\n")
    files["empty"].write_text("phone\n")
    files["dupes"].write_text("phone,note,note\n030 1234567,a,b\n")
    args = [a.format(**{k: str(v) for k, v in files.items()}) for a in args]
    got, _, err = run(capsys, "--db", db, "--campaign", "demo", *args)
    assert got == code
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_unknown_campaign_and_unmigrated_database(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "ok.csv"
    f.write_text("phone\n030 1234567\n")
    code, _, err = run(capsys, "--db", db, "--campaign", "nope", "--file", str(f))
    assert code == 66 and "no campaign named 'nope'" in err
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    code, _, err = run(capsys, "--db", fresh, "--campaign", "demo", "--file", str(f))
    assert code == 78 and "dialerd migrate" in err
