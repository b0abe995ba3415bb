"""One AMI connection to one Asterisk, kept alive: the link.

Why not panoramisk (kept in the dependencies only as the codec benchmark's baseline): its
Manager re-sends every unanswered action after a reconnect (an Originate would dial a person
twice), resolves an async Originate's future only at the OriginateResponse (a dialer awaiting it
stalls for the ring time) while *not* passing that OriginateResponse to event callbacks, and has
no per-action timeout or dead-peer watchdog (AMI-NOTES.md, "panoramisk 1.4 against this
Asterisk"). Wrapping it would mean overriding the parts that are its reason to exist, so the link
is written directly on asyncio streams and the sans-IO codec of :mod:`dialerd.ami.codec`.

What the link guarantees:

* an explicit state machine (:class:`LinkState`): connecting → logged_in → resynced → ready →
  lost → connecting ...; a refused secret gives ``failed_auth`` and a long pause, not a tight loop;
* nothing is ever re-sent: an action is written once; when the link drops, every pending action
  fails with :class:`~dialerd.ami.errors.AmiLinkLost`; an Originate is refused unless the link is
  ready, and a ChannelId is never originated twice;
* every action has a timeout; an idle link is pinged every ``ping_interval``, and a dead peer
  (socket open, nothing coming back) is noticed by that watchdog after ``dead_peer_timeout``;
* reconnects use capped, jittered exponential backoff;
* after every (re)connect the link lists channels (``CoreShowChannels``) and queue members
  (``QueueStatus``) and hands that snapshot to its listeners (:class:`LinkUp`) *before* it reports
  ready, so trackers are right before anything is dialed;
* garbage from the peer is logged and counted; a flood of it makes the link reconnect.

Time (timeouts, backoff, watchdog) goes through the injected clock, so the link runs accelerated
next to an accelerated simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

import structlog

from dialerd.ami.backoff import Backoff
from dialerd.ami.codec import AmiDecoder, Message, MessageKind, ProtocolError, encode_action
from dialerd.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiAlreadyOriginated,
    AmiAuthFailed,
    AmiError,
    AmiLinkLost,
    AmiNotReady,
)
from dialerd.ami.events import (
    NOISE_EVENTS,
    AmiEvent,
    ChannelListed,
    FullyBooted,
    QueueMemberEvent,
    normalise,
)
from dialerd.domain.clock import Clock, SystemClock

log = structlog.get_logger(__name__)

T = TypeVar("T")


class LinkState(StrEnum):
    CONNECTING = "connecting"
    LOGGED_IN = "logged_in"
    RESYNCED = "resynced"
    READY = "ready"
    LOST = "lost"
    FAILED_AUTH = "failed_auth"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class LinkConfig:
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "dialer"
    secret: str = field(default="", repr=False)
    connect_timeout: float = 5.0
    action_timeout: float = 5.0
    #: The peer is declared dead when nothing at all arrived for this long (Pings keep an idle
    #: link talking).
    dead_peer_timeout: float = 10.0
    #: A Ping goes out after this long without data from the peer (and again each time after
    #: it while none comes); None: a quarter of ``dead_peer_timeout``.
    ping_interval: float | None = None
    backoff: Backoff = Backoff()
    #: Pause after a refused secret (a wrong password is not fixed by retrying every second).
    auth_retry_delay: float = 60.0
    #: This many garbage messages within ``protocol_error_window`` seconds make the link reconnect.
    max_protocol_errors: int = 20
    protocol_error_window: float = 60.0
    #: Event classes asked for at Login. Leaving out ``dialplan`` (VarSet, Newexten) and
    #: ``security`` removes about half the traffic at the source (16-load: 1,092 of 2,477).
    events: str = "system,call,agent,user"

    def __post_init__(self) -> None:
        if self.ping_interval is not None and not 0 < self.ping_interval < self.dead_peer_timeout:
            raise ValueError("ping_interval must be more than 0 and less than dead_peer_timeout")


@dataclass(frozen=True, slots=True)
class ResyncSnapshot:
    """What Asterisk said right after (re)connect, before the link reported ready."""

    channels: tuple[ChannelListed, ...]
    members: tuple[QueueMemberEvent, ...]
    restarted: bool
    """Asterisk restarted since the previous session (its uptime is shorter than our outage)."""
    first: bool
    """The link's first session (nothing could have been missed)."""

    @property
    def live_ids(self) -> frozenset[str]:
        ids: set[str] = set()
        for c in self.channels:
            ids.add(c.uniqueid)
            if c.linkedid:
                ids.add(c.linkedid)
        return frozenset(ids)


