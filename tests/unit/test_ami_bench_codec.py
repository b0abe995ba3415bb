"""``dialerd bench codec`` runs, compares like with like, and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialerd.bench.codec import FULL, ON_DEMAND, measure
from dialerd.cli.main import main


def test_all_parsers_see_every_message_of_the_recorded_stream(transcripts_dir: Path) -> None:
    from dialerd.ami.transcript import received_stream

    rows = measure(received_stream(transcripts_dir / "16-load.txt")[:200_000], 4096, 1)
    assert [r.parser for r in rows] == ["panoramisk", ON_DEMAND, FULL, "dialerd link"]
    assert len({r.messages for r in rows}) == 1
    assert rows[0].vs_panoramisk == 1.0


def test_cli_writes_json(
    transcripts_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "bench",
            "codec",
            "--transcript",
            str(transcripts_dir / "05-busy.txt"),
            "--repeat",
            "1",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    assert "| panoramisk |" in capsys.readouterr().out
    (result,) = tmp_path.glob("codec-*.json")
    data = json.loads(result.read_text())
    assert data["benchmark"] == "codec" and len(data["results"]) == 4
