"""One Asterisk server as the engine sees it: link + call tracker + agent tracker, wired.

The engine never touches AMI messages: it originates through :meth:`AsteriskServer.originate`,
changes queue membership through :meth:`queue_add`/:meth:`queue_remove`/:meth:`queue_pause`, reads
:attr:`agents`/:attr:`calls` for pacing, and consumes :class:`ServerUpdate` values (call progress,
call outcomes, agent changes, link state) from :meth:`updates` or a listener.

The wiring is where the link's guarantees become call guarantees: the attempt is registered with
the tracker *before* the Originate is written; an Originate that was never written is forgotten
(no outcome, the engine may dial again later); one that was written always ends in exactly one
outcome — from the events, from the resync after a reconnect, or from the tracker's own limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import structlog

from dialerd.ami.agents import AgentChange, AgentTracker
from dialerd.ami.backoff import Backoff
from dialerd.ami.calls import CallOutcome, CallProgress, CallTracker, CallUpdate
from dialerd.ami.errors import AmiActionFailed, AmiAlreadyOriginated, AmiNotReady
from dialerd.ami.events import QueueListed, normalise
from dialerd.ami.link import (
    AmiLink,
    LinkConfig,
    LinkDown,
    LinkEvent,
    LinkState,
    LinkUp,
    OriginateRequest,
    cancel_and_wait,
    linkedid_of,
)
from dialerd.domain.clock import Clock, SystemClock

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LinkStateChange:
    server: str
    state: LinkState


ServerUpdate = CallProgress | CallOutcome | AgentChange | LinkStateChange


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One ``[[asterisk]]`` entry of the configuration."""

    name: str
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "dialer"
    secret: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    action_timeout: float = 5.0
    dead_peer_timeout: float = 10.0
    ping_interval: float | None = None
    """Ping after this long without data (None: a quarter of ``dead_peer_timeout``)."""
    auth_retry_delay: float = 60.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    wrapup_seconds: float = 10.0
    wrapup_by_queue: Mapping[str, float] = field(default_factory=dict)
    max_channels: int | None = None
    """How many calls this server may carry at once (None = no limit); for spreading calls."""
    post_dial_delay: float = 3.0
    """Seconds from the dial until the callee's phone rings on this server's trunk: added to
    the Originate timeout of a call that should ring a given time (a predictive short ring)."""

    def link_config(self) -> LinkConfig:
        return LinkConfig(
            host=self.host,
            port=self.port,
            username=self.username,
            secret=self.secret,
            connect_timeout=self.connect_timeout,
            action_timeout=self.action_timeout,
            dead_peer_timeout=self.dead_peer_timeout,
            ping_interval=self.ping_interval,
            auth_retry_delay=self.auth_retry_delay,
            backoff=Backoff(initial=self.backoff_initial, maximum=self.backoff_max),
        )


