"""``dialerd bench codec`` runs, compares like with like, and writes its JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dialerd.ami.transcript import received_stream
from dialerd.bench.codec import (
    FILTERED,
    FULL,
    LINK,
    ON_DEMAND,
    PANORAMISK,
    RECORDED,
    headline,
    login_filtered,
    measure,
)
from dialerd.cli.main import main


def test_all_parsers_see_every_message_of_the_recorded_stream(transcripts_dir: Path) -> None:
    rows = measure(received_stream(transcripts_dir / "16-load.txt")[:200_000], 4096, 1)
    assert [(r.parser, r.stream) for r in rows] == [
        (PANORAMISK, RECORDED),
        (LINK, RECORDED),
        (FULL, RECORDED),
        (ON_DEMAND, RECORDED),
        (PANORAMISK, FILTERED),
        (LINK, FILTERED),
    ]
    for stream in (RECORDED, FILTERED):
        same = [r for r in rows if r.stream == stream]
        assert len({r.messages for r in same}) == 1, stream
        assert same[0].vs_panoramisk == 1.0 and same[0].goal_met is None
    assert headline(rows) is rows[1]
    # The link turns events into typed ones; the filtered stream loses only noise.
    assert rows[1].typed_events is not None and rows[1].typed_events > 0
    assert rows[5].typed_events == rows[1].typed_events
    assert rows[4].messages < rows[0].messages


def test_the_whole_recording_gives_the_counts_of_the_transcripts_readme(
    transcripts_dir: Path,
) -> None:
    stream = received_stream(transcripts_dir / "16-load.txt")
    rows = measure(stream, 65536, 1)
    by_key = {(r.parser, r.stream): r for r in rows}
    assert by_key[(PANORAMISK, RECORDED)].messages == 2531
    # Not sent with the Login filter: VarSet 610, Newexten 482, SuccessfulAuth 1.
    assert by_key[(PANORAMISK, FILTERED)].messages == 2531 - 1093
    assert by_key[(LINK, FILTERED)].messages == 2531 - 1093
    # The 16-load README: every event the link keeps becomes a typed event.
    assert by_key[(LINK, RECORDED)].typed_events == 2477 - 1938


def test_login_filter_removes_only_the_events_asterisk_would_not_send() -> None:
    stream = (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Response: Success\r\nActionID: 1\r\n\r\n"
        b"Event: VarSet\r\nVariable: A\r\n\r\n"
        b"Event: Hangup\r\nUniqueid: u\r\n\r\n"
        b"Event: Newexten\r\nExten: s\r\n\r\n"
    )
    assert login_filtered(stream) == (
        b"Asterisk Call Manager/11.0.0\r\n"
        b"Response: Success\r\nActionID: 1\r\n\r\n"
        b"Event: Hangup\r\nUniqueid: u\r\n\r\n"
    )


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
    out = capsys.readouterr().out
    assert "| panoramisk |" in out and "headline" in out and "**dialerd link**" in out
    (result,) = tmp_path.glob("codec-*.json")
    data = json.loads(result.read_text())
    assert data["benchmark"] == "codec" and len(data["results"]) == 6
    assert data["headline"]["parser"] == LINK and data["headline"]["stream"] == RECORDED
