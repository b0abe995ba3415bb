"""Call tracker: typed AMI events in, exactly one :class:`CallOutcome` per attempt out.

The order of a call's events is not fixed (transcripts README, "Order differences"):
OriginateResponse comes before or after DialEnd, before, between or after the Hangups of a failed
call, even after QueueCallerJoin/AgentCalled. So this is not a sequence matcher: each attempt
collects *facts* (originate result, dial status, hang-up causes per channel, queue, agent, AMD)
keyed on its ids, and is closed once the facts are complete — the OriginateResponse is in and every
channel that carried the attempt's Linkedid has hung up. The result is then computed from the
facts in one place (:func:`_decide`), whatever order they came in.

Ids: the link always originates with ChannelId/OtherChannelId, so every channel of an attempt
(both Local halves and the agent legs Queue() creates) carries ``Linkedid`` = ChannelId and the
OriginateResponse carries ``Uniqueid`` = ChannelId. An Originate sent without ChannelId (recording
12) is still tracked: its OriginateResponse by ActionID, its channels by binding the first new
channel whose name is the dial string plus Asterisk's ``-XXXXXXXX;1`` suffix.

Invalid numbers come from the Hangup cause (1 unallocated, 3 no route, 28 bad format), or from a
failed Originate whose channels all ended with cause 0 without any DialBegin (no such extension):
never from OriginateResponse ``Reason: 0`` alone.

A lost link makes every open attempt *in doubt*. The resync after reconnect (CoreShowChannels)
keeps the ones whose channels still live and closes the rest; an Asterisk restart leaves no
channels and no Hangup events, so they close there as ``failed_unknown`` unless the facts already
collected settle the result (a busy signal seen before the drop is still busy).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog

from dialerd.ami.events import (
    AgentComplete,
    AgentConnect,
    AmiEvent,
    ChannelHangup,
    DialerAbandon,
    DialerAMD,
    DialPhase,
    DialProgress,
    NewChannel,
    OriginateResult,
    QueueCallerAbandon,
    QueueCallerJoin,
)
from dialerd.domain.clock import Clock
from dialerd.domain.enums import CallResult

log = structlog.get_logger(__name__)

#: Hang-up causes (Q.850) that mean the number does not exist or cannot be reached as dialed.
INVALID_CAUSES = frozenset({1, 3, 22, 28})
BUSY_CAUSES = frozenset({17, 21})
CONGESTION_CAUSES = frozenset({34, 38, 41, 42, 44})
NO_ANSWER_CAUSES = frozenset({18, 19})
#: OriginateResponse Reason values (Asterisk's AST_CONTROL_*).
REASON_NO_ANSWER = 3
REASON_ANSWERED = 4
REASON_BUSY = 5
REASON_CONGESTION = 8

_LOCAL_SUFFIX = re.compile(r"-[0-9a-f]{8};[12]$")


class CallPhase(StrEnum):
    """Where a call in progress stands (for pacing and screen pops)."""

    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    QUEUED = "queued"
    CONNECTED = "connected"
    ABANDONED = "abandoned"


@dataclass(frozen=True, slots=True)
class CallTimeline:
    """``hungup_at`` None: the call's end was not seen (the link was down: closed in doubt,
    or its channels were gone when the link came back)."""

    originated_at: datetime
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    hungup_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CallProgress:
    """A call moved to ``phase`` at ``at`` (sent once per phase, before the outcome)."""

    attempt_id: str
    phase: CallPhase
    at: datetime
    agent: str | None = None
    agent_name: str | None = None


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """The one final word on an attempt.

    ``agent`` is the queue member interface (``PJSIP/101``, ``Local/agent-1@sim-agents``),
    ``agent_name`` its MemberName. ``connect_seconds`` is answer → agent connected (what the
    abandonment rule measures), ``talk_seconds`` agent connected → end. ``hangup_cause`` is the
    Q.850 cause of the called side. ``detail`` says in words why the result is what it is.
    """

    attempt_id: str
    result: CallResult
    timeline: CallTimeline
    detail: str
    agent: str | None = None
    agent_name: str | None = None
    queue: str | None = None
    connect_seconds: float | None = None
    talk_seconds: float | None = None
    hangup_cause: int | None = None
    originate_reason: int | None = None
    amd_status: str | None = None
    amd_cause: str | None = None


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call still in progress, for pacing: its phase and how long it has been there."""

    attempt_id: str
    phase: CallPhase
    originated_at: datetime
    seconds_since_originate: float
    seconds_in_phase: float
    in_doubt: bool


CallUpdate = CallProgress | CallOutcome
_PHASE_ORDER = {phase: i for i, phase in enumerate(CallPhase)}

