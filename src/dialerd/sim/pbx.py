"""The simulated Asterisk core: Local channel pairs, the recorded dialplan, app_queue and app_amd.

Every call is a small state machine driven by timers on the shared :class:`Scheduler`; every
step emits the events a real Asterisk 22 emitted for the same step in the recordings (same
types, keys, ids and causes). Where the real order varied between runs (OriginateResponse
around DialEnd, Hangups and queue events; Hangup ;1 vs ;2; AgentComplete vs Hangup ;2) the
variant is drawn from the seeded RNG, so a client that expects one fixed order fails here too.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from dialerd.domain.clock import Clock
from dialerd.sim import events as ev
from dialerd.sim.channels import BUSY, DOWN, RING, RINGING, UP, Channel, Headers, parse_callerid
from dialerd.sim.model import (
    AmdVoice,
    CalleeKind,
    CalleePlan,
    SimModel,
    agent_exten,
    callee_number,
    plan_callee,
)
from dialerd.sim.queue import Member, Queue, QueueStats
from dialerd.sim.scheduler import Scheduler, Timer

Emit = Callable[[str, Headers], None]
Out = list[tuple[str, Headers]]

CONNECT_CONTEXT = "dialer-connect"
AMD_CONTEXT = "dialer-connect-amd"
CALLEE_CONTEXT = "sim-callees"
MAX_REMEMBERED_ORIGINATES = 1_000_000
_ATOI = re.compile(r"\s*([+-]?\d+)")
RECHECK = 1.001  # app_queue re-checks its turn about once a second (drifting ~1 ms per round)
# AgentComplete sent without channel fields, after every Hangup of the call: 2 of 31 in the
# Asterisk 22.10.1 runs (0 of 14 in the shared recordings, 2 of 17 in asterisk-test's checks).
BARE_AGENT_COMPLETE_SHARE = 0.065

# AMD results after answer: (status, cause, seconds), as recorded in 15-amd.
AMD_RESULT = {
    AmdVoice.MACHINE: ("MACHINE", "LONGGREETING-1500-1500", 2.264),
    AmdVoice.HELLO: ("HUMAN", "HUMAN-800-800", 1.965),
    AmdVoice.SILENT: ("NOTSURE", "TOOLONG-4900", 5.011),
}


def atoi(text: str) -> int:
    """C's ``atoi``, as Asterisk reads numbers: blanks and a sign, then the leading digits (0
    without any): ``"1.5"`` is 1, ``"abc"`` 0."""
    m = _ATOI.match(text)
    return int(m.group(1)) if m else 0


def _whole(seconds: float) -> int:
    """Whole seconds as app_queue reports them (time_t or millisecond arithmetic, truncated),
    rounded to the millisecond first: a 1.0 s ring computed as 0.9999999 in floating point
    reported 0 where Asterisk reports 1."""
    return int(round(seconds, 3))


class Stage(StrEnum):
    DIALING = "dialing"  # ;2 runs sim-callees, not answered yet
    DIALPLAN = "dialplan"  # answered, ;1 runs NoOp/Set/AMD/Playback
    QUEUED = "queued"  # ;1 waits in Queue()
    TALKING = "talking"  # bridged with an agent
    DONE = "done"


@dataclass(slots=True)
class AgentLeg:
    member: Member
    queue: Queue
    one: Channel
    two: Channel
    ring_start: float
    timers: list[Timer] = field(default_factory=list)
    connect_time: float = 0.0
    bridge_id: str = ""


@dataclass(slots=True, eq=False)
class Call:
    action_id: str
    number: str
    dial_string: str
    context: str
    exten: str
    priority: str
    timeout: float
    cid_num: str
    cid_name: str
    variables: list[tuple[str, str]]
    plan: CalleePlan
    one: Channel
    two: Channel
    ids_given: bool
    stage: Stage = Stage.DIALING
    timers: list[Timer] = field(default_factory=list)
    answer_time: float = 0.0
    rr_pending: Headers | None = None
    queue: Queue | None = None
    queue_start: int = 0
    """The wall-clock second Queue() started (app_queue's ``qe->start = time(NULL)``)."""
    queue_expire: int = 0
    """The wall-clock second Queue() gives up at (``qe->expire``: start + whole seconds)."""
    join_time: float = 0.0
    original_position: int = 0
    leg: AgentLeg | None = None
    talking: bool = False

    @property
    def ringing(self) -> bool:
        return self.leg is not None and not self.talking

    def var(self, name: str, default: str) -> str:
        for k, v in self.variables:
            if k == name:
                return v
        return default

    def cancel_timers(self) -> None:
        for t in self.timers:
            t.cancel()
        self.timers.clear()


class Pbx:
    def __init__(
        self,
        clock: Clock,
        scheduler: Scheduler,
        emit: Emit,
        model: SimModel,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self._wall_offset = clock.now().timestamp() - clock.monotonic()
        self.sched = scheduler
        self._emit = emit
        self.model = model
        self.seed = seed
        self.rng = random.Random(seed)
        self.channels: dict[str, Channel] = {}
        self.calls: dict[str, Call] = {}
        self.queues: dict[str, Queue] = {}
        self.originates: list[str] = []
        self.originate_total = 0
        self._attempts: Counter[str] = Counter()
        self._uid_seq = 0
        self._local_seq = 0
        self._bridge_seq = 0
        self.member_timeout = model.queue.member_timeout
        self._qdev_cache: dict[str, str] = {}
        for name in model.queue.queues or (model.queue.default_queue,):
            self.get_queue(name)  # QueueStatus lists every configured queue

    # ------------------------------------------------------------------ helpers
    def epoch(self) -> float:
        """Unix time at the simulated moment (``sched.now()``): a timer that fires late reads
        the wall-clock second it was due in, as the durations it computes stay exact. The
        wall clock's offset from the monotonic one is read once: read anew each time (two
        reads, which a loaded machine can preempt between), a join near the start of a second
        and a look 2 s later could fall in seconds 1 apart, and the caller waited a third."""
        return self._wall_offset + self.sched.now()

    def wall_second(self) -> int:
        """``time(NULL)``: the whole wall-clock second app_queue counts its timeout in."""
        return math.floor(self.epoch())

    def _next_uid(self) -> str:
        uid = f"{int(self.epoch())}.{self._uid_seq}"
        self._uid_seq += 1
        return uid

    def _local_pair(
        self, exten: str, context: str, uid1: str | None, uid2: str | None, linkedid: str | None
    ) -> tuple[Channel, Channel]:
        base = f"Local/{exten}@{context}-{self._local_seq:08x}"
        self._local_seq += 1
        gen1, gen2 = self._next_uid(), self._next_uid()
        u1 = uid1 or gen1
        u2 = uid2 or gen2
        link = linkedid or u1
        now = self.sched.now()
        one = Channel(base + ";1", u1, link, context, exten, state=DOWN, created=now)
        two = Channel(base + ";2", u2, link, context, exten, state=RING, created=now)
        self.channels[u1] = one
        self.channels[u2] = two
        return one, two

    def emit_all(self, out: Iterable[tuple[str, Headers]]) -> None:
        for name, headers in out:
            self._emit(name, headers)

    def _later(self, call: Call, delay: float, fn: Callable[[], None]) -> Timer:
        timer = self.sched.call_later(delay, fn)
        call.timers.append(timer)
        if len(call.timers) > 8:
            call.timers = [t for t in call.timers if not t.cancelled]
        return timer

    def get_queue(self, name: str) -> Queue:
        q = self.queues.get(name)
        if q is None:
            q = Queue(name, self.model.queue.strategy)
            self.queues[name] = q
        return q

    def find_queue(self, name: str) -> Queue | None:
        """The queue ``name`` if Asterisk has it: with ``QueueConfig.queues`` set only those
        (queues.conf), else every name (created on first use)."""
        q = self.queues.get(name)
        if q is None and (self.model.queue.queues is None or name in self.model.queue.queues):
            q = self.get_queue(name)
        return q

    def queue_device(self, device: str, state: str, out: Out) -> None:
        """Queue:* device states are cached by Asterisk: an event only when the state changes."""
        if self._qdev_cache.get(device) != state:
            self._qdev_cache[device] = state
            out.append(("DeviceStateChange", ev.device_state(device, state)))

    def _queue_state(self, q: Queue, out: Out) -> None:
        self.queue_device(f"Queue:{q.name}", "RINGING" if q.callers else "NOT_INUSE", out)

    def avail_device(self, q: Queue, out: Out) -> None:
        state = "NOT_INUSE" if q.available_members(self.sched.now()) else "INUSE"
        self.queue_device(f"Queue:{q.name}_avail", state, out)

    def _dev(self, ch_exten: str, context: str, state: str) -> tuple[str, Headers]:
        return ("DeviceStateChange", ev.device_state(f"Local/{ch_exten}@{context}", state))

    def _rr(self, call: Call, success: bool, reason: int) -> Headers:
        return [
            ev.CALL,
            ("ActionID", call.action_id),
            ("Response", "Success" if success else "Failure"),
            ("Channel", call.one.name if success else call.dial_string),
            ("Context", call.context),
            ("Exten", call.exten),
            ("Reason", str(reason)),
            ("Uniqueid", call.one.uniqueid if (success or call.ids_given) else "<unknown>"),
            ("CallerIDNum", call.cid_num),
            ("CallerIDName", call.cid_name),
        ]

    def _kill(self, ch: Channel) -> None:
        ch.alive = False
        self.channels.pop(ch.uniqueid, None)

    def _finish(self, call: Call) -> None:
        call.stage = Stage.DONE
        call.cancel_timers()
        self._kill(call.one)
        self._kill(call.two)
        self.calls.pop(call.one.uniqueid, None)
        if call.rr_pending is not None:  # never lose the OriginateResponse
            self._emit("OriginateResponse", call.rr_pending)
            call.rr_pending = None

    # ------------------------------------------------------------------ originate
    def originate(self, action_id: str, fields: list[tuple[str, str]]) -> None:
        """Start an Originate whose "successfully queued" Response was already written."""
        self.originates.append(action_id)
        self.originate_total += 1
        if len(self.originates) > MAX_REMEMBERED_ORIGINATES:  # a demo may run for days
            del self.originates[: MAX_REMEMBERED_ORIGINATES // 2]
        get = dict((k.lower(), v) for k, v in reversed(fields))
        dial_string = get.get("channel", "")
        variables: list[tuple[str, str]] = []
        for k, v in fields:
            if k.lower() == "variable":
                for item in v.split(","):
                    name, sep, value = item.partition("=")
                    if sep and name.strip():
                        variables.append((name.strip(), value))
        cid_num, cid_name = parse_callerid(get.get("callerid", ""))
        try:
            timeout = float(get.get("timeout", "30000")) / 1000.0
        except ValueError:
            timeout = 30.0
        parsed = callee_number(dial_string)
        number, callee_ctx = parsed if parsed else ("", "")
        self._attempts[number] += 1
        if parsed and callee_ctx == CALLEE_CONTEXT:
            plan = plan_callee(number, self.model.callee, self.seed, self._attempts[number])
        else:
            plan = plan_callee("", self.model.callee, self.seed, 1)  # no route
        uid1 = get.get("channelid") or None
        uid2 = get.get("otherchannelid") or None
        if parsed is None:
            self._originate_no_channel(action_id, dial_string, get, uid1, cid_num, cid_name)
            return
        one, two = self._local_pair(number, callee_ctx, uid1, uid2, None)
        call = Call(
            action_id=action_id,
            number=number,
            dial_string=dial_string,
            context=get.get("context", ""),
            exten=get.get("exten", "s"),
            priority=get.get("priority", "1"),
            timeout=timeout,
            cid_num=cid_num,
            cid_name=cid_name,
            variables=variables,
            plan=plan,
            one=one,
            two=two,
            ids_given=uid1 is not None,
        )
        self.calls[one.uniqueid] = call
        self._start(call)

    def _originate_no_channel(
        self,
        action_id: str,
        dial_string: str,
        get: dict[str, str],
        uid1: str | None,
        cid_num: str,
        cid_name: str,
    ) -> None:
        headers: Headers = [
            ev.CALL,
            ("ActionID", action_id),
            ("Response", "Failure"),
            ("Channel", dial_string),
            ("Context", get.get("context", "")),
            ("Exten", get.get("exten", "s")),
            ("Reason", "0"),
            ("Uniqueid", uid1 or "<unknown>"),
            ("CallerIDNum", cid_num),
            ("CallerIDName", cid_name),
        ]
        self._emit("OriginateResponse", headers)

    def _start(self, call: Call) -> None:
        one, two, plan = call.one, call.two, call.plan
        out: Out = [("Newchannel", ev.channel_event(one)), ("Newchannel", ev.channel_event(two))]
        out.append(("Newexten", ev.newexten(one, "AppDial2", "(Outgoing Line)")))
        for k, v in call.variables:
            out.append(("VarSet", ev.varset(one, k, v)))
        one.cid_num, one.cid_name = call.cid_num, call.cid_name
        out.append(("NewCallerid", ev.newcallerid(one)))
        one.conn_num, one.conn_name = call.cid_num, call.cid_name
        out.append(("NewConnectedLine", ev.channel_event(one)))
        for k, v in call.variables:
            out.append(("VarSet", ev.varset(two, k, v)))
        two.cid_num, two.cid_name = call.cid_num, call.cid_name
        two.conn_num, two.conn_name = call.cid_num, call.cid_name
        out.append(("NewCallerid", ev.newcallerid(two)))
        out.append(("NewConnectedLine", ev.channel_event(two)))
        if plan.kind is CalleeKind.NO_ROUTE:
            self._fail_no_route(call, out)
            return
        out.append(("LocalBridge", ev.local_bridge(one, two)))
        out.append(
            ("DialBegin", ev.dial(one, None, ("DialString", f"{call.number}@{CALLEE_CONTEXT}")))
        )
        out.append(("Newexten", ev.newexten(two, "NoOp", f"sim: {plan.label} {call.number}")))
        two.priority = 2
        kind = plan.kind
        if kind is CalleeKind.BUSY:
            self._fail_busy(call, out)
        elif kind is CalleeKind.CONGESTION:
            self._fail_congestion(call, out)
        elif kind is CalleeKind.INVALID:
            self._fail_invalid(call, out)
        elif plan.ringing:
            out.append(("Newexten", ev.newexten(two, "Ringing", "")))
            one.state = RINGING
            out.append(("Newstate", ev.channel_event(one)))
            two.priority = 3
            wait = "120" if kind is CalleeKind.NO_ANSWER else f"{max(1, round(plan.ring_time))}"
            out.append(("Newexten", ev.newexten(two, "Wait", wait)))
            out.append(self._dev(call.number, CALLEE_CONTEXT, "INUSE"))
            out.append(("DialState", ev.dial(one, None, ("DialStatus", "RINGING"))))
            self.emit_all(out)
            if kind is CalleeKind.ANSWER and plan.ring_time < call.timeout:
                self._later(call, plan.ring_time, lambda: self._answer(call))
            else:
                self._later(call, call.timeout, lambda: self._fail_timeout(call))
        else:
            self.emit_all(out)
            self._answer(call)

    # ------------------------------------------------------------------ failures
    def _place_rr(self, call: Call, out: Out, rr: Headers) -> Out:
        """Put the OriginateResponse before, between or after the two Hangups (19:11:4)."""
        hangups = [i for i, (name, _) in enumerate(out) if name == "Hangup"]
        choice = self.rng.choices((0, 1, 2), weights=(19, 11, 4))[0]
        idx = hangups[choice] if choice < len(hangups) else len(out)
        if choice == 2 and hangups:
            idx = hangups[-1] + 1
        out.insert(idx, ("OriginateResponse", rr))
        return out

    def _fail_no_route(self, call: Call, out: Out) -> None:
        one, two = call.one, call.two
        out.append(("Hangup", ev.hangup(two, 0)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "INVALID"))
        out.append(("Hangup", ev.hangup(one, 0)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "INVALID"))
        self.emit_all(self._place_rr(call, out, self._rr(call, False, 0)))
        self._finish(call)

    def _fail_busy(self, call: Call, out: Out) -> None:
        one, two = call.one, call.two
        out.append(("Newexten", ev.newexten(two, "Busy", "5")))
        out.append(("DialEnd", ev.dial(one, None, ("DialStatus", "BUSY"))))
        out.append(("HangupRequest", ev.hangup_request(two, 0)))
        out.append(("Hangup", ev.hangup(one, 0)))
        two.state = BUSY
        out.append(("Newstate", ev.channel_event(two)))
        out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
        out.append(("Hangup", ev.hangup(two, 17)))
        out.extend([self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE")] * 3)
        self.emit_all(self._place_rr(call, out, self._rr(call, False, 5)))
        self._finish(call)

    def _fail_congestion(self, call: Call, out: Out) -> None:
        one, two = call.one, call.two
        out.append(("Newexten", ev.newexten(two, "Congestion", "5")))
        two.state = BUSY
        out.append(("Newstate", ev.channel_event(two)))
        out.append(("DialEnd", ev.dial(one, None, ("DialStatus", "CONGESTION"))))
        out.append(("HangupRequest", ev.hangup_request(two, 0)))
        out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        out.append(("Hangup", ev.hangup(two, 34)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        out.append(("Hangup", ev.hangup(one, 0)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        self.emit_all(self._place_rr(call, out, self._rr(call, False, 8)))
        self._finish(call)

    def _fail_invalid(self, call: Call, out: Out) -> None:
        one, two = call.one, call.two
        out.append(("Newexten", ev.newexten(two, "Hangup", "1")))
        out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
        out.append(("HangupRequest", ev.hangup_request(one, 1)))
        out.append(("Hangup", ev.hangup(two, 1)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        out.append(("DialEnd", ev.dial(one, None, ("DialStatus", "NOANSWER"))))
        out.append(("Hangup", ev.hangup(one, 1)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        self.emit_all(self._place_rr(call, out, self._rr(call, False, 0)))
        self._finish(call)

    def _fail_timeout(self, call: Call) -> None:
        if call.stage is not Stage.DIALING:
            return
        one, two = call.one, call.two
        out: Out = [("HangupRequest", ev.hangup_request(two, 19))]
        out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
        pair = [("Hangup", ev.hangup(one, 19)), ("Hangup", ev.hangup(two, 19))]
        if self.rng.random() < 0.5:
            pair.reverse()
        out.extend(pair)
        out.extend([self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE")] * 2)
        self.emit_all(self._place_rr(call, out, self._rr(call, False, 3)))
        self._finish(call)

    # ------------------------------------------------------------------ answer
    def _answer(self, call: Call) -> None:
        if call.stage is not Stage.DIALING:
            return
        one, two, plan = call.one, call.two, call.plan
        now = self.sched.now()
        call.answer_time = now
        out: Out = [("Newexten", ev.newexten(two, "Answer", ""))]
        two.state = UP
        states = [("Newstate", ev.channel_event(two))]
        one.state = UP
        states.append(("Newstate", ev.channel_event(one)))
        if self.rng.random() < 0.3:
            states.reverse()
        out.extend(states)
        out.extend([self._dev(call.number, CALLEE_CONTEXT, "INUSE")] * 2)
        dial_end = ("DialEnd", ev.dial(one, None, ("DialStatus", "ANSWER")))
        rr = self._rr(call, True, 4)
        # RR vs DialEnd either way; sometimes only after QueueCallerJoin / AgentCalled (23 of 80).
        mode = self.rng.choices((0, 1, 2, 3), weights=(29, 28, 17, 6))[0]
        if mode == 0:
            out += [("OriginateResponse", rr), dial_end]
        elif mode == 1:
            out += [dial_end, ("OriginateResponse", rr)]
        else:
            out.append(dial_end)
            call.rr_pending = rr
        call.stage = Stage.DIALPLAN
        one.context, one.exten, one.priority = call.context, call.exten, 1
        two.priority = 4 if plan.ringing else 2
        # The callee hangs up after its talk time, whatever the dialer side does meanwhile.
        self._later(call, plan.talk_time, lambda: self._callee_hangs_up(call))
        steps = plan.steps()
        first = 0.5 if steps and steps[0][0] == "Playback" else 0.02
        self._later(call, first, lambda: self._callee_step(call, steps, 0))
        if call.context == CONNECT_CONTEXT:
            self._dialplan_connect(call, out, pending_mode=mode)
        elif call.context == AMD_CONTEXT:
            self._dialplan_amd(call, out)
        else:
            self._flush_rr(call, out)
            self.emit_all(out)
            self._dialplan_hangup(call, [])

    def _callee_step(self, call: Call, steps: tuple[tuple[str, str, float], ...], i: int) -> None:
        """The callee's dialplan after Answer() (Wait, Playback...), as in sim-callees."""
        if call.stage is Stage.DONE or i >= len(steps):
            return
        two = call.two
        out: Out = []
        if two.application == "Playback":
            out.append(("VarSet", ev.varset(two, "PLAYBACKSTATUS", "SUCCESS")))
        two.priority += 1
        app, data, seconds = steps[i]
        out.append(("Newexten", ev.newexten(two, app, data)))
        self.emit_all(out)
        if i + 1 < len(steps):
            self._later(call, seconds, lambda: self._callee_step(call, steps, i + 1))

    def _flush_rr(self, call: Call, out: Out) -> None:
        if call.rr_pending is not None:
            out.append(("OriginateResponse", call.rr_pending))
            call.rr_pending = None

    def _dialplan_amd(self, call: Call, out: Out) -> None:
        one = call.one
        self._flush_rr(call, out)
        attempt = call.var("DIALER_ATTEMPT", "")
        out.append(
            (
                "Newexten",
                ev.newexten(one, "NoOp", f"dialer: attempt {attempt} answered, running AMD"),
            )
        )
        one.priority = 2
        out.append(("Newexten", ev.newexten(one, "AMD", "")))
        self.emit_all(out)
        status, cause, delay = AMD_RESULT[call.plan.voice]
        self._later(call, delay, lambda: self._amd_done(call, status, cause))

    def _amd_done(self, call: Call, status: str, cause: str) -> None:
        if call.stage is not Stage.DIALPLAN:
            return
        one = call.one
        out: Out = [("VarSet", ev.varset(one, "AMDSTATUS", status))]
        out.append(("VarSet", ev.varset(one, "AMDCAUSE", cause)))
        one.priority = 3
        out.append(
            (
                "Newexten",
                ev.newexten(one, "UserEvent", f"DialerAMD,Status: {status},Cause: {cause}"),
            )
        )
        out.append(
            (
                "UserEvent",
                [
                    ev.USER,
                    *one.block(),
                    ("UserEvent", "DialerAMD"),
                    ("Status", status),
                    ("Cause", cause),
                ],
            )
        )
        one.priority = 4
        out.append(("Newexten", ev.newexten(one, "GotoIf", f"{int(status == 'MACHINE')}?machine")))
        if status == "MACHINE":
            one.priority = 6
            out.append(("Newexten", ev.newexten(one, "Hangup", "")))
            self._dialplan_hangup(call, out)
            return
        one.priority = 5
        out.append(("Newexten", ev.newexten(one, "Goto", "dialer-connect,s,1")))
        one.context, one.exten, one.priority = CONNECT_CONTEXT, "s", 1
        self._dialplan_connect(call, out, pending_mode=0)

    def _dialplan_connect(self, call: Call, out: Out, pending_mode: int) -> None:
        one = call.one
        attempt = call.var("DIALER_ATTEMPT", "")
        out.append(("Newexten", ev.newexten(one, "NoOp", f"dialer: attempt {attempt} answered")))
        one.priority = 2
        out.append(("Newexten", ev.newexten(one, "Set", "DIALER_STAGE=queue")))
        out.append(("VarSet", ev.varset(one, "DIALER_STAGE", "queue")))
        # asterisk-test's [dialer-connect]: Set(DIALER_Q=...), Set(DIALER_T=...), Queue(...).
        qname = call.var("DIALER_QUEUE", "") or self.model.queue.default_queue
        limit_text = (
            call.var("DIALER_CONNECT_TIMEOUT", "") or f"{self.model.queue.connect_timeout:g}"
        )
        one.priority = 3
        out.append(("Newexten", ev.newexten(one, "Set", f"DIALER_Q={qname}")))
        out.append(("VarSet", ev.varset(one, "DIALER_Q", qname)))
        one.priority = 4
        out.append(("Newexten", ev.newexten(one, "Set", f"DIALER_T={limit_text}")))
        out.append(("VarSet", ev.varset(one, "DIALER_T", limit_text)))
        one.priority = 5
        out.append(("Newexten", ev.newexten(one, "Queue", f"{qname},,,,{limit_text}")))
        for name in (
            "ANSWEREDTIME",
            "ANSWEREDTIME_MS",
            "DIALEDTIME",
            "DIALEDTIME_MS",
            "QUEUEWAIT",
            "QUEUEWAIT_MS",
        ):
            out.append(("VarSet", ev.varset(one, name, "")))
        q = self.find_queue(qname)
        if q is None:
            # Queue() on a queue Asterisk does not have: QUEUESTATUS=UNKNOWN at once, no join
            # (recorded on Asterisk 22.10.1, asterisk-test/README.md).
            out.append(("VarSet", ev.varset(one, "QUEUESTATUS", "UNKNOWN")))
            self._queue_gave_up(call, "UNKNOWN", out)
            return
        # Queue()'s timeout goes through atoi(): whole seconds, "1.5" is 1, "0.5" is 0.
        self._queue_join(call, q, float(atoi(limit_text)), out, pending_mode)

    def _dialplan_hangup(self, call: Call, out: Out) -> None:
        """;1 hangs up from its dialplan (Hangup() after AMD MACHINE or the information message)."""
        one, two = call.one, call.two
        self._flush_rr(call, out)
        out.append(("SoftHangupRequest", ev.hangup_request(one, 16)))
        out.append(("HangupRequest", ev.hangup_request(two, 16)))
        h1: Out = [("Hangup", ev.hangup(one, 16))]
        h2: Out = []
        if two.application == "Playback":
            h2.append(("VarSet", ev.varset(two, "PLAYBACKSTATUS", "SUCCESS")))
        h2 += [("SoftHangupRequest", ev.hangup_request(two, 16)), ("Hangup", ev.hangup(two, 16))]
        out += h1 + h2 if self.rng.random() < 0.7 else h2 + h1
        out.extend([self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE")] * 2)
        self.emit_all(out)
        self._finish(call)

    # ------------------------------------------------------------------ queue
    def _queue_join(self, call: Call, q: Queue, limit: float, out: Out, pending_mode: int) -> None:
        one = call.one
        now = self.sched.now()
        call.stage = Stage.QUEUED
        call.queue = q
        call.queue_start = self.wall_second()
        call.queue_expire = call.queue_start + int(limit)
        call.join_time = now
        q.callers.append(call)
        call.original_position = len(q.callers)
        self._queue_state(q, out)
        out.append(
            (
                "QueueCallerJoin",
                [
                    ev.AGENT,
                    *one.block(),
                    ("Queue", q.name),
                    ("Position", str(call.original_position)),
                    ("Count", str(len(q.callers))),
                ],
            )
        )
        if pending_mode == 2:
            self._flush_rr(call, out)
        out.append(("MusicOnHoldStart", ev.channel_event(one, ev.CALL, ("Class", "default"))))
        if self._queue_expired(call):  # expire == start: it leaves before any member rings
            self._later(call, 0.0, lambda: self._queue_timeout(call))
            self._flush_rr(call, out)
            self.emit_all(out)
            return
        if not self._queue_try(call, out):  # when it rings, the ring emitted ``out``
            self._flush_rr(call, out)
            self.emit_all(out)
            self._later(call, RECHECK, lambda: self._queue_tick(call))

    def _queue_expired(self, call: Call) -> bool:
        """app_queue's ``time(NULL) >= qe->expire``, checked where it checks it: at each look at
        its turn (about once a second) and when a ring ends. Whole wall-clock seconds, not a
        stopwatch: the caller leaves at the first check in the second its time runs out."""
        return self.wall_second() >= call.queue_expire

    def _ring_limit(self, call: Call) -> float:
        """How long a member rings: app_queue's ``to`` in try_calling, the member ``timeout``
        or, when less, the caller's whole seconds left, ``(qe->expire - time(NULL)) * 1000``.
        Rung 8.008 s after a join at .995 of a second (the 9th second of the wall clock) with
        a 10 s limit, the ring gets 1000 ms, not the 1.992 s a stopwatch leaves: an agent who
        answers after 1 s is cut off and the caller abandoned (16-load, att-1635)."""
        left = call.queue_expire - self.wall_second()
        return float(left) if left <= self.member_timeout else self.member_timeout

    def _queue_tick(self, call: Call) -> None:
        if call.stage is not Stage.QUEUED or call.leg is not None:
            return
        if self._queue_expired(call):
            self._queue_timeout(call)
            return
        out: Out = []
        if self._queue_try(call, out):
            return
        self.emit_all(out)
        self._later(call, RECHECK, lambda: self._queue_tick(call))

    def _queue_try(self, call: Call, out: Out) -> bool:
        """Ring the next member if it is this caller's turn; emits ``out`` when it rings."""
        q = call.queue
        assert q is not None
        now = self.sched.now()
        if not q.is_our_turn(call, now):
            return False
        member = q.choose(now)
        if member is None:
            return False
        self._ring_member(call, q, member, out)
        return True

    def _ring_member(self, call: Call, q: Queue, member: Member, out: Out) -> None:
        caller = call.one
        exten = agent_exten(member.interface)
        now = self.sched.now()
        a1, a2 = self._agent_pair(member.interface, exten, caller.linkedid)
        leg = AgentLeg(member, q, a1, a2, now)
        call.leg = leg
        member.busy = True
        out.append(("Newchannel", ev.channel_event(a1)))
        out.append(("Newchannel", ev.channel_event(a2)))
        out.append(("Newexten", ev.newexten(a1, "AppQueue", "(Outgoing Line)")))
        a1.cid_num, a1.cid_name = caller.cid_num, caller.cid_name
        out.append(("NewCallerid", ev.newcallerid(a1)))
        peer = member.interface.split("/", 1)[-1]
        out.append(("VarSet", ev.varset(a1, "DIALEDPEERNUMBER", peer)))
        out.append(("VarSet", ev.varset(a2, "DIALEDPEERNUMBER", peer)))
        a2.cid_num, a2.cid_name = caller.cid_num, caller.cid_name
        out.append(("NewCallerid", ev.newcallerid(a2)))
        a2.conn_num, a2.conn_name = caller.cid_num, caller.cid_name
        out.append(("NewConnectedLine", ev.channel_event(a2)))
        out.append(("LocalBridge", ev.local_bridge(a1, a2)))
        dial_begin = (
            "DialBegin",
            ev.dial(a1, caller, ("DialString", member.interface), dest_conn_unknown=True),
        )
        a1.exten = "s"
        out.append(
            (
                "AgentCalled",
                ev.agent_event(caller, a1, q.name, member.interface, member.name),
            )
        )
        out.append(dial_begin)
        if call.rr_pending is not None:
            self._flush_rr(call, out)
        profile = self.model.agents.profile(member.interface)
        never = profile.no_answer_probability >= 1.0 or (
            profile.no_answer_probability > 0 and self.rng.random() < profile.no_answer_probability
        )
        label = f"sim: agent that never answers {exten}" if never else f"sim: agent {exten}"
        out.append(("Newexten", ev.newexten(a2, "NoOp", label)))
        a2.priority = 2
        out.append(("Newexten", ev.newexten(a2, "Ringing", "")))
        a1.state = RINGING
        out.append(("Newstate", ev.channel_event(a1)))
        out.append(("Newexten", ev.newexten(a1, "AppQueue", "(Outgoing Line)")))
        a1.conn_num, a1.conn_name = caller.cid_num, caller.cid_name
        out.append(("NewConnectedLine", ev.channel_event(a1)))
        a2.priority = 3
        wait = "600" if never else f"{profile.ring_delay:g}"
        out.append(("Newexten", ev.newexten(a2, "Wait", wait)))
        out.append(("DialState", ev.dial(a1, caller, ("DialStatus", "RINGING"))))
        out.append(("QueueMemberStatus", self._member_event(q, member)))
        self.avail_device(q, out)
        out.append(("DeviceStateChange", ev.device_state(member.state_interface, "INUSE")))
        self._device_in_use(member, True, q, out)
        self.emit_all(out)
        ring_limit = self._ring_limit(call)
        if not never and profile.ring_delay < ring_limit:
            leg.timers.append(
                self.sched.call_later(profile.ring_delay, lambda: self._agent_answers(call, leg))
            )
        leg.timers.append(
            self.sched.call_later(ring_limit, lambda: self._agent_no_answer(call, leg, ring_limit))
        )

    def _agent_pair(self, interface: str, exten: str, linkedid: str) -> tuple[Channel, Channel]:
        if interface.startswith("Local/"):
            context = interface.split("@", 1)[1] if "@" in interface else "default"
        else:
            context = "default"
        one, two = self._local_pair(exten, context, None, None, linkedid)
        if not interface.startswith("Local/"):
            base = f"{interface}-{self._local_seq - 1:08x}"
            one.name, two.name = base + ";1", base + ";2"
        return one, two

    def _member_event(self, q: Queue, m: Member) -> Headers:
        return [
            ev.AGENT,
            ("Queue", q.name),
            ("MemberName", m.name),
            ("Interface", m.interface),
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
            ("Ringinuse", "0"),
            ("Wrapuptime", "0"),
        ]

    def member_event(self, q: Queue, m: Member) -> Headers:
        return self._member_event(q, m)

    def _release_member(self, q: Queue, m: Member, out: Out) -> None:
        m.busy = False
        if q.members.get(m.interface) is m:
            out.append(("QueueMemberStatus", self._member_event(q, m)))
            self.avail_device(q, out)
        self._device_in_use(m, False, q, out)

    def device_in_use(self, state_interface: str) -> bool:
        """The device rings or talks for some queue (a member added now starts in use)."""
        return any(
            m.busy and m.state_interface == state_interface
            for q in self.queues.values()
            for m in q.members.values()
        )

    def _device_in_use(self, member: Member, busy: bool, done: Queue, out: Out) -> None:
        """ringinuse=no follows the device, not the queue: an agent ringing or talking for one
        queue is in use for every other queue they are a member of (app_queue updates each of
        those members from the device state, with a QueueMemberStatus each)."""
        for q in self.queues.values():
            m = q.members.get(member.interface)
            if q is done or m is None or m.state_interface != member.state_interface:
                continue
            if m.busy is not busy:
                m.busy = busy
                out.append(("QueueMemberStatus", self._member_event(q, m)))
                self.avail_device(q, out)

    def _drop_leg(self, call: Call, leg: AgentLeg, out: Out, elapsed_ms: int | None) -> None:
        """End a ringing agent leg: AgentRingNoAnswer (with ``elapsed_ms``), DialEnds, hangups."""
        caller = call.one
        for t in leg.timers:
            t.cancel()
        q, m = leg.queue, leg.member
        if elapsed_ms is not None:
            out.append(
                (
                    "AgentRingNoAnswer",
                    ev.agent_event(caller, leg.one, q.name, m.interface, m.name)
                    + [("RingTime", str(elapsed_ms))],
                )
            )
            out.append(("DialEnd", ev.dial(leg.one, caller, ("DialStatus", "NOANSWER"))))
        out.append(("DialEnd", ev.dial(leg.one, caller, ("DialStatus", "CANCEL"))))
        out.append(("HangupRequest", ev.hangup_request(leg.two, 0)))
        out.append(("Hangup", ev.hangup(leg.one, 0)))
        out.append(("SoftHangupRequest", ev.hangup_request(leg.two, 16)))
        self._release_member(q, m, out)
        out.append(("Hangup", ev.hangup(leg.two, 0)))
        out.append(("DeviceStateChange", ev.device_state(m.state_interface, "NOT_INUSE")))
        self._kill(leg.one)
        self._kill(leg.two)
        call.leg = None

    def _agent_no_answer(self, call: Call, leg: AgentLeg, ring_limit: float) -> None:
        """The ring ran out (app_queue reports its ``to`` as RingTime: 15000, or 1000, 4000 ...
        when the caller's time cut it, 16-load, 11b); the caller leaves if its time is up, else
        looks again after ``retry``."""
        if call.leg is not leg or call.talking or call.stage is not Stage.QUEUED:
            return
        out: Out = []
        self._drop_leg(call, leg, out, round(ring_limit * 1000))
        self.emit_all(out)
        if self._queue_expired(call):
            self._queue_timeout(call)
            return
        self._later(call, self.model.queue.retry, lambda: self._queue_tick(call))

    def _agent_answers(self, call: Call, leg: AgentLeg) -> None:
        if call.leg is not leg or call.stage is not Stage.QUEUED:
            return
        for t in leg.timers:
            t.cancel()
        leg.timers.clear()
        q, m = leg.queue, leg.member
        caller, a1, a2 = call.one, leg.one, leg.two
        now = self.sched.now()
        out: Out = []
        a2.priority = 4
        out.append(("Newexten", ev.newexten(a2, "Answer", "")))
        a2.state = UP
        out.append(("Newstate", ev.channel_event(a2)))
        a1.state = UP
        out.append(("Newstate", ev.channel_event(a1)))
        out.append(("DialEnd", ev.dial(a1, caller, ("DialStatus", "ANSWER"))))
        out.append(("MusicOnHoldStop", ev.channel_event(caller)))
        position = q.position(call)
        self._leave_queue(call, q, position, out)
        hold = now - call.join_time
        out.append(("VarSet", ev.varset(caller, "QUEUEWAIT", str(_whole(hold)))))
        out.append(("VarSet", ev.varset(caller, "QUEUEWAIT_MS", str(_whole(hold) * 1000))))
        out.append(
            (
                "AgentConnect",
                ev.agent_event(caller, a1, q.name, m.interface, m.name)
                + [
                    ("HoldTime", str(_whole(hold))),
                    ("RingTime", str(_whole(now - leg.ring_start))),
                ],
            )
        )
        self._bridge_seq += 1
        bridge = (
            f"{self.rng.getrandbits(32):08x}-{self._bridge_seq & 0xFFFF:04x}-4000-8000-"
            f"{self.rng.getrandbits(48):012x}"
        )
        leg.bridge_id = bridge
        out.append(("BridgeCreate", [ev.CALL, *ev.bridge_block(bridge, 0)]))
        out.extend([("DeviceStateChange", ev.device_state(m.state_interface, "INUSE"))] * 2)
        out.append(("BridgeEnter", ev.bridge_channel(bridge, 1, a1)))
        out.append(("BridgeEnter", ev.bridge_channel(bridge, 2, caller)))
        out.append(("VarSet", ev.varset(a1, "BRIDGEPEER", caller.name)))
        out.append(("VarSet", ev.varset(caller, "BRIDGEPEER", a1.name)))
        self.emit_all(out)
        call.talking = True
        call.stage = Stage.TALKING
        leg.connect_time = now
        q.stats.holdtime_total += hold
        a2.priority = 5
        leg.timers.append(
            self.sched.call_later(
                0.5,
                lambda: (
                    self._emit("Newexten", ev.newexten(a2, "Wait", "600")) if a2.alive else None
                ),
            )
        )
        max_talk = self.model.agents.profile(m.interface).max_talk
        leg.timers.append(self.sched.call_later(max_talk, lambda: self._agent_hangs_up(call, leg)))

    def _queue_timeout(self, call: Call) -> None:
        if call.stage is not Stage.QUEUED:
            return
        q = call.queue
        assert q is not None
        now = self.sched.now()
        one = call.one
        out: Out = []
        hold = now - call.join_time
        waited = self.wall_second() - call.queue_start  # app_queue: time(NULL) - qe->start
        out.append(("VarSet", ev.varset(one, "ABANDONED", "TRUE")))
        position = q.position(call)
        out.append(("QueueCallerAbandon", self._abandon(call, q, position, waited)))
        self._wait_vars(call, waited, out)
        out.append(("MusicOnHoldStop", ev.channel_event(one)))
        q.stats.abandoned += 1
        q.stats.holdtime_total += hold
        self._leave_queue(call, q, position, out)
        out.append(("VarSet", ev.varset(one, "QUEUESTATUS", "TIMEOUT")))
        call.queue = None
        self._queue_gave_up(call, "TIMEOUT", out)

    def _queue_gave_up(self, call: Call, status: str, out: Out) -> None:
        """[dialer-connect] after Queue() returned without an agent: DialerAbandon and the
        information message (priorities of asterisk-test's extensions.conf)."""
        one = call.one
        call.stage = Stage.DIALPLAN
        one.priority = 6
        out.append(("Newexten", ev.newexten(one, "NoOp", f"dialer: QUEUESTATUS={status}")))
        one.priority = 7
        out.append(("Newexten", ev.newexten(one, "GotoIf", "0?done")))
        one.priority = 8
        out.append(("Newexten", ev.newexten(one, "GotoIf", "0?done")))
        one.priority = 9
        out.append(("Newexten", ev.newexten(one, "UserEvent", f"DialerAbandon,Status: {status}")))
        out.append(
            (
                "UserEvent",
                [ev.USER, *one.block(), ("UserEvent", "DialerAbandon"), ("Status", status)],
            )
        )
        one.priority = 10
        message = call.var("DIALER_INFO_MESSAGE", "") or "all-circuits-busy-now"
        out.append(("Newexten", ev.newexten(one, "Playback", message)))
        self._flush_rr(call, out)
        self.emit_all(out)
        self._later(call, self.model.queue.information_message, lambda: self._message_done(call))

    def _wait_vars(self, call: Call, hold: float, out: Out) -> None:
        one = call.one
        dialed = self.sched.now() - one.created  # the channel's age, as app_queue sets it
        waited = _whole(hold)  # time_t arithmetic: QUEUEWAIT_MS is whole seconds too
        out.append(("VarSet", ev.varset(one, "QUEUEWAIT", str(waited))))
        out.append(("VarSet", ev.varset(one, "QUEUEWAIT_MS", str(waited * 1000))))
        out.append(("VarSet", ev.varset(one, "DIALEDTIME", str(int(dialed)))))
        out.append(("VarSet", ev.varset(one, "DIALEDTIME_MS", str(int(dialed * 1000)))))
        out.append(("VarSet", ev.varset(one, "ANSWEREDTIME", "0")))
        out.append(("VarSet", ev.varset(one, "ANSWEREDTIME_MS", "0")))

    def _leave_queue(self, call: Call, q: Queue, position: int, out: Out) -> None:
        """app_queue's leave, the same whether an agent took the caller or not."""
        q.callers.remove(call)
        self._queue_state(q, out)
        out.append(
            (
                "QueueCallerLeave",
                [
                    ev.AGENT,
                    *call.one.block(),
                    ("Queue", q.name),
                    ("Position", str(position)),
                    ("Count", str(len(q.callers))),
                ],
            )
        )
        out.append(("VarSet", ev.varset(call.one, "QUEUEPOSITION", str(position))))

    def _abandon(self, call: Call, q: Queue, position: int, hold: float) -> Headers:
        return [
            ev.AGENT,
            *call.one.block(),
            ("Queue", q.name),
            ("Position", str(position)),
            ("OriginalPosition", str(call.original_position)),
            ("HoldTime", str(_whole(hold))),
        ]

    def _message_done(self, call: Call) -> None:
        if call.stage is not Stage.DIALPLAN:
            return
        one = call.one
        out: Out = [("VarSet", ev.varset(one, "PLAYBACKSTATUS", "SUCCESS"))]
        one.priority = 11
        out.append(("Newexten", ev.newexten(one, "Hangup", "")))
        self._dialplan_hangup(call, out)

    # ------------------------------------------------------------------ hang-ups
    def _callee_hangs_up(self, call: Call) -> None:
        """The ;2 half's dialplan reaches Hangup(): normal clearing from the callee side."""
        if call.stage in (Stage.DONE, Stage.DIALING):
            return
        one, two = call.one, call.two
        out: Out = []
        if two.application == "Playback":
            out.append(("VarSet", ev.varset(two, "PLAYBACKSTATUS", "SUCCESS")))
        two.priority += 1
        out.append(("Newexten", ev.newexten(two, "Hangup", "")))
        out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
        out.append(("HangupRequest", ev.hangup_request(one, 16)))
        h2: Out = [
            ("Hangup", ev.hangup(two, 16)),
            self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"),
        ]
        if call.stage is Stage.TALKING and call.leg is not None:
            self._end_talk(call, call.leg, out, h2, reason="caller")
            return
        if call.stage is Stage.QUEUED:
            out.append(h2[0])
        else:
            out.extend(h2)
        if call.stage is Stage.QUEUED:
            q = call.queue
            assert q is not None
            now = self.sched.now()
            if call.leg is not None:
                self._drop_leg(call, call.leg, out, None)
            out.append(("MusicOnHoldStop", ev.channel_event(one)))
            position = q.position(call)
            hold = now - call.join_time
            self._wait_vars(call, hold, out)
            out.append(("VarSet", ev.varset(one, "ABANDONED", "TRUE")))
            out.append(("QueueCallerAbandon", self._abandon(call, q, position, hold)))
            q.stats.abandoned += 1
            q.stats.holdtime_total += hold
            self._leave_queue(call, q, position, out)
            out.append(h2[1])
        self._flush_rr(call, out)
        out.append(("SoftHangupRequest", ev.hangup_request(one, 16)))
        out.append(("Hangup", ev.hangup(one, 16)))
        out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        self.emit_all(out)
        self._finish(call)

    def _agent_hangs_up(self, call: Call, leg: AgentLeg) -> None:
        """The softphone ends the call (sim-agents Wait(600) ran out): Reason agent."""
        if call.leg is not leg or call.stage is not Stage.TALKING:
            return
        self._end_talk(call, leg, [], [], reason="agent")

    def _end_talk(self, call: Call, leg: AgentLeg, out: Out, h2: Out, reason: str) -> None:
        one, two = call.one, call.two
        q, m = leg.queue, leg.member
        a1, a2 = leg.one, leg.two
        now = self.sched.now()
        for t in leg.timers:
            t.cancel()
        talk = now - leg.connect_time
        hold = leg.connect_time - call.join_time
        bridge = leg.bridge_id
        out.append(("VarSet", ev.varset(one, "BRIDGEPEER", "")))
        out.append(("VarSet", ev.varset(a1, "BRIDGEPEER", "")))
        out.append(("BridgeLeave", ev.bridge_channel(bridge, 1, one)))
        out.append(("VarSet", ev.varset(one, "ANSWEREDTIME", str(int(talk)))))
        out.append(("VarSet", ev.varset(one, "ANSWEREDTIME_MS", str(int(talk * 1000)))))
        dialed = now - one.created
        out.append(("VarSet", ev.varset(one, "DIALEDTIME", str(int(dialed)))))
        out.append(("VarSet", ev.varset(one, "DIALEDTIME_MS", str(int(dialed * 1000)))))
        out.append(("SoftHangupRequest", ev.hangup_request(one, 16)))
        complete = (
            "AgentComplete",
            ev.agent_event(one, a1, q.name, m.interface, m.name)
            + [
                ("HoldTime", str(_whole(hold))),
                ("TalkTime", str(_whole(talk))),
                ("Reason", reason),
            ],
        )
        # app_queue builds AgentComplete from the channels' latest snapshots after the hang-up:
        # when both are already destroyed it comes last, with none of their fields.
        late = self.rng.random() < BARE_AGENT_COMPLETE_SHARE
        if late:
            bare: Headers = [ev.AGENT] + [
                (k, v)
                for k, v in complete[1]
                if k in ("Queue", "Interface", "MemberName", "HoldTime", "TalkTime", "Reason")
            ]
            out.extend(h2)
        elif self.rng.random() < 0.5:  # AgentComplete vs Hangup ;2: either first (04, 15)
            out.extend(h2)
            out.append(complete)
        else:
            out.append(complete)
            out.extend(h2)
        out.append(("BridgeLeave", ev.bridge_channel(bridge, 0, a1)))
        out.append(("HangupRequest", ev.hangup_request(a2, 16)))
        out.append(("Hangup", ev.hangup(a1, 16)))
        out.append(("DeviceStateChange", ev.device_state(m.state_interface, "NOT_INUSE")))
        m.calls_taken += 1
        m.last_call = int(self.epoch())
        # app_queue: rung again once time(NULL) - wrapuptime >= lastcall, both whole seconds of
        # the wall clock, so the wrap-up ends up to 1 s early (17-penalty: 4.2 s of 5).
        m.wrapup_until = now + self.model.queue.wrapuptime - self.epoch() % 1.0
        q.stats.completed += 1
        q.stats.talktime_total += talk
        self._release_member(q, m, out)
        out.append(("BridgeDestroy", [ev.CALL, *ev.bridge_block(bridge, 0)]))
        if reason == "agent":
            out.append(("HangupRequest", ev.hangup_request(two, 16)))
            out.append(("Hangup", ev.hangup(one, 16)))
            out.append(("SoftHangupRequest", ev.hangup_request(two, 16)))
            out.append(("Hangup", ev.hangup(two, 16)))
            out.extend([self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE")] * 2)
        else:
            out.append(("Hangup", ev.hangup(one, 16)))
            out.append(self._dev(call.number, CALLEE_CONTEXT, "NOT_INUSE"))
        out.append(("SoftHangupRequest", ev.hangup_request(a2, 16)))
        out.append(("Hangup", ev.hangup(a2, 16)))
        out.append(("DeviceStateChange", ev.device_state(m.state_interface, "NOT_INUSE")))
        if late:
            out.append(("AgentComplete", bare))
        self.emit_all(out)
        self._kill(a1)
        self._kill(a2)
        call.leg = None
        self._finish(call)

    # ------------------------------------------------------------------ restart
    def forget_everything(self) -> None:
        """What ``core restart now`` leaves: no channels, no calls, no runtime members."""
        for call in list(self.calls.values()):
            call.cancel_timers()
            if call.leg is not None:
                for t in call.leg.timers:
                    t.cancel()
        self.calls.clear()
        self.channels.clear()
        for q in self.queues.values():
            q.members.clear()
            q.callers.clear()
            q.rrpos = 0
            q.stats = QueueStats()
        self._qdev_cache.clear()
