"""``SimAsterisk``: a TCP AMI server that behaves like the recorded Asterisk 22.10.1.

Sessions are asyncio protocols (no task per connection): an action is handled synchronously as
soon as its bytes are complete, so the Response is always written before any event the action
causes, as on the real server. Calls, delayed replies and faults run on one timer heap.

Fault injection (for the daemon's tests): drop every connection, go dead (sockets stay open,
nothing is answered or sent), restart like ``core restart now``, delay responses, write garbage.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import structlog

from dialerd.ami.codec import AmiDecoder, Message, MessageKind, ProtocolError, banner, encode
from dialerd.domain.clock import Clock, SystemClock
from dialerd.sim import events as ev
from dialerd.sim.channels import Headers
from dialerd.sim.model import SimModel
from dialerd.sim.pbx import Pbx, atoi
from dialerd.sim.queue import Member
from dialerd.sim.scheduler import Scheduler

log = structlog.get_logger(__name__)

VERSION_LINE = (
    "Asterisk 22.10.1 built by dialerd-sim @ sim on a x86_64 running Linux"
    " on 2026-11-23 15:00:51 UTC"
)
LOGIN_FAIL_DELAY = 1.0  # recorded: Authentication failed 1.0 s after the Login
RESTART_CLOSE_DELAY = 1.1  # recorded: socket closed 1.1 s after core restart now
COMMAND_RESTART_DOWNTIME = 0.9
MAX_UNREAD_BYTES = 64 << 20  # recorded: accepting again ~1 s after the close


@dataclass(frozen=True, slots=True)
class MemberView:
    """Read-only view of a queue member for tests."""

    queue: str
    interface: str
    name: str
    paused: bool
    paused_reason: str
    busy: bool
    penalty: int
    calls_taken: int


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "yes", "1", "on", "y")


class Session(asyncio.Protocol):
    def __init__(self, sim: SimAsterisk) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.decoder = AmiDecoder(expect_banner=False)
        self.authenticated = False
        self.events = True
        self.closing = False
        self.peer = ("127.0.0.1", 0)

    # asyncio.Protocol ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.peer = (str(peer[0]), int(peer[1]))
        self.sim._sessions.add(self)
        if not self.sim.dead:
            transport.write(banner())

    def data_received(self, data: bytes) -> None:
        if self.sim.dead or self.sim.restarting or self.closing:
            return
        for msg in self.decoder.feed(data):
            if isinstance(msg, ProtocolError):
                log.debug("sim got garbage", reason=msg.reason)
                continue
            self.sim._dispatch(self, msg)

    def connection_lost(self, exc: Exception | None) -> None:
        self.sim._sessions.discard(self)
        self.transport = None

    # output ----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        t = self.transport
        if t is not None and not t.is_closing() and not self.sim.dead and not self.sim.restarting:
            t.write(data)
            if t.get_write_buffer_size() > MAX_UNREAD_BYTES:
                # Asterisk drops a session that stops reading instead of buffering forever.
                log.warning("sim dropping a session that does not read", peer=self.peer)
                self.abort()

    def respond(self, action_id: str | None, response: str, fields: Headers) -> None:
        headers: Headers = [("ActionID", action_id)] if action_id is not None else []
        self.write(encode("Response", response, headers + fields))

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.abort()


class SimAsterisk:
    """The simulated Asterisk. Use ``async with SimAsterisk() as sim`` or start()/stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        seed: int = 0,
        username: str = "dialer",
        secret: str = "dialerpass",
        model: SimModel | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        self.username = username
        self.secret = secret
        self.model = model or SimModel()
        self.scheduler = Scheduler(self.clock)
        self.pbx = Pbx(self.clock, self.scheduler, self._emit, self.model, seed)
        self._sessions: set[Session] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._boot = self.clock.monotonic()
        self._reload = self._boot
        self.dead = False
        self.restarting = False
        self.response_delay = 0.0
        self.events_sent = 0
        self.logins = 0
        self.restarts = 0
        self.pings_received = 0  # a client's keep-alive (for its watchdog's tests)

    # lifecycle -------------------------------------------------------------
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: Session(self), self.host, self.port, reuse_address=True
        )
        sock = self._server.sockets[0]
        self.port = int(sock.getsockname()[1])
        self._boot = self._reload = self.clock.monotonic()
        self._spawn(self.scheduler.run(), "sim-scheduler")
        log.info("sim asterisk listening", host=self.host, port=self.port, seed=self.seed)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self._sessions):
            s.abort()
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        # let transports run connection_lost
        await asyncio.sleep(0)

    async def __aenter__(self) -> SimAsterisk:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # introspection ---------------------------------------------------------
    @property
    def originate_action_ids(self) -> list[str]:
        """ActionIDs of every Originate received, in order (to assert "no second Originate")."""
        return list(self.pbx.originates)

    @property
    def originates_received(self) -> int:
        """How many Originates arrived in total (the id list keeps the last million)."""
        return self.pbx.originate_total

    @property
    def active_channels(self) -> int:
        return len(self.pbx.channels)

    @property
    def active_calls(self) -> int:
        return len(self.pbx.calls)

    @property
    def connections(self) -> int:
        return len(self._sessions)

    def queue_members(self, queue: str | None = None) -> list[MemberView]:
        out: list[MemberView] = []
        for q in self.pbx.queues.values():
            if queue is not None and q.name != queue:
                continue
            for m in q.members.values():
                out.append(
                    MemberView(
                        q.name,
                        m.interface,
                        m.name,
                        m.paused,
                        m.paused_reason,
                        m.busy,
                        m.penalty,
                        m.calls_taken,
                    )
                )
        return out

    def uptime(self) -> int:
        return max(0, int(self.clock.monotonic() - self._boot))

    def define_queues(self, *names: str) -> None:
        """Queues added to queues.conf and ``module reload app_queue`` run: they exist from now
        on (with ``QueueConfig.queues`` set; without it every queue exists anyway)."""
        known = self.model.queue.queues
        if known is not None:
            queue = replace(self.model.queue, queues=known | frozenset(names))
            self.model = replace(self.model, queue=queue)
            self.pbx.model = self.model
        for name in names:
            self.pbx.get_queue(name)

    # faults ----------------------------------------------------------------
    async def drop_connections(self) -> None:
        """The TCP links break; Asterisk itself (and every call) carries on."""
        for s in list(self._sessions):
            s.abort()
        await asyncio.sleep(0)

    def set_dead(self, flag: bool) -> None:
        """Keep sockets open but answer and send nothing (a hung peer)."""
        self.dead = flag

    def set_response_delay(self, seconds: float) -> None:
        self.response_delay = max(0.0, seconds)

    async def inject_garbage(self, data: bytes) -> None:
        for s in list(self._sessions):
            if s.transport is not None:
                s.transport.write(data)
        await asyncio.sleep(0)

    async def restart(
        self, downtime: float = 1.0, close_delay: float = RESTART_CLOSE_DELAY
    ) -> None:
        """Like ``core restart now``: silence, close, refuse, come back empty."""
        if self.restarting:
            return
        self.restarting = True
        self.restarts += 1
        try:
            await self.clock.sleep(close_delay)
            if self._server is not None:
                self._server.close()
                self._server = None
            for s in list(self._sessions):
                s.abort()
            self.pbx.forget_everything()
            await self.clock.sleep(downtime)
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: Session(self), self.host, self.port, reuse_address=True
            )
            self._boot = self._reload = self.clock.monotonic()
        finally:
            self.restarting = False

    # events ----------------------------------------------------------------
    def _emit(self, name: str, headers: Headers) -> None:
        if self.dead or self.restarting:
            return
        data = encode("Event", name, headers)
        for s in self._sessions:
            if s.authenticated and s.events:
                s.write(data)
                self.events_sent += 1

    # actions ---------------------------------------------------------------
    def _dispatch(self, session: Session, msg: Message) -> None:
        if msg.kind is not MessageKind.ACTION:
            return
        if self.response_delay > 0 and msg.name.lower() != "login":
            self.scheduler.call_later(self.response_delay, lambda: self._handle(session, msg))
        else:
            self._handle(session, msg)

    def _handle(self, session: Session, msg: Message) -> None:
        if session.closing or session.transport is None or self.dead or self.restarting:
            return
        action = msg.name.strip().lower()
        aid = msg.get("ActionID")
        if action == "login":
            self._login(session, msg, aid)
            return
        if action == "logoff":
            session.respond(aid, "Goodbye", [("Message", "Thanks for all the fish.")])
            session.close()
            return
        if not session.authenticated:
            session.respond(aid, "Error", [("Message", "Permission denied")])
            return
        handler = _HANDLERS.get(action)
        if handler is None:
            session.respond(aid, "Error", [("Message", "Invalid/unknown command")])
            return
        handler(self, session, msg, aid)

    def _login(self, session: Session, msg: Message, aid: str | None) -> None:
        user, secret = msg.get("Username"), msg.get("Secret")
        if user != self.username or secret != self.secret:
            session.closing = True  # ignore anything else it sends

            def fail() -> None:
                if session.transport is not None:
                    session.closing = False
                    session.respond(aid, "Error", [("Message", "Authentication failed")])
                    session.close()

            self.scheduler.call_later(LOGIN_FAIL_DELAY, fail)
            return
        session.authenticated = True
        session.events = (msg.get("Events") or "on").strip().lower() not in ("off", "no", "false")
        self.logins += 1
        session.respond(aid, "Success", [("Message", "Authentication accepted")])
        up = str(self.uptime())
        reload_ = str(max(0, int(self.clock.monotonic() - self._reload)))
        if session.events:
            session.write(
                encode(
                    "Event",
                    "FullyBooted",
                    [
                        ("Privilege", "system,all"),
                        ("Uptime", up),
                        ("LastReload", reload_),
                        ("Status", "Fully Booted"),
                    ],
                )
            )
            tv = self.clock.now().strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
            session.write(
                encode(
                    "Event",
                    "SuccessfulAuth",
                    [
                        ("Privilege", "security,all"),
                        ("EventTV", tv),
                        ("Severity", "Informational"),
                        ("Service", "AMI"),
                        ("EventVersion", "1"),
                        ("AccountID", user),
                        ("SessionID", f"0x{id(session) & 0xFFFFFFFFFFFF:x}"),
                        ("LocalAddress", f"IPV4/TCP/{self.host}/{self.port}"),
                        ("RemoteAddress", f"IPV4/TCP/{session.peer[0]}/{session.peer[1]}"),
                        ("UsingPassword", "0"),
                        ("SessionTV", tv),
                    ],
                )
            )

    def _ping(self, session: Session, msg: Message, aid: str | None) -> None:
        self.pings_received += 1
        ts = f"{self.clock.now().timestamp():.6f}"
        session.respond(aid, "Success", [("Ping", "Pong"), ("Timestamp", ts)])

    def _events(self, session: Session, msg: Message, aid: str | None) -> None:
        mask = (msg.get("EventMask") or "on").strip().lower()
        session.events = mask not in ("off", "none", "no", "false")
        session.respond(aid, "Success", [("Events", "On" if session.events else "Off")])

    def _command(self, session: Session, msg: Message, aid: str | None) -> None:
        cmd = " ".join((msg.get("Command") or "").split()).lower()
        if cmd in ("core restart now", "core restart gracefully", "core restart when convenient"):
            self._spawn(self.restart(COMMAND_RESTART_DOWNTIME), "sim-restart")
            return
        lines: list[str]
        if cmd == "core show version":
            lines = [VERSION_LINE]
        elif cmd == "core show channels":
            lines = ["Channel              Location             State   Application(Data)"]
            lines += [
                f"{c.name} {c.exten}@{c.context}:{c.priority} {ev.state_desc(c.state)} "
                f"{c.application}({c.app_data})"
                for c in self.pbx.channels.values()
            ]
            lines.append(f"{len(self.pbx.channels)} active channels")
            lines.append(f"{len(self.pbx.calls)} active calls")
        elif cmd.startswith("queue show"):
            lines = []
            for q in self.pbx.queues.values():
                lines.append(
                    f"{q.name} has {len(q.callers)} calls (max unlimited)"
                    f" in '{q.strategy}' strategy"
                )
                lines.append("   Members: " if q.members else "   No Members")
                for m in q.members.values():
                    state = "paused" if m.paused else ("In use" if m.busy else "Not in use")
                    lines.append(f"      {m.name} ({m.interface}) ({state})")
        elif cmd.startswith("sim set member-timeout "):
            try:
                self.pbx.member_timeout = float(cmd.rsplit(" ", 1)[1])
                lines = [f"member timeout {self.pbx.member_timeout:g}"]
            except ValueError:
                lines = ["usage: sim set member-timeout SECONDS"]
        else:
            lines = [
                f"No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
            ]
        session.respond(
            aid,
            "Success",
            [("Message", "Command output follows")] + [("Output", line) for line in lines],
        )

    def _core_show_channels(self, session: Session, msg: Message, aid: str | None) -> None:
        session.respond(
            aid, "Success", [("EventList", "start"), ("Message", "Channels will follow")]
        )
        now = self.clock.monotonic()
        n = 0
        ident: Headers = [("ActionID", aid)] if aid is not None else []
        for ch in list(self.pbx.channels.values()):
            secs = int(now - ch.created)
            duration = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
            session.write(
                encode(
                    "Event",
                    "CoreShowChannel",
                    ident
                    + ch.block()
                    + [
                        ("Extension", ch.exten),
                        ("Application", ch.application),
                        ("ApplicationData", ch.app_data),
                        ("Duration", duration),
                        ("BridgeId", ""),
                    ],
                )
            )
            n += 1
        session.write(
            encode(
                "Event",
                "CoreShowChannelsComplete",
                ident + [("EventList", "Complete"), ("ListItems", str(n))],
            )
        )

    def _queue_status(self, session: Session, msg: Message, aid: str | None) -> None:
        want_q = msg.get("Queue") or None
        if want_q is not None:
            # without QueueConfig.queues every queue a client names exists (as if queues.conf
            # had it); with them, one it lacks is listed as nothing (Success, no QueueParams)
            self.pbx.find_queue(want_q)
        want_m = msg.get("Member") or None
        session.respond(
            aid, "Success", [("EventList", "start"), ("Message", "Queue status will follow")]
        )
        tail: Headers = [("ActionID", aid)] if aid is not None else []
        n = 0
        now = self.clock.monotonic()
        for q in self.pbx.queues.values():
            if want_q is not None and q.name != want_q:
                continue
            s = q.stats
            params: Headers = [
                ("Queue", q.name),
                ("Max", "0"),
                ("Strategy", q.strategy),
                ("Calls", str(len(q.callers))),
                ("Holdtime", str(s.holdtime)),
                ("TalkTime", str(s.talktime)),
                ("Completed", str(s.completed)),
                ("Abandoned", str(s.abandoned)),
                ("ServiceLevel", "0"),
                ("ServicelevelPerf", "0.0"),
                ("ServicelevelPerf2", "0.0"),
                ("Weight", "0"),
            ]
            session.write(encode("Event", "QueueParams", params + tail))
            n += 1
            for m in q.members.values():
                if want_m is not None and want_m not in (m.interface, m.name):
                    continue
                session.write(encode("Event", "QueueMember", _queue_member(q.name, m) + tail))
                n += 1
            for pos, caller in enumerate(q.callers, 1):
                one = getattr(caller, "one", None)
                if one is None:
                    continue
                join = float(getattr(caller, "join_time", now))
                entry: Headers = [
                    ("Queue", q.name),
                    ("Position", str(pos)),
                    ("Channel", one.name),
                    ("Uniqueid", one.uniqueid),
                    ("CallerIDNum", one.cid_num),
                    ("CallerIDName", one.cid_name),
                    ("ConnectedLineNum", one.conn_num),
                    ("ConnectedLineName", one.conn_name),
                    ("Wait", str(int(now - join))),
                    ("Priority", "0"),
                ]
                session.write(encode("Event", "QueueEntry", entry + tail))
                n += 1
        session.write(
            encode(
                "Event",
                "QueueStatusComplete",
                tail + [("EventList", "Complete"), ("ListItems", str(n))],
            )
        )

    def _queue_summary(self, session: Session, msg: Message, aid: str | None) -> None:
        want_q = msg.get("Queue") or None
        if want_q is not None:
            self.pbx.find_queue(want_q)
        session.respond(
            aid, "Success", [("EventList", "start"), ("Message", "Queue summary will follow")]
        )
        tail: Headers = [("ActionID", aid)] if aid is not None else []
        now = self.clock.monotonic()
        n = 0
        for q in self.pbx.queues.values():
            if want_q is not None and q.name != want_q:
                continue
            longest = 0
            for caller in q.callers:
                join = float(getattr(caller, "join_time", now))
                longest = max(longest, int(now - join))
            fields: Headers = [
                ("Queue", q.name),
                ("LoggedIn", str(len(q.members))),
                ("Available", str(len(q.available_members(now)))),
                ("Callers", str(len(q.callers))),
                ("HoldTime", str(q.stats.holdtime)),
                ("TalkTime", str(q.stats.talktime)),
                ("LongestHoldTime", str(longest)),
            ]
            session.write(encode("Event", "QueueSummary", fields + tail))
            n += 1
        session.write(
            encode(
                "Event",
                "QueueSummaryComplete",
                tail + [("EventList", "Complete"), ("ListItems", str(n))],
            )
        )

    def _queue_add(self, session: Session, msg: Message, aid: str | None) -> None:
        qname = msg.get("Queue")
        iface = msg.get("Interface")
        if not qname or not iface:
            session.respond(aid, "Error", [("Message", "'Queue' and 'Interface' not set.")])
            return
        q = self.pbx.find_queue(qname)
        if q is None:
            session.respond(
                aid, "Error", [("Message", "Unable to add interface to queue: No such queue")]
            )
            return
        if iface in q.members:
            session.respond(aid, "Error", [("Message", "Unable to add interface: Already there")])
            return
        try:
            penalty = int(msg.get("Penalty") or "0")
        except ValueError:
            penalty = 0
        paused = _truthy(msg.get("Paused"))
        epoch = int(self.clock.now().timestamp())
        state_interface = msg.get("StateInterface") or iface
        m = Member(
            interface=iface,
            name=msg.get("MemberName") or iface,
            state_interface=state_interface,
            penalty=penalty,
            paused=paused,
            paused_reason=(msg.get("Reason") or "") if paused else "",
            login_time=epoch,
            last_pause=epoch if paused else 0,
            busy=self.pbx.device_in_use(state_interface),
        )
        q.members[iface] = m
        session.respond(aid, "Success", [("Message", "Added interface to queue")])
        out: list[tuple[str, Headers]] = []
        self.pbx.queue_device(
            f"Queue:{q.name}_pause_{iface}", "INUSE" if paused else "NOT_INUSE", out
        )
        out.append(("QueueMemberAdded", self.pbx.member_event(q, m)))
        self.pbx.avail_device(q, out)
        self.pbx.emit_all(out)

    def _queue_remove(self, session: Session, msg: Message, aid: str | None) -> None:
        qname = msg.get("Queue") or ""
        iface = msg.get("Interface") or ""
        q = self.pbx.find_queue(qname)
        if q is None:
            session.respond(
                aid, "Error", [("Message", "Unable to remove interface from queue: No such queue")]
            )
            return
        m = q.remove(iface)
        if m is None:
            session.respond(aid, "Error", [("Message", "Unable to remove interface: Not there")])
            return
        session.respond(aid, "Success", [("Message", "Removed interface from queue")])
        out: list[tuple[str, Headers]] = [("QueueMemberRemoved", self.pbx.member_event(q, m))]
        self.pbx.queue_device(f"Queue:{q.name}_pause_{iface}", "NOT_INUSE", out)
        self.pbx.avail_device(q, out)
        self.pbx.emit_all(out)

    def _queue_pause(self, session: Session, msg: Message, aid: str | None) -> None:
        iface = msg.get("Interface") or ""
        qname = msg.get("Queue") or None
        paused = _truthy(msg.get("Paused"))
        reason = msg.get("Reason") or ""
        found = []
        for q in self.pbx.queues.values():
            if qname is not None and q.name != qname:
                continue
            m = q.members.get(iface)
            if m is not None:
                found.append((q, m))
        if not found:
            session.respond(aid, "Error", [("Message", "Interface not found")])
            return
        text = "Interface paused successfully" if paused else "Interface unpaused successfully"
        session.respond(aid, "Success", [("Message", text)])
        epoch = int(self.clock.now().timestamp())
        for q, m in found:
            m.paused = paused
            m.paused_reason = reason if paused else ""
            if paused:
                m.last_pause = epoch
            out: list[tuple[str, Headers]] = []
            state = "INUSE" if paused else "NOT_INUSE"
            self.pbx.queue_device(f"Queue:{q.name}_pause_{iface}", state, out)
            out.append(("QueueMemberPause", self.pbx.member_event(q, m)))
            self.pbx.avail_device(q, out)
            self.pbx.emit_all(out)

    def _queue_penalty(self, session: Session, msg: Message, aid: str | None) -> None:
        """app_queue's QueuePenalty: in one queue, or in every queue without ``Queue``."""
        iface = msg.get("Interface") or ""
        qname = msg.get("Queue") or None
        penalty_text = msg.get("Penalty") or ""
        if not iface or not penalty_text:
            session.respond(
                aid, "Error", [("Message", "Need 'Interface' and 'Penalty' parameters.")]
            )
            return
        penalty = atoi(penalty_text)  # app_queue: atoi(), so "abc" is penalty 0
        if penalty < 0:
            session.respond(aid, "Error", [("Message", "Invalid interface, queuename or penalty")])
            return
        found = [
            (q, m)
            for q in self.pbx.queues.values()
            if (qname is None or q.name == qname) and (m := q.members.get(iface)) is not None
        ]
        if not found:
            session.respond(aid, "Error", [("Message", "Invalid interface, queuename or penalty")])
            return
        session.respond(aid, "Success", [("Message", "Interface penalty set successfully")])
        out: list[tuple[str, Headers]] = []
        for q, m in found:
            m.penalty = penalty
            out.append(("QueueMemberPenalty", self.pbx.member_event(q, m)))
        self.pbx.emit_all(out)

    def _originate(self, session: Session, msg: Message, aid: str | None) -> None:
        if not msg.get("Channel"):
            session.respond(aid, "Error", [("Message", "Channel not specified")])
            return
        session.respond(aid, "Success", [("Message", "Originate successfully queued")])
        self.pbx.originate(aid or "", list(msg.headers))


