"""Agents in several campaigns: one campaign paces for each at a time."""

from __future__ import annotations

from dialerd.engine.pools import AgentPools, PoolCandidate

A, B, C = 1, 2, 3


def cand(campaign: int, penalty: int = 0, dialing: bool = True) -> PoolCandidate:
    return PoolCandidate(campaign, f"camp-{campaign}", penalty, dialing)


def test_an_agent_is_in_one_pool_and_the_agents_split_evenly() -> None:
    pools = AgentPools()
    owners = [pools.place(f"agent-{i}", [cand(A), cand(B)]) for i in range(6)]
    assert owners == [A, B, A, B, A, B]
    assert pools.load(A) == pools.load(B) == 3


def test_a_campaign_that_dials_and_one_the_agent_names_come_first() -> None:
    pools = AgentPools()
    assert pools.place("x", [cand(A, dialing=False), cand(B)]) == B
    assert pools.place("y", [cand(A, penalty=1), cand(B, penalty=0), cand(C, penalty=1)]) == B
    # nothing dials: the agent still belongs somewhere (the campaigns' views show it)
    assert pools.place("z", [cand(A, dialing=False)]) == A
    assert pools.place("z", []) is None and pools.owner("z") is None


def test_the_pool_is_sticky_while_its_campaign_dials() -> None:
    pools = AgentPools()
    assert pools.place("x", [cand(A)]) == A
    for i in range(4):
        pools.place(f"other-{i}", [cand(A)])
    # the agent joins B's queue: A may have calls in flight for them, so they stay
    assert pools.place("x", [cand(A), cand(B)]) == A
    # A stops dialing (disabled, out of contacts): they move
    assert pools.place("x", [cand(A, dialing=False), cand(B)]) == B
    # the agent leaves B's queue: back to the one left
    assert pools.place("x", [cand(A)]) == A


def test_the_end_of_a_talk_evens_out_the_pools_by_two_or_more() -> None:
    pools = AgentPools()
    for i in range(3):
        pools.place(f"a-{i}", [cand(A)])
    pools.place("b-0", [cand(B)])
    # A has 3, B 1: a shared agent at the end of a talk in A moves (A 4 -> 3, B 1 -> 2)
    assert pools.place("x", [cand(A)]) == A
    assert pools.place("x", [cand(A), cand(B)], rebalance=True) == B
    # B 2, A 3: one apart, no move back and forth
    assert pools.place("x", [cand(A), cand(B)], rebalance=True) == B
    # a campaign the agent names beats one it takes by skill, whatever the loads
    assert pools.place("x", [cand(A, penalty=0), cand(B, penalty=1)], rebalance=True) == A


def test_a_log_in_pins_the_agent_to_its_pool_until_every_queue_is_joined() -> None:
    pools = AgentPools()
    pools.place("busy-a", [cand(A)])
    # joining A's then B's queue: B (the emptier) is chosen before the first queue is joined
    assert pools.pin("x", [cand(A), cand(B)]) == B
    # the first queue joined is A's: A must not take the agent meanwhile
    assert pools.place("x", [cand(A)]) == B
    pools.unpin("x")
    assert pools.place("x", [cand(A), cand(B)]) == B


def test_a_claim_moves_the_agent_and_the_loads() -> None:
    pools = AgentPools()
    pools.place("x", [cand(A), cand(B)])
    pools.claim("x", B)
    assert pools.owner("x") == B and (pools.load(A), pools.load(B)) == (0, 1)
    assert pools.owners() == {"x": B}
