"""Agent tracker: each agent's state (ready, ringing, talking, wrapup, paused, offline).

Agents are queue members, identified by their member ``Interface`` (``PJSIP/101`` in production,
``Local/agent-1@sim-agents`` in tests); ``MemberName`` is only a display name. The state is derived
from a few facts kept per agent — queue memberships (and whether each is paused), whether the
device is unavailable, and the call phase (ringing, talking, wrap-up) — so that events arriving
in any order can only move those facts, never leave a contradictory state behind.

Why dialerd tracks wrap-up itself: AMI never announces the end of a member's wrap-up
(``QueueMemberStatus`` goes back to 1 and ``InCall`` stayed 0 throughout, AMI-NOTES "Queues"), so
wrap-up starts at ``AgentComplete`` and ends when dialerd's own timer runs out or the agent sends a
disposition (:meth:`AgentTracker.end_wrapup`).

Belt and braces: the agent's own call leg is remembered, so a Hangup of that leg ends ringing or
talking even if the AgentRingNoAnswer/AgentComplete that should have come was lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialerd.ami.events import (
    AgentCalled,
    AgentComplete,
    AgentConnect,
    AgentRingNoAnswer,
    AmiEvent,
    ChannelHangup,
    MemberChange,
    QueueMemberEvent,
)
from dialerd.domain.clock import Clock
from dialerd.domain.enums import AgentState

#: Asterisk device states that mean the member's device cannot take calls.
_UNAVAILABLE = frozenset({4, 5})
_IN_USE = frozenset({2, 3, 8})
_RINGING = frozenset({6, 7})


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """One agent as the layers above see it. ``since`` = when it entered ``state``."""

    interface: str
    name: str
    state: AgentState
    since: datetime
    queues: frozenset[str]
    paused_reason: str = ""
    call_id: str | None = None
    """Linkedid (= attempt ChannelId) of the call the agent is ringing for, talking on or
    wrapping up."""
    wrapup_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class AgentChange:
    status: AgentStatus
    previous: AgentState | None


class _Agent:
    __slots__ = (
        "interface",
        "name",
        "queues",
        "paused_reason",
        "unavailable",
        "phase",
        "call_id",
        "leg",
        "wrapup_t",
        "wrapup_at",
        "state",
        "since",
        "published_queues",
    )

    def __init__(self, interface: str, name: str, now: datetime) -> None:
        self.interface = interface
        self.name = name
        self.queues: dict[str, bool] = {}
        self.paused_reason = ""
        self.unavailable = False
        self.phase: AgentState | None = None  # RINGING, TALKING or WRAPUP
        self.call_id: str | None = None
        self.leg: str | None = None
        self.wrapup_t = 0.0
        self.wrapup_at: datetime | None = None
        self.state = AgentState.OFFLINE
        self.since = now
        self.published_queues: frozenset[str] = frozenset()

    def derive(self) -> AgentState:
        if not self.queues or self.unavailable:
            return AgentState.OFFLINE
        if self.phase is not None:
            return self.phase
        if all(self.queues.values()):
            return AgentState.PAUSED
        return AgentState.READY

    def status(self) -> AgentStatus:
        return AgentStatus(
            self.interface,
            self.name,
            self.state,
            self.since,
            frozenset(self.queues),
            self.paused_reason,
            self.call_id if self.phase is not None else None,
            self.wrapup_at if self.phase is AgentState.WRAPUP else None,
        )


class AgentTracker:
    """Agent states of one Asterisk server, from queue events plus dialerd's wrap-up timer.

    Pure and synchronous like the call tracker: feed events to :meth:`handle`, call :meth:`tick`
    about once a second for wrap-up timers; each method returns the changes it caused.
    ``wrapup_seconds`` is the default wrap-up, ``wrapup_by_queue`` overrides it per queue.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        wrapup_seconds: float = 10.0,
        wrapup_by_queue: Mapping[str, float] | None = None,
    ) -> None:
        self._clock = clock
        self.wrapup_seconds = wrapup_seconds
        self.wrapup_by_queue = dict(wrapup_by_queue or {})
        self._agents: dict[str, _Agent] = {}
        self._by_leg: dict[str, _Agent] = {}
        """The agent's own call leg (DestUniqueid), to notice its Hangup."""

    # -- reading --------------------------------------------------------------------------------

    def get(self, interface: str) -> AgentStatus | None:
        a = self._agents.get(interface)
        return None if a is None else a.status()

    def paused_in(self, interface: str, queue: str) -> bool | None:
        """Whether the member is paused in ``queue`` (None: not a member of it).
        :class:`AgentStatus` carries one pause reason per agent; holding an agent out of one
        queue needs the flag of that queue."""
        a = self._agents.get(interface)
        return None if a is None else a.queues.get(queue)

    def snapshot(self) -> dict[str, AgentStatus]:
        return {i: a.status() for i, a in self._agents.items()}

    def count_by_state(self, queue: str | None = None) -> dict[AgentState, int]:
        counts = dict.fromkeys(AgentState, 0)
        for a in self._agents.values():
            if queue is None or queue in a.queues:
                counts[a.state] += 1
        return counts

    # -- changes ----------------------------------------------------------------------------------

    def _agent(self, interface: str, name: str | None, queue: str | None = None) -> _Agent:
        """The agent, created on first sight. ``queue``: being rung from a queue proves
        membership (only AgentCalled passes it: an AgentComplete may follow a logout)."""
        a = self._agents.get(interface)
        if a is None:
            a = _Agent(interface, name or interface, self._clock.now())
            self._agents[interface] = a
        elif name:
            a.name = name
        if queue:
            a.queues.setdefault(queue, False)
        return a

    def _update(self, a: _Agent, out: list[AgentChange]) -> None:
        """A change when the state changes, and when the agent joins or leaves a queue in the
        same state: a campaign whose queue a ready agent joins must learn of it at once, not at
        the agent's next call."""
        new = a.derive()
        queues = frozenset(a.queues)
        if new is not a.state:
            previous = a.state
            a.state = new
            a.since = self._clock.now()
        elif queues != a.published_queues:
            previous = a.state
        else:
            return
        a.published_queues = queues
        out.append(AgentChange(a.status(), previous))

    def _start_wrapup(self, a: _Agent, queue: str | None) -> None:
        seconds = self.wrapup_by_queue.get(queue or "", self.wrapup_seconds)
        a.phase = AgentState.WRAPUP
        a.wrapup_t = self._clock.monotonic() + seconds
        a.wrapup_at = self._clock.now() + timedelta(seconds=seconds)
        a.leg = None

    def _set_leg(self, a: _Agent, leg: str | None) -> None:
        a.leg = leg
        if leg is not None:
            self._by_leg[leg] = a

    def handle(self, event: AmiEvent) -> list[AgentChange]:
        out: list[AgentChange] = []
        if isinstance(event, QueueMemberEvent):
            self._on_member(event, out)
        elif isinstance(event, AgentCalled):
            a = self._agent(event.interface, event.member_name, event.queue)
            if a.phase is not AgentState.TALKING:
                a.phase = AgentState.RINGING
                a.call_id = event.linkedid or event.uniqueid
                self._set_leg(a, event.agent_uniqueid)
            self._update(a, out)
        elif isinstance(event, AgentRingNoAnswer):
            rung = self._agents.get(event.interface)
            if rung is not None and rung.phase is AgentState.RINGING:
                rung.phase, rung.call_id, rung.leg = None, None, None
                self._update(rung, out)
        elif isinstance(event, AgentConnect):
            a = self._agent(event.interface, event.member_name)
            a.phase = AgentState.TALKING
            a.call_id = event.linkedid or event.uniqueid
            self._set_leg(a, event.agent_uniqueid)
            self._update(a, out)
        elif isinstance(event, AgentComplete):
            a = self._agent(event.interface, event.member_name)
            # Without the channels' fields it is still the end of the call the agent took.
            a.call_id = event.linkedid or event.uniqueid or a.call_id
            restarted = a.phase is AgentState.WRAPUP and a.state is AgentState.WRAPUP
            self._start_wrapup(a, event.queue)
            if restarted:
                # The agent leg's Hangup came first and started the default wrap-up; the
                # queue's wrap-up replaces it, and pacing must hear of its new end.
                out.append(AgentChange(a.status(), a.state))
            else:
                self._update(a, out)
        elif isinstance(event, ChannelHangup):
            leg_of = self._by_leg.get(event.uniqueid)
            if leg_of is not None and leg_of.leg == event.uniqueid:
                if leg_of.phase is AgentState.RINGING:
                    leg_of.phase, leg_of.call_id = None, None
                elif leg_of.phase is AgentState.TALKING:
                    self._start_wrapup(leg_of, None)
                leg_of.leg = None
                self._update(leg_of, out)
            self._by_leg.pop(event.uniqueid, None)
        return out

    def _on_member(self, ev: QueueMemberEvent, out: list[AgentChange]) -> None:
        if ev.change is MemberChange.REMOVED:
            gone = self._agents.get(ev.interface)
            if gone is None:
                return
            gone.queues.pop(ev.queue, None)
            self._update(gone, out)
            return
        else:
            a = self._agent(ev.interface, ev.member_name)
            a.queues[ev.queue] = ev.paused
            a.paused_reason = ev.paused_reason if ev.paused else ""
            if ev.device_status is not None:
                a.unavailable = ev.device_status in _UNAVAILABLE
        self._update(a, out)

    def tick(self) -> list[AgentChange]:
        """End wrap-ups whose timer ran out."""
        t = self._clock.monotonic()
        out: list[AgentChange] = []
        for a in self._agents.values():
            if a.phase is AgentState.WRAPUP and t >= a.wrapup_t:
                a.phase, a.call_id, a.wrapup_at = None, None, None
                self._update(a, out)
        return out

    def end_wrapup(self, interface: str, call_id: str | None = None) -> list[AgentChange]:
        """The agent gave a disposition: wrap-up ends now; with ``call_id``, only a wrap-up
        after that call (or after a call not known)."""
        out: list[AgentChange] = []
        a = self._agents.get(interface)
        if (
            a is not None
            and a.phase is AgentState.WRAPUP
            and (call_id is None or a.call_id in (None, call_id))
        ):
            a.phase, a.call_id, a.wrapup_at = None, None, None
            self._update(a, out)
        return out

    # -- what our own actions did (their events may arrive later, or be lost) -------------------

    def note_added(
        self, queue: str, interface: str, name: str | None = None, paused: bool = False
    ) -> list[AgentChange]:
        out: list[AgentChange] = []
        a = self._agent(interface, name)
        a.queues[queue] = paused
        self._update(a, out)
        return out

    def note_removed(self, queue: str, interface: str) -> list[AgentChange]:
        out: list[AgentChange] = []
        a = self._agents.get(interface)
        if a is not None:
            a.queues.pop(queue, None)
            self._update(a, out)
        return out

    def note_paused(
        self, interface: str, paused: bool, queue: str | None = None, reason: str = ""
    ) -> list[AgentChange]:
        """``queue=None`` pauses the member in every queue (as QueuePause without Queue does)."""
        out: list[AgentChange] = []
        a = self._agents.get(interface)
        if a is None:
            return out
        for q in [queue] if queue is not None else list(a.queues):
            if q in a.queues:
                a.queues[q] = paused
        a.paused_reason = reason if paused else ""
        self._update(a, out)
        return out

    # -- link -------------------------------------------------------------------------------------

    def resync(self, members: Iterable[QueueMemberEvent]) -> list[AgentChange]:
        """Rebuild memberships from a QueueStatus listing (after (re)connect).

        Members not listed are gone (an Asterisk restart drops runtime members). A call phase the
        listing contradicts is cleared; a talk that ended while the link was down goes to
        wrap-up from now.
        """
        self._by_leg.clear()
        listed: dict[str, list[QueueMemberEvent]] = {}
        for m in members:
            listed.setdefault(m.interface, []).append(m)
        out: list[AgentChange] = []
        for interface, items in listed.items():
            a = self._agent(interface, items[0].member_name)
            a.queues = {m.queue: m.paused for m in items}
            paused = [m for m in items if m.paused]
            a.paused_reason = paused[0].paused_reason if paused else ""
            statuses = {m.device_status for m in items if m.device_status is not None}
            a.unavailable = bool(statuses) and statuses <= _UNAVAILABLE
            if statuses & _IN_USE:
                if a.phase is not AgentState.TALKING:
                    a.phase, a.call_id, a.leg = AgentState.TALKING, None, None
            elif statuses & _RINGING:
                if a.phase is not AgentState.RINGING:
                    a.phase, a.call_id, a.leg = AgentState.RINGING, None, None
            elif a.phase is AgentState.TALKING:
                self._start_wrapup(a, next(iter(a.queues), None))
            elif a.phase is AgentState.RINGING:
                a.phase, a.call_id, a.leg = None, None, None
            self._update(a, out)
        for interface, a in self._agents.items():
            if interface not in listed and a.queues:
                a.queues.clear()
                a.phase, a.call_id, a.leg = None, None, None
                self._update(a, out)
        return out
