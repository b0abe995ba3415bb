"""A campaign decided part by part (the engine's part is one Asterisk server): each part's
snapshot holds its own agents and calls in flight, and the campaign's estimates, windows and
rate; a part decided alone never counts another part's agents."""

from __future__ import annotations

from dialerd.domain.enums import AgentState, CallResult, DialMode
from dialerd.pacing import (
    PacingSettings,
    Part,
    SnapshotBuilder,
    WindowSpec,
    allowed_rate,
    decide,
    mode_used,
)
from dialerd.pacing.predictive import planning_rate, remaining_budget

EAST = frozenset({"e1", "e2", "e3", "e4", "e5"})
WEST = frozenset({"w1", "w2", "w3", "w4", "w5"})


def _campaign(mode: DialMode) -> SnapshotBuilder:
    """Five agents on each of two servers: on east two ready, the others talking; on west all
    ready. One call rings on east, one on west; one answer waits on west. Enough history for
    predictive; an hour window with 40 live answers and no abandon."""
    b = SnapshotBuilder(
        PacingSettings(dial_mode=mode, min_agents_predictive=5),
        windows=(WindowSpec("hour", 3600.0),),
        trunk_lines=100,
    )
    for i in range(40):
        b.call_placed(f"old{i}", 0.0)
        if i % 3 == 0:
            b.call_answered(f"old{i}", 8.0)
            b.call_connected(f"old{i}", 9.0)
        else:
            b.call_ended(f"old{i}", 25.0, CallResult.NO_ANSWER)
    for a in ("e1", "e2"):
        b.agent_state(a, AgentState.READY, 30.0)
    for a in ("e3", "e4", "e5"):
        b.agent_state(a, AgentState.TALKING, 30.0)
    for a in sorted(WEST):
        b.agent_state(a, AgentState.READY, 30.0)
    b.call_placed("east-ringing", 35.0)
    b.call_placed("west-ringing", 35.0)
    b.call_placed("west-queued", 34.0)
    b.call_answered("west-queued", 39.0)
    return b


def _parts() -> tuple[Part, Part]:
    return (
        Part(EAST, frozenset({"east-ringing"}), team=5),
        Part(WEST, frozenset({"west-ringing", "west-queued"}), team=5),
    )


def test_a_parts_snapshot_holds_its_agents_and_calls_and_the_campaigns_agents() -> None:
    b = _campaign(DialMode.PREDICTIVE)
    whole = b.build(40.0)
    east, west = (b.build(40.0, part=p) for p in _parts())
    assert (len(whole.ready), len(whole.talking), whole.calls_in_flight) == (7, 3, 3)
    assert (len(east.ready), len(east.talking), len(east.ringing), len(east.queued)) == (2, 3, 1, 0)
    assert (len(west.ready), len(west.talking), len(west.ringing), len(west.queued)) == (5, 0, 1, 1)
    assert (east.campaign_agents, west.campaign_agents, whole.campaign_agents) == (10, 10, None)
    assert (east.window_agents, east.active_agents, east.budget_share) == (10, 5, 0.5)
    assert (east.team, east.smoothing_agents) == (5, 5)
    # the campaign's estimates and windows, the same in every part
    assert east.estimates is whole.estimates is west.estimates
    assert east.windows == whole.windows == west.windows
    # every call in flight still takes a line of the campaign's trunk
    assert east.free_lines == west.free_lines == whole.free_lines == 97


def test_every_part_plans_at_the_campaigns_rate_and_shares_what_its_windows_have_left() -> None:
    """The rate the windows allow is worked out on the campaign's forecast of live answers,
    so each part holding its expected abandons under it keeps the campaign's sum under it;
    seen from one part only (its five agents) the forecast would be half as large and the
    hour's banked slack spent twice. What is left of the budget is split by active agents."""
    b = _campaign(DialMode.PREDICTIVE)
    whole = b.build(40.0)
    parts = [b.build(40.0, part=p) for p in _parts()]
    alone = b.build(40.0, part=Part(EAST | WEST, frozenset(), team=None))
    assert {allowed_rate(p) for p in parts} == {allowed_rate(whole)}
    assert {planning_rate(p) for p in parts} == {planning_rate(whole)}
    budget = remaining_budget(whole)
    assert [remaining_budget(p) for p in parts] == [budget / 2, budget / 2]
    assert remaining_budget(alone) == budget
    b.unseen_agents = WEST  # a lost server: the other is the whole campaign
    east = b.build(41.0, part=_parts()[0])
    assert (east.campaign_agents, east.budget_share) == (5, 1.0)


def test_progressive_dials_on_each_server_for_its_own_ready_agents() -> None:
    """East has two ready agents and one call ringing for them, west five ready and two calls
    waiting: one decision for all (seven ready, three calls) placed four; per server, one on
    east and three on west. A ready agent on west no longer makes a call on east."""
    b = _campaign(DialMode.PROGRESSIVE)
    assert decide(b.build(40.0)) == 4
    assert [decide(b.build(40.0, part=p)) for p in _parts()] == [1, 3]
    b.agent_state("e1", AgentState.TALKING, 41.0)
    b.agent_state("e2", AgentState.TALKING, 41.0)
    assert [decide(b.build(42.0, part=p)) for p in _parts()] == [0, 3]


def test_predictive_on_each_server_counts_its_own_team() -> None:
    """Five on each server with the minimum of 5: each server dials predictively for its
    five. Four on east and six on west: east is held to progressive, west is not."""
    b = _campaign(DialMode.PREDICTIVE)
    east, west = (b.build(40.0, part=p) for p in _parts())
    assert (mode_used(east), mode_used(west)) == (DialMode.PREDICTIVE, DialMode.PREDICTIVE)
    small = Part(EAST - {"e5"}, frozenset({"east-ringing"}), team=4)
    large = Part(WEST | {"e5"}, frozenset({"west-ringing", "west-queued"}), team=6)
    east, west = b.build(40.0, part=small), b.build(40.0, part=large)
    assert (mode_used(east), mode_used(west)) == (DialMode.PROGRESSIVE, DialMode.PREDICTIVE)
    assert decide(east) == 1  # two ready, one call ringing


def test_a_part_with_every_agent_and_call_decides_as_the_whole_campaign() -> None:
    """A campaign on one server: its one part is the campaign, and the decisions are the
    same to the call (the engine builds the whole snapshot then, the bench always)."""
    b = _campaign(DialMode.PREDICTIVE)
    everything = Part(
        EAST | WEST, frozenset({"east-ringing", "west-ringing", "west-queued"}), team=None
    )
    for t, agent in ((40.0, "e1"), (45.0, "w1"), (50.0, "w2"), (55.0, "w3")):
        b.agent_state(agent, AgentState.WRAPUP, t, wrapup_s=10.0)
        whole, part = b.build(t), b.build(t, part=everything)
        assert part.campaign_agents == whole.active_agents
        assert decide(part) == decide(whole)
        assert planning_rate(part) == planning_rate(whole)
        assert remaining_budget(part) == remaining_budget(whole)
