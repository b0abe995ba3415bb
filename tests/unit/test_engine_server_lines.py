"""A campaign decided server by server: its servers' calls within the campaign's lines, and
the order they are placed in."""

from __future__ import annotations

from dialerd.engine.runner import _interleave, _share_out


def test_the_servers_calls_are_cut_to_the_campaigns_lines_in_proportion() -> None:
    """``dial.max_concurrent_calls`` is the campaign's: two servers wanting 6 and 2 calls
    with 4 lines left get 3 and 1 (the first server's decision does not take them all)."""
    assert _share_out(4, [6, 2]) == [3, 1]
    assert _share_out(10, [6, 2]) == [6, 2]
    assert _share_out(3, [2, 2]) == [2, 1]  # equal remainders: the earlier server
    assert _share_out(0, [5, 1]) == [0, 0]
    assert sum(_share_out(7, [5, 4, 3])) == 7


def test_calls_are_leased_for_the_servers_in_turn() -> None:
    """Fewer contacts leased than decided: each server gets its share of them."""
    assert _interleave([("east", 3), ("west", 1)]) == ["east", "west", "east", "east"]
    assert _interleave([("east", 0), ("west", 2)]) == ["west", "west"]
    assert _interleave([("east", 0), ("west", 0)]) == []
