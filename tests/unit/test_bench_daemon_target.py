"""The daemon benchmark's verdict on issue #6's target (2,000 calls, 500 agents)."""

from __future__ import annotations

from dataclasses import replace

from dialerd.bench.daemon import PhaseResult, table, target_line, target_reached

FULL = PhaseResult(
    phase="full",
    agents=500,
    lines=2000,
    servers=2,
    seconds=60.0,
    calls_mean=1900.0,
    calls_max=2000,
    placed=4000,
    placed_per_s=66.0,
    ticks=60,
    ticks_sampled=60,
    tick_p50_ms=3.0,
    tick_p99_ms=90.0,
    tick_max_ms=95.0,
    tick_p99_hist_ms=100.0,
    cpu_seconds=30.0,
    cpu_share=0.5,
    cpu_ms_per_call=7.5,
    sim_cpu_share=0.1,
    ready_seconds=9.0,
    stop_seconds=10.0,
    exit_code=0,
)


def test_the_full_load_holding_the_lines_with_short_ticks_reaches_the_target() -> None:
    assert target_reached(FULL)
    assert "REACHED" in target_line(FULL) and "2,000 concurrent calls" in target_line(FULL)
    assert "target 2,000 calls / 500 agents" in table([FULL])
    assert table([FULL]).splitlines()[-1].endswith("| reached |")


def test_each_shortfall_misses_the_target() -> None:
    for short in (
        replace(FULL, agents=50, lines=200, calls_max=200, calls_mean=200.0),  # a baseline
        replace(FULL, calls_max=1999),
        replace(FULL, calls_mean=1700.0),
        replace(FULL, tick_p99_ms=1200.0),
        replace(FULL, exit_code=1),
    ):
        assert not target_reached(short)
        assert "NOT reached" in target_line(short)
        assert table([short]).splitlines()[-1].endswith("| not reached |")