def _queue_member(queue: str, m: Member) -> Headers:
    return [
        ("Queue", queue),
        ("Name", m.name),
        ("Location", m.interface),
        ("StateInterface", m.state_interface),
        ("Membership", "dynamic"),
        ("Penalty", str(m.penalty)),
        ("CallsTaken", str(m.calls_taken)),
        ("LastCall", str(m.last_call)),
        ("LastPause", str(m.last_pause)),
        ("LoginTime", str(m.login_time)),
        ("InCall", "0"),
        ("Status", str(m.status)),
        ("Paused", "1" if m.paused else "0"),
        ("PausedReason", m.paused_reason),
        ("Wrapuptime", "0"),
    ]


_HANDLERS = {
    "ping": SimAsterisk._ping,
    "events": SimAsterisk._events,
    "command": SimAsterisk._command,
    "coreshowchannels": SimAsterisk._core_show_channels,
    "queuestatus": SimAsterisk._queue_status,
    "queuesummary": SimAsterisk._queue_summary,
    "queueadd": SimAsterisk._queue_add,
    "queueremove": SimAsterisk._queue_remove,
    "queuepause": SimAsterisk._queue_pause,
    "queuepenalty": SimAsterisk._queue_penalty,
    "originate": SimAsterisk._originate,
}