@dataclass(frozen=True, slots=True)
class LinkUp:
    """Delivered to listeners after the resync, just before the state becomes ready."""

    snapshot: ResyncSnapshot


@dataclass(frozen=True, slots=True)
class LinkDown:
    """Delivered when a session that had logged in ends. Events may have been missed."""

    reason: str


LinkEvent = AmiEvent | LinkUp | LinkDown


@dataclass
class LinkCounters:
    """Monotonic counters for metrics."""

    connects: int = 0
    connect_failures: int = 0
    reconnects: int = 0
    protocol_errors: int = 0
    auth_failures: int = 0
    dead_peers: int = 0
    pings_sent: int = 0
    actions_sent: int = 0
    action_timeouts: int = 0
    action_errors: int = 0
    actions_lost: int = 0
    originates_sent: int = 0
    events_received: int = 0
    events_dropped: int = 0


def linkedid_of(attempt_id: str) -> str:
    """The ``Linkedid`` every channel of an attempt carries (its first channel's ChannelId):
    how queue events, and the agent tracker, name the attempt."""
    return f"{attempt_id}-a"


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """One Originate. The ids are fixed before sending so the call tracker knows them first.

    ``timeout`` (seconds) is how long the called number may ring; ``variables`` become repeated
    ``Variable: K=V`` headers (set on both Local halves).
    """

    attempt_id: str
    channel: str
    context: str
    exten: str = "s"
    priority: int = 1
    timeout: float = 30.0
    caller_id: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    account: str | None = None

    @property
    def action_id(self) -> str:
        return f"orig-{self.attempt_id}"

    @property
    def channel_id(self) -> str:
        return linkedid_of(self.attempt_id)

    @property
    def other_channel_id(self) -> str:
        return f"{self.attempt_id}-b"

    def fields(self) -> list[tuple[str, str]]:
        out = [
            ("Channel", self.channel),
            ("Context", self.context),
            ("Exten", self.exten),
            ("Priority", str(self.priority)),
            ("Timeout", str(int(self.timeout * 1000))),
            # Never synchronous: it would block the session until the call is set up.
            ("Async", "true"),
            ("ChannelId", self.channel_id),
            ("OtherChannelId", self.other_channel_id),
        ]
        if self.caller_id:
            out.append(("CallerID", self.caller_id))
        if self.account:
            out.append(("Account", self.account))
        out += [("Variable", f"{k}={v}") for k, v in self.variables.items()]
        return out


class _Pending:
    __slots__ = ("action", "future", "items")

    def __init__(self, action: str, future: asyncio.Future[Message | list[Message]]) -> None:
        self.action = action
        self.future = future
        self.items: list[Message] | None = None


_READY_ONLY = frozenset({LinkState.READY})
_LOGGED_IN = frozenset({LinkState.LOGGED_IN, LinkState.RESYNCED, LinkState.READY})
#: How many ChannelIds the link remembers to refuse a second Originate of the same attempt.
_ORIGINATED_MEMORY = 200_000