_ALIVE = -1


class _Attempt:
    __slots__ = (
        "attempt_id",
        "action_id",
        "channel_id",
        "other_id",
        "dial_string",
        "ring_timeout",
        "originated_at",
        "t0",
        "phase",
        "phase_t",
        "ringing_at",
        "answered_at",
        "answered_t",
        "connected_at",
        "connected_t",
        "rr_success",
        "rr_reason",
        "rr_t",
        "dial_begin",
        "dial_end",
        "channels",
        "primary_cause",
        "callee_cause",
        "last_hangup_at",
        "last_hangup_t",
        "queue",
        "queued",
        "abandon_detail",
        "agent",
        "agent_name",
        "talk_seconds",
        "amd_status",
        "amd_cause",
        "in_doubt_t",
        "ended_unseen",
    )

    def __init__(
        self,
        attempt_id: str,
        action_id: str | None,
        channel_id: str | None,
        other_id: str | None,
        dial_string: str,
        ring_timeout: float,
        now: datetime,
        t: float,
    ) -> None:
        self.attempt_id = attempt_id
        self.action_id = action_id
        self.channel_id = channel_id
        self.other_id = other_id
        self.dial_string = dial_string
        self.ring_timeout = ring_timeout
        self.originated_at = now
        self.t0 = t
        self.phase = CallPhase.DIALING
        self.phase_t = t
        self.ringing_at: datetime | None = None
        self.answered_at: datetime | None = None
        self.answered_t: float | None = None
        self.connected_at: datetime | None = None
        self.connected_t: float | None = None
        self.rr_success: bool | None = None
        self.rr_reason: int | None = None
        self.rr_t = 0.0
        self.dial_begin = False
        self.dial_end: str | None = None
        self.channels: dict[str, int] = {}
        self.primary_cause: int | None = None
        self.callee_cause: int | None = None
        self.last_hangup_at: datetime | None = None
        self.last_hangup_t = 0.0
        self.queue: str | None = None
        self.queued = False
        self.abandon_detail: str | None = None
        self.agent: str | None = None
        self.agent_name: str | None = None
        self.talk_seconds: float | None = None
        self.amd_status: str | None = None
        self.amd_cause: str | None = None
        self.in_doubt_t: float | None = None
        self.ended_unseen = False
        """A channel ended while the link was down: when the call ended is not known."""

    @property
    def all_hung_up(self) -> bool:
        return bool(self.channels) and _ALIVE not in self.channels.values()

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    def callee_side_cause(self) -> int | None:
        """The cause of the called side: ``;2`` of a Local pair carries it (``;1`` says 0)."""
        if self.callee_cause:
            return self.callee_cause
        if self.primary_cause:
            return self.primary_cause
        return self.callee_cause if self.callee_cause is not None else self.primary_cause


def _decide(a: _Attempt, forced: str | None) -> tuple[CallResult, str]:
    """The result of an attempt from its facts. ``forced`` = why it is closed early, if it is."""
    if a.amd_status == "MACHINE":
        return CallResult.MACHINE, f"answering machine ({a.amd_cause or 'AMD'})"
    if a.connected_at is not None:
        if forced:
            return CallResult.FAILED_UNKNOWN, f"connected to {a.agent}, then {forced}"
        return CallResult.CONNECTED, f"connected to {a.agent}"
    if a.abandon_detail is not None:
        return CallResult.ABANDONED, a.abandon_detail
    if a.answered:
        if forced:
            return CallResult.FAILED_UNKNOWN, f"answered, then {forced}"
        return CallResult.ABANDONED, "answered, hung up before reaching an agent"
    cause = a.callee_side_cause()
    if cause in INVALID_CAUSES:
        return CallResult.INVALID_NUMBER, f"hangup cause {cause}"
    if a.rr_reason == REASON_BUSY or cause in BUSY_CAUSES or a.dial_end == "BUSY":
        return CallResult.BUSY, f"busy (reason {a.rr_reason}, cause {cause})"
    if a.rr_reason == REASON_CONGESTION or cause in CONGESTION_CAUSES or a.dial_end == "CONGESTION":
        return CallResult.CONGESTION, f"congestion (reason {a.rr_reason}, cause {cause})"
    if a.rr_reason == REASON_NO_ANSWER or cause in NO_ANSWER_CAUSES:
        return CallResult.NO_ANSWER, f"no answer (reason {a.rr_reason}, cause {cause})"
    if (
        a.rr_success is False
        and a.all_hung_up
        and not a.dial_begin
        and all(c == 0 for c in a.channels.values())
    ):
        return CallResult.INVALID_NUMBER, "no route: channels ended with cause 0 before any dial"
    if forced:
        return CallResult.FAILED_UNKNOWN, forced
    return CallResult.FAILED_UNKNOWN, f"originate failed (reason {a.rr_reason}, cause {cause})"


