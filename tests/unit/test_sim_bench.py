"""The socket-less part of ``dialerd bench sim`` keeps working (small numbers)."""

from __future__ import annotations

from dialerd.bench.sim import PhaseResult, _table, offline


def test_offline_run_simulates_calls_and_reports_head_room() -> None:
    result = offline(calls=50, agents=10, seconds=30.0, seed=1, warmup=10.0)
    assert result.events > 1000  # calls were placed, answered, queued and ended
    assert result.cpu_s > 0
    assert result.realtime_factor > 1.0


def test_table_marks_a_phase_that_falls_behind() -> None:
    row = PhaseResult(
        "load", 2000, 500, 60.0, 2000, 2000, 60.0, 3000.0, 1.2, 5, 50, 1, 150, 300, 3000
    )
    text = _table([row])
    assert "| NO |" in text and "120 %" in text
