"""Replay a recorded AMI session through the codec and both trackers.

The same glue as the live server object (:mod:`dialerd.ami.server`), driven by a recording instead
of a socket: the client's own actions tell the trackers what was originated and which queue
changes were made, connection marks become link losses and reconnects, and a
``CoreShowChannels``/``QueueStatus`` reply after a reconnect is the resync. A
:class:`~dialerd.domain.clock.ManualClock` follows the recording's timestamps, so every time in
the outcomes is the recorded one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dialerd.ami.agents import AgentChange, AgentTracker
from dialerd.ami.calls import CallOutcome, CallProgress, CallTracker, CallUpdate
from dialerd.ami.codec import AmiDecoder, Message, MessageKind, ProtocolError
from dialerd.ami.events import ChannelListed, FullyBooted, QueueMemberEvent, normalise
from dialerd.ami.transcript import Mark, Received, Sent, TranscriptItem
from dialerd.domain.clock import ManualClock


@dataclass
class ReplayResult:
    calls: CallTracker
    agents: AgentTracker
    outcomes: list[CallOutcome] = field(default_factory=list)
    progress: list[CallProgress] = field(default_factory=list)
    agent_changes: list[AgentChange] = field(default_factory=list)
    messages: int = 0
    protocol_errors: int = 0

    def outcome(self, attempt_id: str) -> CallOutcome:
        found = [o for o in self.outcomes if o.attempt_id == attempt_id]
        if len(found) != 1:
            raise AssertionError(f"{attempt_id}: {len(found)} outcomes")
        return found[0]


def _seconds(value: str | None, default: float) -> float:
    try:
        return float(value) / 1000.0 if value else default
    except ValueError:
        return default


def replay(
    items: Iterable[TranscriptItem],
    clock: ManualClock | None = None,
    *,
    wrapup_seconds: float = 5.0,
    wrapup_by_queue: Mapping[str, float] | None = None,
) -> ReplayResult:
    clock = clock or ManualClock()
    agents = AgentTracker(clock, wrapup_seconds=wrapup_seconds, wrapup_by_queue=wrapup_by_queue)
    res = ReplayResult(CallTracker(clock), agents)
    decoder = AmiDecoder()
    sent: dict[str, Message] = {}
    lists: dict[str, list[Message]] = {}
    start = clock.monotonic()
    booted_at: float | None = None
    restarted = False

    def calls(updates: list[CallUpdate]) -> None:
        for u in updates:
            if isinstance(u, CallOutcome):
                res.outcomes.append(u)
            else:
                res.progress.append(u)

    for item in items:
        target = start + item.t
        if target > clock.monotonic():
            clock.advance(target - clock.monotonic())
        calls(res.calls.expire())
        res.agent_changes += res.agents.tick()
        if isinstance(item, Mark):
            if item.what.startswith("closed"):
                res.calls.link_lost()
            elif item.what == "connect":
                decoder = AmiDecoder()
            continue
        if isinstance(item, Sent):
            for msg in AmiDecoder(expect_banner=False).feed(item.data):
                if isinstance(msg, ProtocolError) or msg.action_id is None:
                    continue
                sent[msg.action_id] = msg
                if msg.name == "Originate":
                    res.calls.expect(
                        msg.action_id,
                        dial_string=msg.get("Channel") or "",
                        action_id=msg.action_id,
                        channel_id=msg.get("ChannelId"),
                        other_channel_id=msg.get("OtherChannelId"),
                        ring_timeout=_seconds(msg.get("Timeout"), 30.0),
                    )
            continue
        assert isinstance(item, Received)
        for msg in decoder.feed(item.data):
            if isinstance(msg, ProtocolError):
                res.protocol_errors += 1
                continue
            res.messages += 1
            if msg.kind is MessageKind.RESPONSE:
                _apply_response(res, sent.get(msg.action_id or ""), msg, lists)
                continue
            aid = msg.action_id
            if aid in lists:
                lists[aid].append(msg)
                if msg.get("EventList") == "Complete":
                    items_ = lists.pop(aid)
                    action = sent.get(aid)
                    if action is not None and action.name == "CoreShowChannels":
                        live: set[str] = set()
                        for m in items_:
                            ev = normalise(m)
                            if isinstance(ev, ChannelListed):
                                live.add(ev.uniqueid)
                                if ev.linkedid:
                                    live.add(ev.linkedid)
                        calls(res.calls.resync(live, restarted=restarted))
                    elif action is not None and action.name == "QueueStatus":
                        members = [
                            e for e in map(normalise, items_) if isinstance(e, QueueMemberEvent)
                        ]
                        res.agent_changes += res.agents.resync(members)
                continue
            ev = normalise(msg)
            if ev is None:
                continue
            if isinstance(ev, FullyBooted) and ev.uptime is not None:
                # Booted later than last time seen: Asterisk restarted (as the link decides).
                now_booted = clock.monotonic() - ev.uptime
                restarted = booted_at is not None and now_booted > booted_at + 2.0
                booted_at = now_booted
            calls(res.calls.handle(ev))
            res.agent_changes += res.agents.handle(ev)
    return res


def _apply_response(
    res: ReplayResult, action: Message | None, resp: Message, lists: dict[str, list[Message]]
) -> None:
    if action is None or action.action_id is None:
        return
    if resp.get("EventList") == "start":
        lists[action.action_id] = [resp]
        return
    if resp.name != "Success":
        return
    queue = action.get("Queue") or ""
    interface = action.get("Interface") or ""
    if action.name == "QueueAdd":
        res.agent_changes += res.agents.note_added(
            queue, interface, action.get("MemberName"), (action.get("Paused") or "") == "true"
        )
    elif action.name == "QueueRemove":
        res.agent_changes += res.agents.note_removed(queue, interface)
    elif action.name == "QueuePause":
        res.agent_changes += res.agents.note_paused(
            interface,
            (action.get("Paused") or "").lower() in ("true", "1", "yes"),
            action.get("Queue"),
            action.get("Reason") or "",
        )