class AsteriskServer:
    """Use as ``async with AsteriskServer(cfg, clock=clock) as server:``."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        clock: Clock | None = None,
        tick_seconds: float = 0.5,
        link: AmiLink | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._clock: Clock = clock or SystemClock()
        self.link = link or AmiLink(config.link_config(), clock=self._clock, name=config.name)
        self.calls = CallTracker(self._clock)
        self.agents = AgentTracker(
            self._clock,
            wrapup_seconds=config.wrapup_seconds,
            wrapup_by_queue=config.wrapup_by_queue,
        )
        self._tick_seconds = tick_seconds
        self._queue: asyncio.Queue[ServerUpdate] = asyncio.Queue()
        self._listeners: list[Callable[[ServerUpdate], None]] = []
        self._ticker: asyncio.Task[None] | None = None
        self.link.add_listener(self._on_link_event)
        self.link.add_state_listener(self._on_state)

    # -- lifecycle --------------------------------------------------------------------------------

    async def __aenter__(self) -> AsteriskServer:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        self.link.start()
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(
                self._tick_loop(), name=f"ami-tick-{self.name}"
            )

    async def close(self) -> None:
        ticker, self._ticker = self._ticker, None
        if ticker is not None:
            await cancel_and_wait(ticker)
        await self.link.close()

    # -- output -----------------------------------------------------------------------------------

    def add_listener(self, callback: Callable[[ServerUpdate], None]) -> None:
        """Synchronous delivery of every update (in addition to :meth:`updates`)."""
        self._listeners.append(callback)

    async def updates(self) -> AsyncIterator[ServerUpdate]:
        """Every update since the server was created, in order. One consumer: the engine."""
        while True:
            yield await self._queue.get()

    def _deliver(self, update: ServerUpdate) -> None:
        self._queue.put_nowait(update)
        for cb in list(self._listeners):
            try:
                cb(update)
            except Exception:
                # A listener bug must not stop call tracking.
                log.exception("ami server listener failed", server=self.name)

    def _publish(self, updates: list[CallUpdate] | list[AgentChange]) -> None:
        for u in updates:
            self._deliver(u)

    def _on_state(self, state: LinkState) -> None:
        self._deliver(LinkStateChange(self.name, state))

    def _on_link_event(self, event: LinkEvent) -> None:
        if isinstance(event, LinkDown):
            self.calls.link_lost()
            return
        if isinstance(event, LinkUp):
            snap = event.snapshot
            self._publish(self.calls.resync(snap.live_ids, restarted=snap.restarted))
            self._publish(self.agents.resync(snap.members))
            return
        self._publish(self.calls.handle(event))
        self._publish(self.agents.handle(event))

    async def _tick_loop(self) -> None:
        while True:
            await self._clock.sleep(self._tick_seconds)
            self._publish(self.calls.expire())
            self._publish(self.agents.tick())

    # -- actions ----------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return self.link.ready

    async def originate(self, request: OriginateRequest) -> None:
        """Dial one attempt, once. Its outcome comes as a :class:`CallOutcome` update.

        Raises :class:`AmiNotReady` (or :class:`AmiAlreadyOriginated`) when nothing was dialed:
        no outcome follows. After any other error the outcome still comes as an update (at once
        for :class:`AmiActionFailed`, Asterisk's refusal; later for a timeout or a lost link,
        when the call may be ringing).
        """
        self.calls.expect(
            request.attempt_id,
            dial_string=request.channel,
            action_id=request.action_id,
            channel_id=request.channel_id,
            other_channel_id=request.other_channel_id,
            ring_timeout=request.timeout,
        )
        try:
            await self.link.originate(request)
        except (AmiNotReady, AmiAlreadyOriginated):
            self.calls.forget(request.attempt_id)
            raise
        except AmiActionFailed as exc:
            # Refused outright: no call exists; the outcome says so at once.
            self._publish(self.calls.reject(request.attempt_id, str(exc)))
            raise

    async def queue_add(
        self,
        queue: str,
        interface: str,
        member_name: str | None = None,
        *,
        paused: bool = False,
        penalty: int | None = None,
        state_interface: str | None = None,
    ) -> None:
        fields: dict[str, str] = {"Queue": queue, "Interface": interface}
        if member_name:
            fields["MemberName"] = member_name
        if paused:
            fields["Paused"] = "true"
        if penalty is not None:
            fields["Penalty"] = str(penalty)
        if state_interface:
            fields["StateInterface"] = state_interface
        await self._queue_action("QueueAdd", fields)
        self._publish(self.agents.note_added(queue, interface, member_name, paused))

    async def queue_remove(self, queue: str, interface: str) -> None:
        await self._queue_action("QueueRemove", {"Queue": queue, "Interface": interface})
        self._publish(self.agents.note_removed(queue, interface))

    async def queue_pause(
        self, interface: str, paused: bool, *, queue: str | None = None, reason: str = ""
    ) -> None:
        fields = {"Interface": interface, "Paused": "true" if paused else "false"}
        if queue:
            fields["Queue"] = queue
        if reason:
            fields["Reason"] = reason
        await self._queue_action("QueuePause", fields)
        self._publish(self.agents.note_paused(interface, paused, queue, reason))

    async def queue_penalty(self, queue: str, interface: str, penalty: int) -> None:
        """The member's penalty in ``queue``: app_queue offers a caller to the free members of
        the lowest penalty first."""
        await self._queue_action(
            "QueuePenalty", {"Queue": queue, "Interface": interface, "Penalty": str(penalty)}
        )

    async def _queue_action(self, action: str, fields: dict[str, str]) -> None:
        """A queue action whose refusal names the queue and the member: Asterisk's own
        ``No such queue`` does not say which (a campaign's queue, or an agent's own queue
        ``<queue>.<agent>``, missing from queues.conf)."""
        try:
            await self.link.send(action, fields)
        except AmiActionFailed as exc:
            about = ", ".join(
                f"{key.lower()} {fields[key]!r}" for key in ("Queue", "Interface") if key in fields
            )
            raise AmiActionFailed(exc.action, exc.response, about) from None

    async def queue_defined(self, queue: str) -> bool:
        """Whether Asterisk has ``queue`` (queues.conf): a ``QueueStatus`` of that queue.

        Asterisk 22 answers one of a queue it does not have with Success and a
        ``QueueStatusComplete`` of no items (AMI-NOTES, scenario 19), not with an error: the
        queue exists when its ``QueueParams`` item comes. (app_queue compares the name without
        regard to case, as it does when a call or a QueueAdd names it.)
        """
        reply = await self.link.send_list("QueueStatus", {"Queue": queue})
        want = queue.lower()
        return any(
            isinstance(event, QueueListed) and event.queue.lower() == want
            for event in map(normalise, reply)
        )

    def paused_in(self, interface: str, queue: str) -> bool | None:
        """Whether the member is paused in ``queue`` (None: not a member), as the tracker knows
        it from our own QueuePause actions and the queue events."""
        return self.agents.paused_in(interface, queue)

    def end_wrapup(self, interface: str, attempt_id: str | None = None) -> None:
        """The agent gave a disposition: their wrap-up ends now. With ``attempt_id``, only a
        wrap-up after that attempt's call: a disposition written late (the database was away)
        must not cut short the wrap-up of the agent's next call."""
        call_id = linkedid_of(attempt_id) if attempt_id is not None else None
        self._publish(self.agents.end_wrapup(interface, call_id))