class AmiLink:
    """A self-healing AMI connection. Use as ``async with AmiLink(cfg) as link:``.

    Listeners (:meth:`add_listener`) get typed events, :class:`LinkUp` and :class:`LinkDown`
    synchronously, in the order they arrived; state listeners get every :class:`LinkState`.
    """

    def __init__(
        self,
        config: LinkConfig,
        *,
        clock: Clock | None = None,
        name: str = "asterisk",
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.name = name
        self._clock: Clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._state = LinkState.STOPPED
        self._state_changed = asyncio.Event()
        self.counters = LinkCounters()
        self.last_error: str | None = None
        self._listeners: list[Callable[[LinkEvent], None]] = []
        self._state_listeners: list[Callable[[LinkState], None]] = []
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._ended: asyncio.Future[str] | None = None
        self._last_rx = 0.0
        self._error_times: list[float] = []
        self._booted_at: float | None = None
        self._prev_booted_at: float | None = None
        self._sessions = 0
        self._originated: OrderedDict[str, None] = OrderedDict()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        """:meth:`close` ends the session: the link is not lost, dialerd let it go."""

    # -- public -------------------------------------------------------------------------------

    @property
    def state(self) -> LinkState:
        return self._state

    @property
    def ready(self) -> bool:
        return self._state is LinkState.READY

    def add_listener(self, callback: Callable[[LinkEvent], None]) -> None:
        self._listeners.append(callback)

    def add_state_listener(self, callback: Callable[[LinkState], None]) -> None:
        self._state_listeners.append(callback)

    async def wait_for_state(
        self,
        *states: LinkState,
        timeout: float | None = None,  # noqa: ASYNC109 - clock time, not loop time
    ) -> LinkState:
        """Wait until the link is in one of ``states``; returns it. ``TimeoutError`` if not."""

        async def wait() -> LinkState:
            while self._state not in states:
                event = self._state_changed
                await event.wait()
            return self._state

        if timeout is None:
            return await wait()
        return await self._with_timeout(wait(), timeout)

    async def states(self) -> AsyncIterator[LinkState]:
        """The current state, then each new one (states passed through between two reads of a
        slow consumer are skipped; use :meth:`add_state_listener` to see every one)."""
        last: LinkState | None = None
        while True:
            if self._state is not last:
                last = self._state
                yield last
            await self._state_changed.wait()

    async def wait_ready(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self.wait_for_state(LinkState.READY, timeout=timeout)

    async def __aenter__(self) -> AmiLink:
        self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ami-link-{self.name}"
            )

    async def close(self) -> None:
        """Stop the link: say Logoff if connected, fail pending actions, close the socket."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        writer = self._writer
        if writer is not None and self._state in _LOGGED_IN:
            with contextlib.suppress(OSError, RuntimeError):
                writer.write(encode_action("Logoff", [("ActionID", "logoff")]))
        try:
            await cancel_and_wait(task)
        finally:
            self._closing = False
        self._set_state(LinkState.STOPPED)

    async def send(
        self,
        action: str,
        fields: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] = (),
        timeout: float | None = None,  # noqa: ASYNC109 - clock time, not loop time
        *,
        check: bool = True,
    ) -> Message | list[Message]:
        """Send one action once; its reply, or for list actions ``[response, items..., complete]``.

        Raises :class:`AmiNotReady` (not sent), :class:`AmiActionTimeout`, :class:`AmiLinkLost`,
        or with ``check`` :class:`AmiActionFailed` for ``Response: Error``.
        """
        return await self._send(action, fields, timeout, _READY_ONLY, check=check)

    async def send_list(
        self,
        action: str,
        fields: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]] = (),
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> list[Message]:
        reply = await self.send(action, fields, timeout)
        return reply if isinstance(reply, list) else [reply]

    async def originate(
        self,
        request: OriginateRequest,
        timeout: float | None = None,  # noqa: ASYNC109 - clock time, not loop time
    ) -> Message:
        """Send an async Originate, once. Returns Asterisk's "queued" reply.

        The call's outcome arrives later as events (OriginateResponse and the channel events),
        for the call tracker. Only :class:`AmiNotReady` and :class:`AmiAlreadyOriginated` mean
        nothing was dialed.
        """
        if request.channel_id in self._originated:
            raise AmiAlreadyOriginated(f"attempt {request.attempt_id} was already originated")
        if self._state is not LinkState.READY or self._writer is None:
            raise AmiNotReady(f"AMI link {self.name} is {self._state.value}")
        self._originated[request.channel_id] = None
        while len(self._originated) > _ORIGINATED_MEMORY:
            self._originated.popitem(last=False)
        self.counters.originates_sent += 1
        reply = await self._send(
            "Originate",
            request.fields(),
            timeout,
            _READY_ONLY,
            action_id=request.action_id,
            check=True,
        )
        assert isinstance(reply, Message)
        return reply

    # -- sending --------------------------------------------------------------------------------

    async def _send(
        self,
        action: str,
        fields: Mapping[str, str | Iterable[str]] | Iterable[tuple[str, str]],
        timeout: float | None,  # noqa: ASYNC109
        allowed: frozenset[LinkState],
        *,
        action_id: str | None = None,
        check: bool = True,
    ) -> Message | list[Message]:
        writer = self._writer
        if self._state not in allowed or writer is None or writer.is_closing():
            raise AmiNotReady(f"AMI link {self.name} is {self._state.value}")
        aid = action_id or f"{action.lower()}-{next(self._ids)}"
        if aid in self._pending:
            raise AmiError(f"ActionID {aid} is already pending")
        pairs: list[tuple[str, str]] = [("ActionID", aid)]
        if isinstance(fields, Mapping):
            for k, v in fields.items():
                pairs += [(k, v)] if isinstance(v, str) else [(k, i) for i in v]
        else:
            pairs += list(fields)
        data = encode_action(action, pairs)
        future: asyncio.Future[Message | list[Message]] = asyncio.get_running_loop().create_future()
        self._pending[aid] = _Pending(action, future)
        try:
            writer.write(data)
            self.counters.actions_sent += 1
            limit = self.config.action_timeout if timeout is None else timeout
            try:
                reply = await self._with_timeout(future, limit)
            except TimeoutError:
                self.counters.action_timeouts += 1
                raise AmiActionTimeout(
                    f"{action} got no reply from {self.name} within {limit:g} s"
                ) from None
        finally:
            self._pending.pop(aid, None)
            if not future.done():
                future.cancel()
        first = reply[0] if isinstance(reply, list) else reply
        if check and first.name not in ("Success", "Goodbye", "Follows"):
            self.counters.action_errors += 1
            raise AmiActionFailed(action, first)
        return reply

    async def _with_timeout(self, awaitable: Awaitable[T], seconds: float) -> T:
        """``awaitable`` or ``TimeoutError`` after ``seconds`` of the link's clock."""
        work = asyncio.ensure_future(awaitable)
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait((work, sleeper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if not work.done():
                work.cancel()
            # Wait for both to finish without awaiting them directly: ``await work`` inside
            # ``suppress(CancelledError)`` also swallowed a cancellation of *this* task arriving
            # at that moment, so a cancelled engine kept running and its TaskGroup never ended.
            # ``asyncio.wait`` never raises the children's errors, only our own cancellation.
            await asyncio.wait((work, sleeper))
        if work.cancelled():
            raise TimeoutError
        return work.result()

    # -- the connection loop ----------------------------------------------------------------------

    def _set_state(self, state: LinkState) -> None:
        if state is self._state:
            return
        log.info("ami link state", link=self.name, state=state.value, previous=self._state.value)
        self._state = state
        self._state_changed.set()
        self._state_changed = asyncio.Event()
        for cb in list(self._state_listeners):
            try:
                cb(state)
            except Exception:
                # A listener bug must not kill the link.
                log.exception("ami state listener failed", link=self.name)

    def _emit(self, event: LinkEvent) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                # A listener bug must not kill the link.
                log.exception("ami listener failed", link=self.name, event=type(event).__name__)

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                self._set_state(LinkState.CONNECTING)
                cfg = self.config
                try:
                    reader, writer = await self._with_timeout(
                        asyncio.open_connection(cfg.host, cfg.port), cfg.connect_timeout
                    )
                except (OSError, TimeoutError) as exc:
                    self.counters.connect_failures += 1
                    self.last_error = f"connect to {cfg.host}:{cfg.port} failed: {exc!r}"
                    log.warning("ami connect failed", link=self.name, error=self.last_error)
                    self._set_state(LinkState.LOST)
                    await self._clock.sleep(cfg.backoff.delay(attempt, self._rng))
                    attempt += 1
                    continue
                self.counters.connects += 1
                was_ready = False
                auth_failed: AmiAuthFailed | None = None
                try:
                    was_ready = await self._session(reader, writer)
                except AmiAuthFailed as exc:
                    auth_failed = exc
                except Exception as exc:
                    # A bug must cost one session, not the link: log it and reconnect.
                    self.last_error = f"internal error: {exc!r}"
                    log.exception("ami session failed", link=self.name)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
                if auth_failed is not None:
                    self.counters.auth_failures += 1
                    self.last_error = f"login refused: {auth_failed}"
                    log.error(
                        "ami login refused; not retrying soon",
                        link=self.name,
                        username=cfg.username,
                        retry_in=cfg.auth_retry_delay,
                    )
                    self._set_state(LinkState.FAILED_AUTH)
                    await self._clock.sleep(cfg.auth_retry_delay)
                    continue
                if was_ready:
                    attempt = 0
                self._set_state(LinkState.LOST)
                await self._clock.sleep(cfg.backoff.delay(attempt, self._rng))
                attempt += 1
        finally:
            self._fail_pending("AMI link stopped")
            self._writer = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Run one connection; returns whether it got to ready. Raises AmiAuthFailed."""
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        self._writer = writer
        self._last_rx = self._clock.monotonic()
        self._error_times = []
        self._booted_at = None
        decoder = AmiDecoder(drop_events=NOISE_EVENTS)
        logged_in = False
        reached_ready = False
        reason = "closed"
        auth_failed: AmiAuthFailed | None = None
        try:
            async with asyncio.TaskGroup() as tg:
                reader_task = tg.create_task(self._read_loop(reader, decoder))
                watchdog: asyncio.Task[None] | None = None
                try:
                    await self._login()
                    logged_in = True
                    self._set_state(LinkState.LOGGED_IN)
                    watchdog = tg.create_task(self._watchdog())
                    snapshot = await self._resync()
                    self._set_state(LinkState.RESYNCED)
                    if self._sessions > 0:
                        self.counters.reconnects += 1
                    self._sessions += 1
                    self._emit(LinkUp(snapshot))
                    self._set_state(LinkState.READY)
                    reached_ready = True
                    reason = await self._ended
                except (AmiLinkLost, AmiActionTimeout, AmiActionFailed) as exc:
                    reason = self._ended.result() if self._ended.done() else str(exc)
                except AmiAuthFailed as exc:
                    # Raised after the TaskGroup: from its body it would come out as a group.
                    auth_failed = exc
                    reason = f"login refused: {exc}"
                finally:
                    reader_task.cancel()
                    if watchdog is not None:
                        watchdog.cancel()
        finally:
            self._writer = None
            self._fail_pending(f"AMI link to {self.name} lost: {reason}")
            self.last_error = reason
            if logged_in and self._closing:
                # a stop or a restart of the daemon: nothing an operator must look at
                log.info("ami link closed", link=self.name)
                self._emit(LinkDown(reason))
            elif logged_in:
                log.warning("ami link lost", link=self.name, reason=reason)
                self._emit(LinkDown(reason))
            elif auth_failed is None and not self._closing:
                # A peer that takes the connection but never completes the log-in (a hung
                # Asterisk, a firewall, a wrong port): said once per attempt, not only as states.
                log.warning("ami log-in did not complete", link=self.name, reason=reason)
        if auth_failed is not None:
            raise auth_failed
        return reached_ready

    def _end(self, reason: str) -> None:
        """The session is over (EOF, dead peer, garbage flood): fail what waits, wake the loop."""
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(reason)
        self._fail_pending(f"AMI link to {self.name} lost: {reason}")

    def _fail_pending(self, why: str) -> None:
        pending, self._pending = self._pending, {}
        for p in pending.values():
            if not p.future.done():
                self.counters.actions_lost += 1
                p.future.set_exception(AmiLinkLost(f"{p.action}: {why}"))

    async def _login(self) -> None:
        cfg = self.config
        fields = {"Username": cfg.username, "Secret": cfg.secret, "Events": cfg.events}
        # Asterisk answers a wrong secret only after ~1 s (transcript 01): allow for it.
        reply = await self._send(
            "Login",
            fields,
            max(cfg.action_timeout, 3.0),
            frozenset({LinkState.CONNECTING}),
            check=False,
        )
        assert isinstance(reply, Message)
        if reply.name != "Success":
            raise AmiAuthFailed(reply.get("Message") or reply.name)

    async def _resync(self) -> ResyncSnapshot:
        allowed = frozenset({LinkState.LOGGED_IN})
        channels_reply = await self._send("CoreShowChannels", (), None, allowed)
        members_reply = await self._send("QueueStatus", (), None, allowed)
        channels = tuple(e for e in _typed(channels_reply) if isinstance(e, ChannelListed))
        members = tuple(e for e in _typed(members_reply) if isinstance(e, QueueMemberEvent))
        first = self._sessions == 0
        # Asterisk restarted if it booted later than it had when we last saw it (FullyBooted's
        # Uptime is in whole seconds, hence the margin).
        prev, cur = self._prev_booted_at, self._booted_at
        restarted = not first and prev is not None and cur is not None and cur > prev + 2.0
        if cur is not None:
            self._prev_booted_at = cur
        return ResyncSnapshot(channels, members, restarted, first)

    async def _read_loop(self, reader: asyncio.StreamReader, decoder: AmiDecoder) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    self._end("connection closed by Asterisk")
                    return
                self._last_rx = self._clock.monotonic()
                dropped = decoder.dropped
                for msg in decoder.feed(data):
                    try:
                        self._dispatch(msg)
                    except Exception:
                        # One message that trips a bug must not stop the reader.
                        self.counters.protocol_errors += 1
                        log.exception("ami message not handled", link=self.name)
                self.counters.events_dropped += decoder.dropped - dropped
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._end(f"read failed: {exc!r}")

    def _dispatch(self, msg: Message | ProtocolError) -> None:
        if isinstance(msg, ProtocolError):
            self._protocol_error(msg)
            return
        kind = msg.kind
        if kind is MessageKind.RESPONSE:
            aid = msg.action_id
            pending = self._pending.get(aid) if aid else None
            if pending is None:
                return  # a Ping's Pong, or a reply that came after its action timed out
            if (msg.get("EventList") or "").lower() == "start":
                pending.items = [msg]
            elif not pending.future.done():
                pending.future.set_result(msg)
            return
        if kind is not MessageKind.EVENT:
            return
        self.counters.events_received += 1
        aid = msg.action_id
        if aid is not None and msg.name != "OriginateResponse":
            pending = self._pending.get(aid)
            if pending is not None and pending.items is not None:
                pending.items.append(msg)
                if (msg.get("EventList") or "").lower() == "complete" and not pending.future.done():
                    pending.future.set_result(pending.items)
                return
        event = normalise(msg)
        if event is None:
            return
        if isinstance(event, FullyBooted) and event.uptime is not None:
            self._booted_at = self._clock.monotonic() - event.uptime
        self._emit(event)

    def _protocol_error(self, err: ProtocolError) -> None:
        self.counters.protocol_errors += 1
        log.warning("ami protocol error", link=self.name, reason=err.reason, raw=err.raw[:80])
        now = self._clock.monotonic()
        window = self.config.protocol_error_window
        self._error_times = [t for t in self._error_times if now - t < window] + [now]
        if len(self._error_times) >= self.config.max_protocol_errors:
            self._end(f"{len(self._error_times)} protocol errors within {window:g} s")

    async def _watchdog(self) -> None:
        """Ping when idle; declare the peer dead when nothing arrived for too long.

        A Ping goes out once nothing has come from the peer (events count) for
        ``ping_interval``, and again every ``ping_interval`` while nothing comes; the peer is
        dead once nothing at all arrived for ``dead_peer_timeout`` (longer than the interval,
        so a live idle peer always has a Ping to answer first) while the link listened: a
        time our own event loop was held up does not count.
        """
        cfg = self.config
        limit = cfg.dead_peer_timeout
        every = cfg.ping_interval if cfg.ping_interval is not None else limit / 4
        pings = itertools.count(1)
        pinged = -math.inf
        due: float | None = None
        heard_from = -math.inf
        while True:
            now = self._clock.monotonic()
            if due is not None and now - due > every / 2:
                # Woken this late, our own loop was held up (a loaded machine, a long step):
                # what the peer sent meanwhile waits unread, and a silence the link did not
                # listen through is not the peer's. It gets a Ping and an interval to answer.
                heard_from, pinged = now - limit + every, -math.inf
            idle = now - max(self._last_rx, heard_from)
            if idle >= limit:
                self.counters.dead_peers += 1
                self._end(f"no data from Asterisk for {now - self._last_rx:.1f} s (dead peer)")
                return
            quiet = now - max(self._last_rx, pinged)
            writer = self._writer
            if quiet >= every * 0.99 and writer is not None and not writer.is_closing():
                writer.write(encode_action("Ping", [("ActionID", f"ping-{next(pings)}")]))
                self.counters.pings_sent += 1
                pinged, quiet = now, 0.0
            delay = max(min(limit - idle, every - quiet), every / 100)
            due = now + delay
            await self._clock.sleep(delay)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait for it; a cancellation of the caller itself still propagates."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise


def _typed(reply: Message | list[Message]) -> list[AmiEvent]:
    msgs = reply if isinstance(reply, list) else [reply]
    return [e for e in map(normalise, msgs) if e is not None]
