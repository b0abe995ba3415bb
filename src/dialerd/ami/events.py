"""Typed AMI events: the only shape in which Asterisk events leave ``dialerd.ami``.

Above this module nobody reads a raw header. :func:`normalise` maps the few events a dialer acts
on to frozen dataclasses and returns ``None`` for everything else (VarSet, Newexten, bridge and
device-state noise) after one dict lookup on the event name.

Units are fixed here, once: every duration is in seconds (``AgentRingNoAnswer`` sends
milliseconds, ``AgentConnect``/``AgentComplete`` seconds), ids that Asterisk reports as
``<unknown>`` become ``None``, numbers that do not parse become ``None`` rather than raising.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from dialerd.ami.codec import Message, MessageKind


def _id(value: str | None) -> str | None:
    if not value or value == "<unknown>":
        return None
    return value


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _float(value: str | None, scale: float = 1.0) -> float | None:
    if value is None:
        return None
    try:
        return float(value.strip()) * scale
    except ValueError:
        return None


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """Asterisk finished starting (sent after every login). A small uptime means it restarted."""

    uptime: int | None
    last_reload: int | None


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """``OriginateResponse``: the outcome of an async Originate, matched by ``action_id``.

    ``uniqueid`` is the ChannelId we asked for (``None`` when Asterisk reports ``<unknown>``, i.e.
    the Originate carried no ChannelId and failed). ``reason`` is the dial cause: 4 answered,
    5 busy, 3 no answer (Originate timeout), 8 congestion, 0 other (see the Hangup cause).
    """

    action_id: str | None
    success: bool
    reason: int | None
    uniqueid: str | None
    channel: str


@dataclass(frozen=True, slots=True)
class NewChannel:
    uniqueid: str
    linkedid: str | None
    channel: str
    state: str
    # Where the channel starts in the dialplan and who calls: an inbound call on a DID shows as
    # a new channel in the trunk's context with the DID as extension (dialerd.ami.inbound).
    caller_id_num: str | None = None
    context: str = ""
    exten: str = ""


@dataclass(frozen=True, slots=True)
class ChannelHangup:
    uniqueid: str
    linkedid: str | None
    channel: str
    cause: int | None
    cause_text: str


class DialPhase(StrEnum):
    BEGIN = "begin"
    STATE = "state"
    END = "end"


@dataclass(frozen=True, slots=True)
class DialProgress:
    """DialBegin/DialState/DialEnd. ``caller_uniqueid`` is ``None`` for the leg an Originate dials
    (those events carry only ``Dest*`` fields); Queue() legs to agents carry the caller."""

    phase: DialPhase
    caller_uniqueid: str | None
    dest_uniqueid: str | None
    dest_linkedid: str | None
    dest_channel: str
    status: str


@dataclass(frozen=True, slots=True)
class QueueCallerJoin:
    queue: str
    uniqueid: str
    linkedid: str | None
    position: int | None
    count: int | None


@dataclass(frozen=True, slots=True)
class QueueCallerLeave:
    queue: str
    uniqueid: str
    linkedid: str | None
    count: int | None


@dataclass(frozen=True, slots=True)
class QueueCallerAbandon:
    """Sent both when the caller hung up while waiting and when Queue()'s timeout ran out."""

    queue: str
    uniqueid: str
    linkedid: str | None
    hold_seconds: float | None
    position: int | None
    original_position: int | None


@dataclass(frozen=True, slots=True)
class AgentCalled:
    queue: str
    uniqueid: str
    linkedid: str | None
    interface: str
    member_name: str
    agent_uniqueid: str | None


@dataclass(frozen=True, slots=True)
class AgentConnect:
    queue: str
    uniqueid: str
    linkedid: str | None
    interface: str
    member_name: str
    agent_uniqueid: str | None
    hold_seconds: float | None
    ring_seconds: float | None


@dataclass(frozen=True, slots=True)
class AgentComplete:
    """The end of an agent's talk. ``uniqueid``/``linkedid``/``agent_uniqueid`` are None when
    Asterisk sent it without the channels' fields: app_queue builds it from the latest
    snapshots of the caller and agent channels after the hang-up, and when both are already
    destroyed only Queue, Interface, MemberName, HoldTime, TalkTime and Reason are left (2 of
    17 AgentComplete events on Asterisk 22.10.1, each after all four Hangups of the call)."""

    queue: str
    uniqueid: str | None
    linkedid: str | None
    interface: str
    member_name: str
    agent_uniqueid: str | None
    hold_seconds: float | None
    talk_seconds: float | None
    reason: str


@dataclass(frozen=True, slots=True)
class AgentRingNoAnswer:
    queue: str
    uniqueid: str
    linkedid: str | None
    interface: str
    member_name: str
    agent_uniqueid: str | None
    ring_seconds: float | None


