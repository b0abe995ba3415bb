"""``dialerd bench import`` runs end to end on a small file and reports against its baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialerd.cli.main import main


def test_bench_import_small_run_writes_table_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "import", "--rows", "400", "--workers", "0", "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "| dialerd import | 400 |" in out
    assert "| sqlite3 executemany (baseline) | 400 | 400 |" in out
    assert "ratio dialerd/baseline:" in out
    result = json.loads((tmp_path / "import-sqlite-400.json").read_text())
    assert result["rows"] == 400 and result["ratio"] > 0
    # every generated row is accounted for: imported, or one of the deliberately bad ones
    # (and the occasional duplicate number the generator draws)
    assert 400 - result["bad_rows"] - 5 <= result["dialerd"]["inserted"] <= 400
