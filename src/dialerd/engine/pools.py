"""Which campaign paces for an agent who takes calls of several campaigns.

An agent may be in several campaigns' queues (named in ``campaigns``, or taking them by skill,
or by default every campaign). If every campaign counted such an agent as its own, each would
dial for the same free agent: two progressive campaigns would place two calls for one agent,
and the answer that finds the agent taken is abandoned. So the agent is in one campaign's
*pacing pool* at a time; the other campaigns keep the agent in their queue (Asterisk may still
connect them a caller when the agent is free) but do not dial for them.

The choice, in order: a campaign that dials now over one that does not (inactive, stopping,
out of contacts);
the campaign the agent names (queue penalty 0) over one taken by skill (penalty 1); the
campaign with the fewest agents in its pool; the name. It is sticky: an agent stays where it
is while that campaign dials, because the campaign may already have calls in flight for them.
It moves when that campaign stops dialing or the agent leaves its queue, and, to even out the
pools, at the end of a talk when another campaign of the same penalty has at least two agents
fewer (or one of a lower penalty dials). Pure bookkeeping: the engine feeds it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

#: Added to an agent's penalty in the queue of a campaign that does not pace for them:
#: app_queue offers a caller to the free members of the lowest penalty first, so a caller of
#: that campaign goes to the agents it dialed for, and to this one only when none is free.
POOL_PENALTY = 10


@dataclass(frozen=True, slots=True)
class PoolCandidate:
    """A campaign whose queue the agent is in."""

    campaign: int
    name: str
    penalty: int
    """0: the agent names the campaign; 1: the agent takes it by skill."""
    dialing: bool
    """The campaign dials now (not inactive, not stopping)."""


class AgentPools:
    def __init__(self) -> None:
        self._owner: dict[str, int] = {}
        self._load: Counter[int] = Counter()
        self._pinned: set[str] = set()

    def owner(self, interface: str) -> int | None:
        """The campaign that paces for the agent; None: none."""
        return self._owner.get(interface)

    def owners(self) -> dict[str, int]:
        """Agent interface -> the campaign that paces for them."""
        return dict(self._owner)

    def load(self, campaign: int) -> int:
        """Agents in the campaign's pool."""
        return self._load[campaign]

    def place(
        self, interface: str, candidates: Sequence[PoolCandidate], *, rebalance: bool = False
    ) -> int | None:
        """The agent's pool after a change of its queues or of the campaigns; returns it.

        ``rebalance``: the agent may move to even out the pools (the end of a talk, a log-in).
        A pinned agent (:meth:`pin`) stays where it was pinned.
        """
        if interface in self._pinned:
            return self._owner.get(interface)
        if not candidates:
            self._set(interface, None)
            return None
        pool = [c for c in candidates if c.dialing] or list(candidates)
        owner = self._owner.get(interface)
        current = next((c for c in pool if c.campaign == owner), None)
        best = min(pool, key=lambda c: (c.penalty, self._load[c.campaign], c.name))
        if current is None or (rebalance and self._better(best, current)):
            current = best
        self._set(interface, current.campaign)
        return current.campaign

    def pin(
        self, interface: str, candidates: Sequence[PoolCandidate], *, rebalance: bool = True
    ) -> int | None:
        """Choose the agent's pool among ``candidates`` (the queues it is joining) and keep it
        there until :meth:`unpin`, while the log-in adds the agent to one queue after another:
        a campaign whose queue the agent joins first must not dial for them meanwhile.
        ``rebalance=False`` (a logged-in agent joining a new campaign): the agent stays in the
        pool it is in while that campaign dials, as it may have calls in flight for them."""
        self._pinned.discard(interface)
        chosen = self.place(interface, candidates, rebalance=rebalance)
        self._pinned.add(interface)
        return chosen

    def unpin(self, interface: str) -> None:
        self._pinned.discard(interface)

    def claim(self, interface: str, campaign: int) -> None:
        """The campaign takes the agent (a personal callback due for them)."""
        self._set(interface, campaign)

    def _better(self, best: PoolCandidate, current: PoolCandidate) -> bool:
        if best.campaign == current.campaign:
            return False
        if best.penalty != current.penalty:
            return best.penalty < current.penalty
        return self._load[current.campaign] - self._load[best.campaign] >= 2

    def _set(self, interface: str, campaign: int | None) -> None:
        old = self._owner.pop(interface, None)
        if old is not None:
            self._load[old] -= 1
        if campaign is not None:
            self._owner[interface] = campaign
            self._load[campaign] += 1
