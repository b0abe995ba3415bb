"""The simulated PBX without sockets: seeded order variation and clean-up."""

from __future__ import annotations

from dialerd.domain.clock import ManualClock
from dialerd.sim.channels import Headers
from dialerd.sim.model import SimModel
from dialerd.sim.pbx import Pbx
from dialerd.sim.scheduler import Scheduler


def run_busy_calls(seed: int, n: int = 40) -> list[tuple[str, str]]:
    clock = ManualClock()
    sched = Scheduler(clock)
    out: list[tuple[str, str]] = []

    def emit(name: str, headers: Headers) -> None:
        d = dict(headers)
        out.append((name, d.get("Uniqueid", d.get("ActionID", ""))))

    pbx = Pbx(clock, sched, emit, SimModel(), seed)
    for i in range(n):
        pbx.originate(
            f"att-{i}",
            [
                ("Channel", f"Local/5550200{i:02d}@sim-callees"),
                ("Context", "dialer-connect"),
                ("Exten", "s"),
                ("ChannelId", f"att-{i}-a"),
                ("OtherChannelId", f"att-{i}-b"),
            ],
        )
    assert not pbx.calls and not pbx.channels  # busy calls end at once, nothing leaks
    return out


def rr_positions(events: list[tuple[str, str]], n: int = 40) -> list[int]:
    """0 = before both Hangups, 1 = between, 2 = after both."""
    positions = []
    for i in range(n):
        mine = [
            name
            for name, ident in events
            if ident in (f"att-{i}", f"att-{i}-a", f"att-{i}-b")
            and name in ("Hangup", "OriginateResponse")
        ]
        positions.append(mine.index("OriginateResponse"))
    return positions


def test_same_seed_same_order() -> None:
    assert run_busy_calls(3) == run_busy_calls(3)


def test_originate_response_floats_around_the_hangups_as_recorded() -> None:
    positions = rr_positions(run_busy_calls(5))
    assert set(positions) == {0, 1, 2}
    assert positions.count(0) > positions.count(2)  # 19:11:4 in the recordings


def test_other_seed_other_order() -> None:
    assert rr_positions(run_busy_calls(1)) != rr_positions(run_busy_calls(2))