class MemberChange(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    PAUSE = "pause"
    STATUS = "status"
    LISTED = "listed"
    """An item of a ``QueueStatus`` reply (resync), not a change."""


@dataclass(frozen=True, slots=True)
class QueueMemberEvent:
    """QueueMemberAdded/Removed/Pause/Status, and QueueStatus items (``LISTED``).

    ``device_status`` is Asterisk's device state number (1 not in use, 2 in use, 3 busy,
    4 invalid, 5 unavailable, 6 ringing, 7 ring+inuse, 8 on hold).
    """

    change: MemberChange
    queue: str
    interface: str
    member_name: str
    paused: bool
    paused_reason: str
    device_status: int | None
    in_call: bool


@dataclass(frozen=True, slots=True)
class DialerAbandon:
    """``UserEvent: DialerAbandon`` from the connect context: Queue() ended without an agent."""

    uniqueid: str
    linkedid: str | None
    status: str


@dataclass(frozen=True, slots=True)
class DialerAMD:
    """``UserEvent: DialerAMD`` from the AMD context: MACHINE, HUMAN, NOTSURE, HANGUP."""

    uniqueid: str
    linkedid: str | None
    status: str
    cause: str


@dataclass(frozen=True, slots=True)
class QueueListed:
    """A ``QueueParams`` item of a ``QueueStatus`` reply: the queue exists in Asterisk.

    For a queue queues.conf does not define, Asterisk 22 answers ``QueueStatus`` with Success
    and a ``QueueStatusComplete`` of no items (no ``QueueParams``): the only sign of a missing
    queue a dialer can ask for before an agent's QueueAdd or a call's Queue() fails on it.
    """

    queue: str


@dataclass(frozen=True, slots=True)
class ChannelListed:
    """An item of a ``CoreShowChannels`` reply (resync)."""

    uniqueid: str
    linkedid: str | None
    channel: str


AmiEvent = (
    FullyBooted
    | OriginateResult
    | NewChannel
    | ChannelHangup
    | DialProgress
    | QueueCallerJoin
    | QueueCallerLeave
    | QueueCallerAbandon
    | AgentCalled
    | AgentConnect
    | AgentComplete
    | AgentRingNoAnswer
    | QueueMemberEvent
    | DialerAbandon
    | DialerAMD
    | ChannelListed
    | QueueListed
)


def _s(msg: Message, key: str) -> str:
    return msg.get(key) or ""


def _fully_booted(m: Message) -> FullyBooted:
    return FullyBooted(_int(m.get("Uptime")), _int(m.get("LastReload")))


def _originate(m: Message) -> OriginateResult:
    return OriginateResult(
        action_id=m.get("ActionID"),
        success=_s(m, "Response") == "Success",
        reason=_int(m.get("Reason")),
        uniqueid=_id(m.get("Uniqueid")),
        channel=_s(m, "Channel"),
    )


def _newchannel(m: Message) -> NewChannel | None:
    uid = _id(m.get("Uniqueid"))
    if uid is None:
        return None
    return NewChannel(
        uid,
        _id(m.get("Linkedid")),
        _s(m, "Channel"),
        _s(m, "ChannelStateDesc"),
        caller_id_num=_id(m.get("CallerIDNum")),
        context=_s(m, "Context"),
        exten=_s(m, "Exten"),
    )


def _hangup(m: Message) -> ChannelHangup | None:
    uid = _id(m.get("Uniqueid"))
    if uid is None:
        return None
    return ChannelHangup(
        uid, _id(m.get("Linkedid")), _s(m, "Channel"), _int(m.get("Cause")), _s(m, "Cause-txt")
    )


def _dial(phase: DialPhase) -> Callable[[Message], DialProgress]:
    def build(m: Message) -> DialProgress:
        return DialProgress(
            phase=phase,
            caller_uniqueid=_id(m.get("Uniqueid")),
            dest_uniqueid=_id(m.get("DestUniqueid")),
            dest_linkedid=_id(m.get("DestLinkedid")),
            dest_channel=_s(m, "DestChannel"),
            status=_s(m, "DialStatus"),
        )

    return build


def _caller(m: Message) -> tuple[str, str, str | None] | None:
    uid = _id(m.get("Uniqueid"))
    if uid is None:
        return None
    return _s(m, "Queue"), uid, _id(m.get("Linkedid"))


def _join(m: Message) -> QueueCallerJoin | None:
    c = _caller(m)
    if c is None:
        return None
    return QueueCallerJoin(*c, _int(m.get("Position")), _int(m.get("Count")))


def _leave(m: Message) -> QueueCallerLeave | None:
    c = _caller(m)
    if c is None:
        return None
    return QueueCallerLeave(*c, _int(m.get("Count")))


def _abandon(m: Message) -> QueueCallerAbandon | None:
    c = _caller(m)
    if c is None:
        return None
    return QueueCallerAbandon(
        *c,
        _float(m.get("HoldTime")),
        _int(m.get("Position")),
        _int(m.get("OriginalPosition")),
    )


def _agent(m: Message) -> tuple[str, str, str | None, str, str, str | None] | None:
    c = _caller(m)
    if c is None:
        return None
    return (*c, _s(m, "Interface"), _s(m, "MemberName"), _id(m.get("DestUniqueid")))


def _agent_called(m: Message) -> AgentCalled | None:
    a = _agent(m)
    return None if a is None else AgentCalled(*a)


def _agent_connect(m: Message) -> AgentConnect | None:
    a = _agent(m)
    if a is None:
        return None
    return AgentConnect(*a, _float(m.get("HoldTime")), _float(m.get("RingTime")))


def _agent_complete(m: Message) -> AgentComplete | None:
    interface = _s(m, "Interface")
    if not interface:
        return None
    return AgentComplete(
        _s(m, "Queue"),
        _id(m.get("Uniqueid")),
        _id(m.get("Linkedid")),
        interface,
        _s(m, "MemberName"),
        _id(m.get("DestUniqueid")),
        _float(m.get("HoldTime")),
        _float(m.get("TalkTime")),
        _s(m, "Reason"),
    )


def _agent_rna(m: Message) -> AgentRingNoAnswer | None:
    a = _agent(m)
    if a is None:
        return None
    # AgentRingNoAnswer is the one queue event that reports RingTime in milliseconds.
    return AgentRingNoAnswer(*a, _float(m.get("RingTime"), 0.001))


def _member(change: MemberChange) -> Callable[[Message], QueueMemberEvent | None]:
    def build(m: Message) -> QueueMemberEvent | None:
        if change is MemberChange.LISTED:
            # QueueStatus items use Name/Location, the member events MemberName/Interface.
            interface = m.get("Location") or m.get("Interface") or ""
            name = m.get("Name") or m.get("MemberName") or interface
        else:
            interface = _s(m, "Interface")
            name = m.get("MemberName") or interface
        if not interface:
            return None
        return QueueMemberEvent(
            change=change,
            queue=_s(m, "Queue"),
            interface=interface,
            member_name=name,
            paused=_bool(m.get("Paused")),
            paused_reason=_s(m, "PausedReason"),
            device_status=_int(m.get("Status")),
            in_call=_bool(m.get("InCall")),
        )

    return build


def _user_event(m: Message) -> DialerAbandon | DialerAMD | None:
    kind = m.get("UserEvent")
    uid = _id(m.get("Uniqueid"))
    if uid is None:
        return None
    if kind == "DialerAbandon":
        return DialerAbandon(uid, _id(m.get("Linkedid")), _s(m, "Status").strip())
    if kind == "DialerAMD":
        return DialerAMD(
            uid, _id(m.get("Linkedid")), _s(m, "Status").strip(), _s(m, "Cause").strip()
        )
    return None


def _core_show_channel(m: Message) -> ChannelListed | None:
    uid = _id(m.get("Uniqueid"))
    if uid is None:
        return None
    return ChannelListed(uid, _id(m.get("Linkedid")), _s(m, "Channel"))


def _queue_params(m: Message) -> QueueListed | None:
    name = m.get("Queue")
    return QueueListed(name) if name else None


_BUILDERS: dict[str, Callable[[Message], AmiEvent | None]] = {
    "FullyBooted": _fully_booted,
    "OriginateResponse": _originate,
    "Newchannel": _newchannel,
    "Hangup": _hangup,
    "DialBegin": _dial(DialPhase.BEGIN),
    "DialState": _dial(DialPhase.STATE),
    "DialEnd": _dial(DialPhase.END),
    "QueueCallerJoin": _join,
    "QueueCallerLeave": _leave,
    "QueueCallerAbandon": _abandon,
    "AgentCalled": _agent_called,
    "AgentConnect": _agent_connect,
    "AgentComplete": _agent_complete,
    "AgentRingNoAnswer": _agent_rna,
    "QueueMemberAdded": _member(MemberChange.ADDED),
    "QueueMemberRemoved": _member(MemberChange.REMOVED),
    "QueueMemberPause": _member(MemberChange.PAUSE),
    "QueueMemberPaused": _member(MemberChange.PAUSE),
    "QueueMemberStatus": _member(MemberChange.STATUS),
    "QueueMember": _member(MemberChange.LISTED),
    "UserEvent": _user_event,
    "CoreShowChannel": _core_show_channel,
    "QueueParams": _queue_params,
}

#: Events the dialer never looks at; the link's decoder drops them after their first line.
NOISE_EVENTS = frozenset(
    {
        "VarSet",
        "Newexten",
        "DeviceStateChange",
        "NewCallerid",
        "NewConnectedLine",
        "NewAccountCode",
        "MusicOnHoldStart",
        "MusicOnHoldStop",
        "SoftHangupRequest",
        "HangupRequest",
        "LocalBridge",
        "BridgeCreate",
        "BridgeDestroy",
        "BridgeEnter",
        "BridgeLeave",
        "Newstate",
        "RTCPSent",
        "RTCPReceived",
        "Cdr",
        "Cel",
        "ChallengeSent",
        "SuccessfulAuth",
        "PeerStatus",
        "ContactStatus",
        "Registry",
        "DTMFBegin",
        "DTMFEnd",
    }
)


def normalise(msg: Message) -> AmiEvent | None:
    """The typed form of ``msg``, or ``None`` for an event the dialer does not use."""
    if msg.kind is not MessageKind.EVENT:
        return None
    build = _BUILDERS.get(msg.name)
    if build is None:
        return None
    return build(msg)
