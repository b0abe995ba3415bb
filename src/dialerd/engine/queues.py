"""Which Asterisk queues the campaigns need, and which of them an Asterisk server lacks.

Asterisk has only the queues queues.conf defines. A campaign's queue, or an agent's own queue
``<queue>.<agent>`` (previews, personal callbacks), that a server lacks does not stop anything
by itself: the agent's QueueAdd is refused (a log line), and a call sent into it is abandoned at
once (``Queue()`` on a missing queue returns without waiting for an agent). So the engine asks
each server whether it has every queue it needs (when the link becomes ready, and every
``EngineSettings.queue_check_seconds``) and keeps the answers here: a campaign places no call
on a server lacking its queue, and no preview or personal callback goes to an agent whose own
queue is missing; the contact waits. Once the queue is defined (and ``module reload
app_queue`` run) the next check finds it and work resumes.

Pure: the engine does the asking (:meth:`dialerd.ami.AsteriskServer.queue_defined`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from dialerd.domain.model import Agent


@dataclass(frozen=True, slots=True)
class QueueChange:
    """What one check (or one refused QueueAdd) changed on one server."""

    server: str
    missing: tuple[str, ...] = ()
    """Queues found missing that were not known missing before."""
    defined: tuple[str, ...] = ()
    """Queues known missing that the server has now."""

    def __bool__(self) -> bool:
        return bool(self.missing or self.defined)


class QueueBook:
    """The queues known missing, per server. A queue never checked counts as present: a
    server is not held back before its first check (which runs as soon as its link is ready).
    """

    def __init__(self) -> None:
        self._missing: dict[str, set[str]] = {}

    def is_missing(self, server: str, queue: str) -> bool:
        return queue in self._missing.get(server, ())

    def missing(self) -> dict[str, tuple[str, ...]]:
        """Server -> its missing queues (sorted); servers lacking none are left out."""
        return {s: tuple(sorted(qs)) for s, qs in sorted(self._missing.items()) if qs}

    def record(
        self, server: str, checked: Mapping[str, bool], needed: Iterable[str] | None = None
    ) -> QueueChange:
        """The answers of one check of ``server``: queue -> whether the server has it.

        ``needed``: every queue the server should have now; a queue known missing that is no
        longer needed (its campaign or agent gone) is forgotten. Queues neither checked nor
        in ``needed`` keep what was known (a check cut short by a lost link).
        """
        known = self._missing.setdefault(server, set())
        before = set(known)
        if needed is not None:
            known &= set(needed)
        for queue, defined in checked.items():
            if defined:
                known.discard(queue)
            else:
                known.add(queue)
        return QueueChange(
            server,
            missing=tuple(sorted(known - before)),
            defined=tuple(sorted(q for q in before - known if checked.get(q) is True)),
        )

    def note_missing(self, server: str, queue: str) -> QueueChange:
        """Asterisk refused a QueueAdd to ``queue``: ``No such queue``."""
        return self.record(server, {queue: False})


@dataclass(frozen=True, slots=True)
class CampaignQueue:
    """A campaign as far as its queues go: its name, its Asterisk queue, whether it previews."""

    campaign: str
    queue: str
    preview: bool = False


def own_queue(queue: str, agent: str) -> str:
    """The agent's own queue of a campaign (``<queue>.<agent>``): preview calls and personal
    callbacks go there, to that agent only."""
    return f"{queue}.{agent}"


def agent_queues(campaign: CampaignQueue, agent: str) -> list[str]:
    """The queues an agent taking the campaign's calls joins: the campaign queue and their own
    queue; in preview mode their own queue only."""
    own = own_queue(campaign.queue, agent)
    return [own] if campaign.preview else [campaign.queue, own]


def needed_queues(
    agents: Iterable[tuple[Agent, str]], campaigns: Iterable[CampaignQueue]
) -> dict[str, dict[str, tuple[str, ...]]]:
    """Server -> queue -> who needs it (sorted): for each agent (with the server it logs in
    to), the queues of every campaign it takes (:meth:`Agent.works`), as a log-in joins them."""
    camps = list(campaigns)
    out: dict[str, dict[str, set[str]]] = {}
    for agent, server in agents:
        for c in camps:
            if not agent.works(c.campaign, c.queue):
                continue
            for queue in agent_queues(c, agent.name):
                who = (
                    f"campaign {c.campaign}"
                    if queue == c.queue
                    else f"agent {agent.name} in campaign {c.campaign}"
                )
                out.setdefault(server, {}).setdefault(queue, set()).add(who)
    return {
        s: {q: tuple(sorted(w)) for q, w in sorted(qs.items())} for s, qs in sorted(out.items())
    }