class CallTracker:
    """Turns the typed event stream of one Asterisk server into call progress and outcomes.

    Pure and synchronous: the caller feeds events (:meth:`handle`), tells it about the link
    (:meth:`link_lost`, :meth:`resync`) and calls :meth:`expire` now and then; every method
    returns the updates it caused. Times come from the injected clock.

    ``grace`` bounds how long an attempt waits for a fact that normally follows within
    milliseconds (the Hangups after a failed OriginateResponse, the OriginateResponse after the
    Hangups); ``in_doubt_limit`` how long an attempt stays open while the link is down.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        grace: float = 5.0,
        in_doubt_limit: float = 60.0,
        originate_margin: float = 30.0,
        max_call_seconds: float = 4 * 3600.0,
    ) -> None:
        self._clock = clock
        self.grace = grace
        self.in_doubt_limit = in_doubt_limit
        self.originate_margin = originate_margin
        self.max_call_seconds = max_call_seconds
        self._open: dict[str, _Attempt] = {}
        self._by_linkedid: dict[str, _Attempt] = {}
        self._by_action: dict[str, _Attempt] = {}
        self._unbound: list[_Attempt] = []
        self.outcomes_total = 0

    # -- registration -------------------------------------------------------------------------

    def expect(
        self,
        attempt_id: str,
        *,
        dial_string: str,
        action_id: str | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        ring_timeout: float = 30.0,
    ) -> None:
        """Register an attempt before its Originate is written (its first event may follow at
        once)."""
        if attempt_id in self._open:
            raise ValueError(f"attempt {attempt_id!r} is already being tracked")
        a = _Attempt(
            attempt_id,
            action_id,
            channel_id,
            other_channel_id,
            dial_string,
            ring_timeout,
            self._clock.now(),
            self._clock.monotonic(),
        )
        self._open[attempt_id] = a
        if action_id:
            self._by_action[action_id] = a
        if channel_id:
            self._by_linkedid[channel_id] = a
        else:
            self._unbound.append(a)

    def forget(self, attempt_id: str) -> None:
        """Drop an attempt whose Originate was never written: no call, so no outcome."""
        a = self._open.pop(attempt_id, None)
        if a is not None:
            self._unindex(a)

    def reject(self, attempt_id: str, why: str) -> list[CallUpdate]:
        """Asterisk refused the Originate (``Response: Error``): no call, but an outcome."""
        a = self._open.get(attempt_id)
        if a is None:
            return []
        return [self._close(a, f"Originate refused: {why}")]

    @property
    def open_count(self) -> int:
        return len(self._open)

    def is_open(self, attempt_id: str) -> bool:
        return attempt_id in self._open

    def open_calls(self) -> list[OpenCall]:
        t = self._clock.monotonic()
        return [
            OpenCall(
                a.attempt_id,
                a.phase,
                a.originated_at,
                t - a.t0,
                t - a.phase_t,
                a.in_doubt_t is not None,
            )
            for a in self._open.values()
        ]

    # -- events -------------------------------------------------------------------------------

    def handle(self, event: AmiEvent) -> list[CallUpdate]:
        out: list[CallUpdate] = []
        if isinstance(event, NewChannel):
            self._on_newchannel(event)
        elif isinstance(event, ChannelHangup):
            self._on_hangup(event, out)
        elif isinstance(event, DialProgress):
            self._on_dial(event, out)
        elif isinstance(event, OriginateResult):
            self._on_originate(event, out)
        elif isinstance(event, QueueCallerJoin):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None:
                a.queued = True
                a.queue = event.queue
                self._answer(a, out)
                self._progress(a, CallPhase.QUEUED, out)
        elif isinstance(event, QueueCallerAbandon):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None and a.connected_at is None:
                a.queue = event.queue
                if a.abandon_detail is None:
                    if a.other_id is not None and a.channels.get(a.other_id, _ALIVE) != _ALIVE:
                        a.abandon_detail = "called person hung up while waiting in the queue"
                    else:
                        a.abandon_detail = f"no agent within the queue limit ({event.queue})"
                self._progress(a, CallPhase.ABANDONED, out)
        elif isinstance(event, DialerAbandon):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None and a.connected_at is None:
                a.abandon_detail = f"no agent within the connect limit ({event.status})"
                self._progress(a, CallPhase.ABANDONED, out)
        elif isinstance(event, AgentConnect):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None:
                a.agent = event.interface
                a.agent_name = event.member_name
                a.queue = event.queue
                a.connected_at = self._clock.now()
                a.connected_t = self._clock.monotonic()
                self._answer(a, out)
                self._progress(a, CallPhase.CONNECTED, out)
        elif isinstance(event, AgentComplete):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None:
                a.talk_seconds = event.talk_seconds
        elif isinstance(event, DialerAMD):
            a = self._find(event.linkedid, event.uniqueid)
            if a is not None:
                a.amd_status = event.status
                a.amd_cause = event.cause
                self._answer(a, out)
        return out

    def _find(self, linkedid: str | None, uniqueid: str | None) -> _Attempt | None:
        if linkedid is not None:
            a = self._by_linkedid.get(linkedid)
            if a is not None:
                return a
        if uniqueid is not None:
            return self._by_linkedid.get(uniqueid)
        return None

    def _on_newchannel(self, ev: NewChannel) -> None:
        a = self._find(ev.linkedid, ev.uniqueid)
        if a is None and self._unbound and (ev.linkedid in (None, ev.uniqueid)):
            base = _LOCAL_SUFFIX.sub("", ev.channel)
            for cand in self._unbound:
                if cand.dial_string == base or ev.channel.startswith(cand.dial_string + "-"):
                    a = cand
                    self._unbound.remove(cand)
                    a.channel_id = ev.uniqueid
                    self._by_linkedid[ev.uniqueid] = a
                    break
        if a is None:
            return
        if (
            a.other_id is None
            and a.channel_id != ev.uniqueid
            and ev.channel.endswith(";2")
            and _LOCAL_SUFFIX.sub("", ev.channel) == a.dial_string
        ):
            a.other_id = ev.uniqueid
        a.channels.setdefault(ev.uniqueid, _ALIVE)

    def _on_hangup(self, ev: ChannelHangup, out: list[CallUpdate]) -> None:
        a = self._find(ev.linkedid, ev.uniqueid)
        if a is None:
            return
        cause = ev.cause if ev.cause is not None else 0
        a.channels[ev.uniqueid] = cause
        if ev.uniqueid == a.channel_id:
            a.primary_cause = cause
        elif ev.uniqueid == a.other_id:
            a.callee_cause = cause
        a.last_hangup_at = self._clock.now()
        a.last_hangup_t = self._clock.monotonic()
        self._maybe_close(a, out)

    def _on_dial(self, ev: DialProgress, out: list[CallUpdate]) -> None:
        if ev.caller_uniqueid is not None:
            return  # a Queue() leg to an agent: the agent tracker's business
        a = self._find(ev.dest_linkedid, ev.dest_uniqueid)
        if a is None:
            return
        if ev.phase is DialPhase.BEGIN:
            a.dial_begin = True
        elif ev.phase is DialPhase.STATE:
            if ev.status == "RINGING" and a.ringing_at is None:
                a.ringing_at = self._clock.now()
                self._progress(a, CallPhase.RINGING, out)
        else:
            a.dial_end = ev.status
            if ev.status == "ANSWER":
                self._answer(a, out)

    def _on_originate(self, ev: OriginateResult, out: list[CallUpdate]) -> None:
        a = self._by_action.get(ev.action_id) if ev.action_id else None
        if a is None:
            a = self._find(ev.uniqueid, ev.uniqueid)
        if a is None:
            return
        a.rr_success = ev.success
        a.rr_reason = ev.reason
        a.rr_t = self._clock.monotonic()
        if ev.success:
            self._answer(a, out)
        self._maybe_close(a, out)

    # -- phases and closing ---------------------------------------------------------------------

    def _answer(self, a: _Attempt, out: list[CallUpdate]) -> None:
        if a.answered_at is None:
            a.answered_at = self._clock.now()
            a.answered_t = self._clock.monotonic()
            self._progress(a, CallPhase.ANSWERED, out)

    def _progress(self, a: _Attempt, phase: CallPhase, out: list[CallUpdate]) -> None:
        if _PHASE_ORDER[phase] <= _PHASE_ORDER[a.phase]:
            return
        a.phase = phase
        a.phase_t = self._clock.monotonic()
        out.append(
            CallProgress(
                a.attempt_id,
                phase,
                self._clock.now(),
                a.agent if phase is CallPhase.CONNECTED else None,
                a.agent_name if phase is CallPhase.CONNECTED else None,
            )
        )

    def _maybe_close(self, a: _Attempt, out: list[CallUpdate]) -> None:
        if a.rr_success is not None and a.all_hung_up:
            out.append(self._close(a, None))

    def _close(self, a: _Attempt, forced: str | None) -> CallOutcome:
        self._open.pop(a.attempt_id, None)
        self._unindex(a)
        result, detail = _decide(a, forced)
        hungup_at: datetime | None
        if (forced and not a.all_hung_up) or a.ended_unseen:
            # The end was not seen (link lost, Asterisk restarted, a channel gone when the link
            # came back): the time we gave up or noticed is no hang-up, and as one it made the
            # talk (reports, occupancy) as long as the outage.
            hungup_at = None
        else:
            hungup_at = a.last_hangup_at if (a.all_hung_up or not forced) else self._clock.now()
            if hungup_at is None:
                hungup_at = self._clock.now()
        end_t = a.last_hangup_t if a.all_hung_up else self._clock.monotonic()
        if a.ended_unseen:
            forced = forced or "ended while the link was down"
        connect_seconds = None
        talk = a.talk_seconds
        if a.connected_t is not None:
            if a.answered_t is not None:
                connect_seconds = max(0.0, a.connected_t - a.answered_t)
            if talk is None and not forced:
                talk = max(0.0, end_t - a.connected_t)
        self.outcomes_total += 1
        outcome = CallOutcome(
            attempt_id=a.attempt_id,
            result=result,
            timeline=CallTimeline(
                a.originated_at, a.ringing_at, a.answered_at, a.connected_at, hungup_at
            ),
            detail=detail,
            agent=a.agent,
            agent_name=a.agent_name,
            queue=a.queue,
            connect_seconds=connect_seconds,
            talk_seconds=talk,
            hangup_cause=a.callee_side_cause(),
            originate_reason=a.rr_reason,
            amd_status=a.amd_status,
            amd_cause=a.amd_cause,
        )
        log.debug("call outcome", attempt=a.attempt_id, result=result.value, detail=detail)
        return outcome

    def _unindex(self, a: _Attempt) -> None:
        if a.action_id and self._by_action.get(a.action_id) is a:
            del self._by_action[a.action_id]
        if a.channel_id and self._by_linkedid.get(a.channel_id) is a:
            del self._by_linkedid[a.channel_id]
        if a in self._unbound:
            self._unbound.remove(a)

    # -- time and link ----------------------------------------------------------------------------

    def expire(self) -> list[CallUpdate]:
        """Close attempts whose missing facts are overdue. Call it about once a second."""
        t = self._clock.monotonic()
        out: list[CallUpdate] = []
        for a in list(self._open.values()):
            if a.in_doubt_t is not None:
                if t - a.in_doubt_t >= self.in_doubt_limit:
                    out.append(self._close(a, "link to Asterisk lost"))
            elif (a.rr_success is not None and not a.channels and t - a.rr_t >= self.grace) or (
                a.rr_success is None and a.all_hung_up and t - a.last_hangup_t >= self.grace
            ):
                out.append(self._close(a, None))
            elif (
                a.rr_success is None
                and not a.channels
                and t - a.t0 >= a.ring_timeout + self.originate_margin
            ):
                out.append(self._close(a, "no OriginateResponse and no channel"))
            elif t - a.t0 >= self.max_call_seconds:
                out.append(self._close(a, "call exceeded the maximum call duration"))
        return out

    def link_lost(self) -> None:
        """The link dropped: events may have been missed, every open attempt is in doubt."""
        t = self._clock.monotonic()
        for a in self._open.values():
            if a.in_doubt_t is None:
                a.in_doubt_t = t

    def resync(self, live_ids: Iterable[str], *, restarted: bool = False) -> list[CallUpdate]:
        """After reconnect: ``live_ids`` = Uniqueid and Linkedid of every channel Asterisk lists.

        Attempts in doubt with a live channel are tracked on; the others are closed.
        """
        live = set(live_ids)
        why = "Asterisk restarted" if restarted else "link to Asterisk lost"
        out: list[CallUpdate] = []
        for a in list(self._open.values()):
            if a.in_doubt_t is None:
                continue
            ids = {a.channel_id, *a.channels}
            if not restarted and ids & live:
                a.in_doubt_t = None
                for uid in a.channels:
                    if a.channels[uid] == _ALIVE and uid not in live:
                        a.channels[uid] = 0  # ended while we were away: cause unknown
                        a.ended_unseen = True
                if a.all_hung_up:
                    out.append(self._close(a, None if a.rr_success is not None else why))
                continue
            out.append(self._close(a, why))
        return out

    def close_all(self, why: str) -> list[CallUpdate]:
        """Close every open attempt (shutdown, server removed from the configuration)."""
        return [self._close(a, why) for a in list(self._open.values())]
