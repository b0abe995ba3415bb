"""One campaign's runner: schedule, pacing, leasing, originating, outcomes, dispositions.

Everything that changes a campaign's state runs in the runner's own loop, one item at a time:
AMI updates and facade commands (dispositions, preview answers) are queued in its inbox and the
loop wakes on each of them and on the pacing tick. So a pacing decision always sees the state
after the last event (immediate re-decision on agent ready, answer, hang-up, pause), and no two
coroutines ever change one call at once.

A call's life: lease the contact (calling-hours guard and do-not-call in the lease query) →
check the calling hours and the do-not-call list again → write the attempt as started → send
the Originate once → track progress → on the outcome, hand the attempt to the taskflow and write
both in one transaction (``Store.apply_transition``). A connected call waits for the agent's
disposition until the campaign's wrap-up limit, then gets the campaign's default. A pacing
decision's calls take those steps as one batch (:meth:`CampaignRunner._dial_many`): one
do-not-call query, one insert of every attempt, then all Originates at once.

The runner object outlives a crash of its loop: the engine restarts :meth:`CampaignRunner.run`
with backoff and the calls in flight, the builder's estimates and the windows carry on.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from dialerd.ami import (
    AgentChange,
    AgentStatus,
    AmiAlreadyOriginated,
    AmiError,
    AmiNotReady,
    AsteriskServer,
    CallOutcome,
    CallPhase,
    CallProgress,
    CallTimeline,
    LinkState,
    LinkStateChange,
    OriginateRequest,
    ServerUpdate,
)
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import Transition
from dialerd.domain.clock import Clock
from dialerd.domain.compliance import tighten
from dialerd.domain.enums import AgentState, CallResult, DialMode, Status, StatusDetail
from dialerd.domain.model import Agent, Attempt, Campaign, Contact, Task, TaskflowRule
from dialerd.engine.errors import EngineNotRunning, LeadTaken, NoSuchCall, NoSuchPreview
from dialerd.engine.events import (
    AttemptFinished,
    CallProgressed,
    CampaignFigures,
    CampaignSwitched,
    EngineEvent,
    PacingDecision,
    PreviewOffered,
    ScreenPop,
    ServerPacing,
    WindowFigures,
)
from dialerd.engine.history import seed_estimates
from dialerd.engine.journal import JournalEntry, QueuedDisposition
from dialerd.engine.outage import StoreOutage
from dialerd.engine.queues import own_queue
from dialerd.engine.schedule import schedule_open
from dialerd.engine.settings import EngineSettings
from dialerd.engine.windows import window_specs, window_start
from dialerd.pacing import (
    PacingSettings,
    Part,
    Snapshot,
    SnapshotBuilder,
    WindowSpec,
    decide,
    mode_used,
    ring_timeout,
)
from dialerd.store import Store, agentwork
from dialerd.store.callbacks import due_callbacks
from dialerd.store.errors import NotFound, StaleContact, StoreUnavailable
from dialerd.taskflow.call import Disposition, call_outcome
from dialerd.taskflow.calling_hours import inside, lease_guard
from dialerd.taskflow.decide import Outcome, transition_for

log = structlog.get_logger(__name__)

#: Largest line count handed to pacing when nothing limits the lines.
_UNLIMITED = 1_000_000
#: How long a call the tracker no longer knows may wait for its outcome to arrive.
_MISSING_GRACE = 15.0
#: Originates of one batch awaiting Asterisk's reply at once (all are written at once anyway:
#: Asterisk answers a manager session's actions in order).
_ORIGINATE_CONCURRENCY = 64
#: Inbox items handled between two pacing decisions.
_INBOX_SLICE = 50
#: How often a campaign whose last lease found no contact looks again, while no pacing decision
#: of its own leases (a lease of one contact, given back at once). Until one is found it counts
#: as not dialing and leaves the agents it shares to the other campaigns
#: (:mod:`dialerd.engine.pools`); contacts imported meanwhile bring it back within this time.
NO_CONTACTS_RECHECK_S = 5.0

#: Agent states of a team member who takes calls now or after the current one.
_ACTIVE = frozenset({AgentState.READY, AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP})

#: QueuePause reason of an agent held out of the campaign queue while their callback rings.
CALLBACK_HOLD_REASON = "dialerd: personal callback"


class RunnerHost(Protocol):
    """What a runner needs from the engine that owns it."""

    def emit(self, event: EngineEvent) -> None: ...

    def register_attempt(self, attempt_id: str, runner: CampaignRunner) -> None: ...

    def unregister_attempt(self, attempt_id: str) -> None: ...

    def journal_outcomes(self, runner: CampaignRunner, entries: list[JournalEntry]) -> None:
        """Outcomes the store could not take at a stop: into the daemon's journal."""
        ...

    def take_recovered_disposition(self, attempt_id: str) -> QueuedDisposition | None:
        """The agent's disposition of a call a crash lost, journaled when it was taken."""
        ...

    def agent_by_interface(self, interface: str) -> Agent | None: ...

    def paces_for(self, status: AgentStatus, runner: CampaignRunner) -> bool:
        """Whether the runner counts the agent in its pacing: an agent in several campaigns'
        queues is in one campaign's pool at a time (:mod:`dialerd.engine.pools`)."""
        ...

    def claim_agent(self, status: AgentStatus, runner: CampaignRunner) -> None: ...

    @property
    def dialing_hold(self) -> str | None:
        """Why no campaign may place new calls now (None: they may)."""
        ...

    def queue_missing(self, server: str, queue: str) -> bool:
        """Whether ``server`` lacks ``queue``: a call sent into it would be abandoned at once
        (:mod:`dialerd.engine.queues`)."""
        ...


@dataclass(slots=True)
class _Call:
    attempt_id: str
    contact: Contact
    phone: str
    server: str
    originated_at: datetime
    preview_agent: str | None = None
    phase: CallPhase = CallPhase.DIALING
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    connected_at: datetime | None = None
    agent: str | None = None
    """Interface of the agent the call was connected to."""
    outcome: CallOutcome | None = None
    result: CallResult | None = None
    """Set once the call is over and its result is known (finishing may still be pending)."""
    disposition: Disposition | None = None
    disposition_by_agent: bool = False
    wrapup_deadline: float | None = None
    note: str | None = None
    missing_since: float | None = None
    """When the call tracker was first seen not to know this call in flight any more."""
    writing: bool = False
    """Its outcome is being written (``_finish``): a disposition arriving now is too late."""
    connect_heard: datetime | None = None
    """When Asterisk said the call was connected to an agent (``agent``); the loop may not have
    taken the event in yet: while the runner waits for the database, its inbox waits too. The
    agent's disposition is taken on such a call all the same (``accept_disposition``)."""

    @property
    def in_flight(self) -> bool:
        return self.result is None

    def heard(self, update: CallProgress | CallOutcome) -> None:
        """An event of this call, as it reaches the inbox: whether, and to whom, it was
        connected is known from here on, before the loop takes the event in. Only fields the
        event itself sets when taken in (``agent`` to the same value), so nothing the loop does
        in between sees another state of the call."""
        at: datetime | None
        if isinstance(update, CallProgress):
            connected, at = update.phase is CallPhase.CONNECTED, update.at
        else:
            connected = (
                update.result is CallResult.CONNECTED or update.timeline.connected_at is not None
            )
            at = update.timeline.connected_at or update.timeline.hungup_at
        if not connected:
            return
        if self.connect_heard is None:
            self.connect_heard = at or self.originated_at
        if self.agent is None and update.agent is not None:
            self.agent = update.agent

    @property
    def awaiting_disposition(self) -> bool:
        return self.result is CallResult.CONNECTED and self.disposition is None


@dataclass(frozen=True, slots=True)
class _Decided:
    """A finished call's outcome as decided (:meth:`CampaignRunner._decide`), not written yet."""

    attempt: Attempt
    outcome: Outcome
    transition: Transition
    agent_name: str | None


@dataclass(slots=True)
class _Preview:
    contact: Contact
    interface: str
    agent: str
    auto_accept_at: float | None


@dataclass(slots=True)
class _Dial:
    """One call of a batch, prepared before anything of the batch is written or sent."""

    call: _Call
    attempt: Attempt
    request: OriginateRequest
    server: AsteriskServer
    error: Exception | None = None


async def _originate(d: _Dial, logger: Any) -> Exception | None:
    """One Originate; its error (if any) is returned, also kept on ``d``. ``logger`` is the
    runner's (bound to its campaign)."""
    try:
        await d.server.originate(d.request)
    except AmiError as exc:
        d.error = exc
    except Exception as exc:  # unexpected: treated as uncertain (the outcome still comes)
        logger.exception("originate failed", attempt=d.call.attempt_id, contact=d.call.contact.id)
        d.error = exc
    return d.error


class CampaignRunner:
    """The runner of one campaign. Created and driven by :class:`dialerd.engine.Engine`."""

    def __init__(
        self,
        campaign: Campaign,
        *,
        store: Store,
        servers: Mapping[str, AsteriskServer],
        clock: Clock,
        settings: EngineSettings,
        host: RunnerHost,
    ) -> None:
        self._store = store
        self._servers = servers
        self._clock = clock
        self._settings = settings
        self._host = host
        self._log = log.bind(campaign=campaign.name)
        self._tightened: tuple[str, ...] = ()
        self.campaign = campaign
        self.spec = self._effective_spec(campaign)
        self.tasks: dict[int, Task] = {}
        self.task_ids: dict[str, int] = {}
        self.rules: list[TaskflowRule] = []
        self.calls: dict[str, _Call] = {}
        self.agents: dict[str, AgentStatus] = {}
        self.agent_server: dict[str, str] = {}
        self._pooled: set[str] = set()
        """Agents this campaign paces for (the others of ``agents`` are in another's pool)."""
        self.shared_agents = 0
        """Active agents of other campaigns' pools in this campaign's queue (``_pacing_view``)."""
        self._unknown_servers: set[str] = {n for n, s in servers.items() if not s.ready}
        """Servers whose link is not ready as the inbox tells it (see ``_servers_not_known``).
        Kept from the updates in the inbox, so a server counts again only after the agent
        states of its resync (which come before its ``ready``) have been taken in."""
        self._own_queue_said: set[str] = set()
        """Agents' own queues found missing, said in the log once each."""
        self.previews: dict[str, _Preview] = {}
        self.active: bool | None = None
        self.last_decision: PacingDecision | None = None
        self.state = "starting"
        self.restarts = 0
        self.last_error: str | None = None
        self.pass_at = clock.monotonic()
        """When the loop last completed a pass (engine clock; see ``CampaignView``)."""
        self.outage = StoreOutage(self._log, "campaign runner")
        """The database is away: the runner waits (see ``Engine._keep_running``) and keeps
        its calls and their unwritten outcomes, written by ``_scan_calls`` once it is back."""
        self._inbox: deque[tuple[str, Any, Any]] = deque()
        self._wake = asyncio.Event()
        self._tick_due = True
        self._stop_at: float | None = None
        self._empty_until = -math.inf
        self._no_contacts: bool | None = None
        """The last lease found no contact (None: no lease yet); see ``NO_CONTACTS_RECHECK_S``."""
        self._recheck_at = -math.inf
        self._zones: set[str | None] = set()
        self._zones_until = -math.inf
        self._renew_at = -math.inf
        self._refresh_at = -math.inf
        self._caller_id_index = 0
        self._spec_changed = False
        self._window_names = list(self.spec.dial.abandonment_windows)
        self.builder = SnapshotBuilder(self._pacing_settings(), windows=self._window_specs())
        self._windows_restored = False
        self._seeded = False
        self._callbacks_until = -math.inf
        self._callbacks_ready: frozenset[str] = frozenset()
        self.waiting_callbacks: dict[str, int] = {}
        """Agent name -> personal callbacks due and not yet dialed (e.g. the agent is away)."""
        self.callback_holds: dict[str, str | None] = {}
        """Interface -> attempt id of agents paused in the campaign queue for their callback
        (None: held, not dialed yet)."""
        self._holds_retry_at = -math.inf
        self._scan_at = -math.inf
        self._sends: set[asyncio.Task[None]] = set()
        """Pool batches whose Originates await Asterisk's replies."""
        self._sending: dict[str, int] = {}
        """Server name -> calls of those batches (see ``_room``)."""

    # -- configuration ------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.campaign.name

    @property
    def queue(self) -> str:
        return self.spec.queue_name

    @property
    def wrapup_seconds(self) -> float:
        """The campaign's wrap-up limit, or the daemon's ``[engine] wrapup`` when it sets none."""
        limit = self.spec.wrapup.limit
        return self._settings.wrapup_seconds if limit is None else limit.total_seconds()

    def preview_queue(self, agent: str) -> str:
        """Preview calls go to a queue of one: the agent who accepted the contact."""
        return own_queue(self.queue, agent)

    def _pacing_settings(self) -> PacingSettings:
        d = self.spec.dial
        return PacingSettings(
            dial_mode=d.mode,
            calls_per_ready_agent=d.calls_per_ready_agent,
            calls_per_wrapup_agent=d.calls_per_wrapup_agent,
            abandonment_target=min(d.abandonment_target, 0.999),
            min_agents_predictive=d.min_agents_predictive,
            connect_limit_s=self.spec.connect_limit.total_seconds(),
            ring_timeout_s=self.spec.ring_timeout.total_seconds(),
            min_ring_s=d.min_ring.total_seconds(),
            amd_delay_s=self._settings.amd_delay_seconds if self.spec.amd else 0.0,
        )

    def _local_offset(self, now: datetime) -> timedelta | None:
        return now.astimezone(ZoneInfo(self.spec.timezone)).utcoffset()

    def _window_specs(self) -> tuple[WindowSpec, ...]:
        self._windows_offset = self._local_offset(self._clock.now())
        return window_specs(
            list(self.spec.dial.abandonment_windows),
            self.spec.timezone,
            self._clock.now(),
            self._clock.monotonic(),
        )

    def _effective_spec(self, campaign: Campaign) -> CampaignSpec:
        """The stored definition held to the daemon's compliance floor.

        Whatever way the campaign was stored (a campaign file, the API, the command line), a
        laxer rule than the daemon's is replaced here, and a warning says what, once for each
        change of the outcome.
        """
        spec = CampaignSpec.model_validate(campaign.settings)
        floor = self._settings.compliance
        if floor is None:
            return spec
        spec, notes = tighten(spec, floor)
        if tuple(notes) != self._tightened:
            self._tightened = tuple(notes)
            if notes:
                self._log.warning("campaign held to the daemon's [compliance] rules", changes=notes)
        return spec

    @property
    def tightened(self) -> tuple[str, ...]:
        """What the daemon's compliance floor changed in the stored definition."""
        return self._tightened

    def use_settings(self, settings: EngineSettings) -> None:
        """New daemon-wide rules (compliance floor, retry, wrap-up); applied from the next
        :meth:`update_campaign`."""
        self._settings = settings

    def update_campaign(self, campaign: Campaign) -> None:
        """A reload: the new definition applies from the next decision; calls keep running."""
        self.campaign = campaign
        self.spec = self._effective_spec(campaign)
        self._spec_changed = True
        self.wake()

    async def _load(self) -> None:
        tasks = await self._store.tasks(self.campaign.id)
        self.tasks = {t.id: t for t in tasks}
        self.task_ids = {t.name: t.id for t in tasks}
        self.rules = await self._store.rules(self.campaign.id)
        self.builder.settings = self._pacing_settings()
        if self._window_names != list(self.spec.dial.abandonment_windows):
            self._rebuild_builder()
        self._refresh_at = -math.inf
        self._zones_until = -math.inf
        self._spec_changed = False
        if not self._seeded:
            self._seeded = True
            used = seed_estimates(
                self.builder.estimates, await self._store.recent_attempts(self.campaign.id)
            )
            if used:
                self.builder.estimates_changed()
                self._log.info("pacing estimates seeded from history", attempts=used)
        for server in self._servers.values():
            server.agents.wrapup_by_queue[self.queue] = self.wrapup_seconds
            for status in server.agents.snapshot().values():
                self._on_agent(server.name, status, None)

    def _rebuild_builder(self) -> None:
        old = self.builder
        self._window_names = list(self.spec.dial.abandonment_windows)
        self.builder = SnapshotBuilder(
            self._pacing_settings(), estimates=old.estimates, windows=self._window_specs()
        )
        mono = self._clock.monotonic()
        for iface, st in self.agents.items():
            pooled = iface in self._pooled
            self.builder.agent_state(iface, st.state if pooled else AgentState.OFFLINE, mono)
        for call in self.calls.values():
            if call.in_flight and call.connected_at is None:
                self.builder.call_placed(call.attempt_id, mono)
        self._windows_restored = False

    # -- inbox ----------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def deliver(self, server: str, update: ServerUpdate) -> None:
        """An AMI update for this campaign (called by the engine's event pump)."""
        if isinstance(update, CallProgress | CallOutcome):
            call = self.calls.get(update.attempt_id)
            if call is not None:
                call.heard(update)
        self._inbox.append(("update", server, update))
        self._wake.set()

    def submit(self, fn: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        """Run ``fn`` in the runner's loop, between two events; the future has its result."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inbox.append(("command", fn, fut))
        self._wake.set()
        return fut

    @property
    def stop_deadline(self) -> float | None:
        return self._stop_at

    @property
    def dialing(self) -> bool:
        """Active, not stopping, and its last lease found contacts: a campaign with nothing to
        dial leaves the agents it shares to the others until a lease finds one again. Not a
        hold for some seconds after an empty lease: taking agents back when it ends, to find out,
        kept them out of the others' pacing through a talk and wrap-up each time (with no ready
        agent in its pool the campaign decides no call, so leases nothing to find it empty)."""
        return self.active is not False and self._stop_at is None and self._no_contacts is not True

    def request_stop(self, deadline: float) -> None:
        """Drain: no new calls; calls in progress may finish until ``deadline`` (monotonic)."""
        self._stop_at = deadline
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Run until a requested stop has drained. Raises on a crash (the engine restarts it)."""
        self.state = "running"
        await self._load()
        await self._recover_lost_attempts()
        await self._release_stale_holds()
        async with asyncio.TaskGroup() as tg:
            ticker = tg.create_task(self._ticker(), name=f"tick-{self.name}")
            try:
                while True:
                    await self._wake.wait()
                    self._wake.clear()
                    await self._process_inbox()
                    if self._spec_changed:
                        await self._load()
                    if self._stop_at is not None and await self._drained():
                        break
                    await self._housekeeping()
                    await self._pace()
                    self.pass_at = self._clock.monotonic()
                    self.outage.ok()
                    if self._tick_due:
                        self._tick_due = False
                        self._host.emit(self.figures())
            finally:
                ticker.cancel()
        self.state = "stopped"
        while self._inbox:
            kind, _, fut = self._inbox.popleft()
            if kind == "command" and not fut.done():
                fut.set_exception(EngineNotRunning(f"campaign {self.name!r} has stopped"))

    async def _ticker(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_seconds)
            self._tick_due = True
            self._wake.set()

    async def _process_inbox(self) -> None:
        # A slice at a time: calls placed together end together (a ring timeout), and a burst of
        # outcomes, each written in its own transaction, must not hold pacing off for its whole
        # length; the rest waits for the next pass, after housekeeping and a pacing decision.
        budget = _INBOX_SLICE
        while self._inbox:
            budget -= 1
            if budget < 0:
                self._wake.set()
                return
            kind, a, b = self._inbox.popleft()
            if kind == "command":
                fut: asyncio.Future[Any] = b
                if fut.done():
                    continue
                try:
                    fut.set_result(await a())
                except asyncio.CancelledError:
                    fut.cancel()
                    raise
                except Exception as exc:  # the caller gets the error, the runner goes on
                    fut.set_exception(exc)
                continue
            if kind == "sent":
                await self._sent(a, *b, placed=True)
                continue
            update = b
            if isinstance(update, CallProgress):
                await self._on_progress(a, update)
            elif isinstance(update, CallOutcome):
                await self._on_outcome(update)
            elif isinstance(update, AgentChange):
                self._on_agent(a, update.status, update.previous)
            elif isinstance(update, LinkStateChange):
                if update.state is LinkState.READY:
                    self._unknown_servers.discard(a)
                else:
                    self._unknown_servers.add(a)

    # -- agents -----------------------------------------------------------------------------------

    def is_member(self, status: AgentStatus) -> bool:
        """The agent is in this campaign's queue or in their own queue of it."""
        prefix = self.queue + "."
        return any(q == self.queue or q.startswith(prefix) for q in status.queues)

    def _on_agent(self, server: str, status: AgentStatus, previous: AgentState | None) -> None:
        iface = status.interface
        mono = self._clock.monotonic()
        known = self.agents.get(iface)
        if self.is_member(status):
            self.agents[iface] = status
            pooled = self._host.paces_for(status, self)
            if (
                known is not None
                and known.state is status.state
                and known.since == status.since
                and known.wrapup_until == status.wrapup_until
                and pooled is (iface in self._pooled)
            ):
                return  # a re-scan (reload, restart): keep the builder's time in state
            # (A new wrap-up end is no re-scan: an AgentComplete after the agent leg's Hangup
            # replaces the server's default wrap-up with the queue's.)
            self.agent_server[iface] = server
            state = status.state if pooled else AgentState.OFFLINE
        elif iface in self.agents:
            del self.agents[iface]
            pooled, state = False, AgentState.OFFLINE
        else:
            return
        if pooled:
            self._pooled.add(iface)
        else:
            self._pooled.discard(iface)
        wrap: float | None = None
        if state is AgentState.WRAPUP and status.wrapup_until is not None:
            wrap = max(0.0, (status.wrapup_until - self._clock.now()).total_seconds())
        self.builder.agent_state(iface, state, mono, wrap)

    def agents_by_state(self) -> dict[str, int]:
        counts = {s.value: 0 for s in AgentState}
        for st in self.agents.values():
            counts[st.state.value] += 1
        return counts

    # -- calls ------------------------------------------------------------------------------------

    async def _on_progress(self, server: str, p: CallProgress) -> None:
        call = self.calls.get(p.attempt_id)
        if call is None:
            return
        mono = self._clock.monotonic()
        self._note_progress(call, p)
        if p.phase is CallPhase.ANSWERED:
            self.builder.call_answered(call.attempt_id, mono)
        elif p.phase is CallPhase.QUEUED:
            if self.spec.amd:
                self.builder.call_screened(call.attempt_id, mono, live=True)
        elif p.phase is CallPhase.CONNECTED:
            self.builder.call_connected(call.attempt_id, mono, live=True)
        agent = self._agent_name(call.agent) if p.phase is CallPhase.CONNECTED else None
        self._host.emit(
            CallProgressed(
                self.name, call.attempt_id, call.contact.id, p.phase.value, p.at, server, agent
            )
        )
        if p.phase is CallPhase.CONNECTED and call.agent is not None:
            if call.disposition_by_agent:
                # taken in late (the runner waited for the database) after the agent gave
                # the disposition: the agent is done with it, maybe on the next call by now
                return
            await self._screen_pop(call)

    @staticmethod
    def _note_progress(call: _Call, p: CallProgress) -> None:
        """The call's timeline after a progress event (what is written with its outcome)."""
        call.phase = p.phase
        if p.phase is CallPhase.RINGING:
            call.ringing_at = p.at
        elif p.phase is CallPhase.ANSWERED:
            call.answered_at = p.at
        elif p.phase is CallPhase.CONNECTED:
            call.connected_at = p.at
            call.agent = p.agent

    @staticmethod
    def _note_outcome(call: _Call, o: CallOutcome) -> bool:
        """The tracker's outcome kept on the call; whether the call was connected to an
        agent (then its result is ``connected``, whatever came after)."""
        call.outcome = o
        if call.agent is None and o.agent is not None:
            call.agent = o.agent
        return o.result is CallResult.CONNECTED or (
            call.connected_at is not None or o.timeline.connected_at is not None
        )

    async def _screen_pop(self, call: _Call) -> None:
        assert call.agent is not None
        try:
            contact, history, attempts = await self._store.contact_record(call.contact.id)
        except NotFound:
            return
        self._host.emit(
            ScreenPop(
                self.name,
                self._agent_name(call.agent) or call.agent,
                call.agent,
                call.attempt_id,
                contact,
                tuple(history),
                tuple(attempts),
                call.connected_at,
            )
        )

    async def _on_outcome(self, o: CallOutcome) -> None:
        call = self.calls.get(o.attempt_id)
        if call is None:
            return
        mono = self._clock.monotonic()
        if self._note_outcome(call, o):
            if call.connected_at is None:
                call.connected_at = o.timeline.connected_at or self._clock.now()
                self.builder.call_connected(call.attempt_id, mono, live=True)
            call.result = CallResult.CONNECTED
            if call.disposition is not None:
                await self._finish(call)
            else:
                call.wrapup_deadline = mono + self.wrapup_seconds
            return
        if self.spec.amd and o.result is CallResult.MACHINE:
            self.builder.call_screened(call.attempt_id, mono, live=False)
        self.builder.call_ended(call.attempt_id, mono, o.result)
        call.result = o.result
        await self._finish(call)

    async def _finish(self, call: _Call, note: str | None = None) -> None:
        """Hand the attempt to the taskflow and write it with the contact's new status."""
        call.writing = True
        try:
            await self._write_outcome(call, note)
        finally:
            call.writing = False

    def _decide(self, call: _Call, note: str | None) -> _Decided:
        """The call's outcome as the taskflow decides it: the finished attempt and the
        contact's transition, without the store (also what a stop journals when the database
        is away, :meth:`close_in_memory`). A connected call without the agent's disposition
        gets the campaign's default here."""
        assert call.result is not None
        now = self._clock.now()
        contact = call.contact
        task = self.tasks.get(contact.task_id)
        policy = self.spec.retry_policy(task.name if task is not None else "", self._settings.retry)
        agent_name = self._agent_name(call.agent)
        disposition = call.disposition
        if call.result is CallResult.CONNECTED and disposition is None:
            w = self.spec.wrapup
            disposition = Disposition(
                w.default_status,
                w.default_detail,
                note=note or "no disposition within the wrap-up limit",
            )
            call.disposition = disposition
        outcome = call_outcome(
            call.result,
            contact.attempts + 1,
            policy,
            now,
            abandon_hold_off=self.spec.abandon_hold_off,
            disposition=disposition,
            agent=agent_name,
        )
        o = call.outcome
        tl = o.timeline if o is not None else None
        cause = (o.detail if o is not None else None) or note or call.note
        attempt = Attempt(
            id=call.attempt_id,
            campaign_id=self.campaign.id,
            contact_id=contact.id,
            task_id=contact.task_id,
            phone=call.phone,
            server=call.server,
            agent=agent_name,
            originated_at=call.originated_at,
            ringing_at=(tl.ringing_at if tl else None) or call.ringing_at,
            answered_at=(tl.answered_at if tl else None) or call.answered_at,
            connected_at=(tl.connected_at if tl else None) or call.connected_at,
            hungup_at=_hungup_at(call.result, tl, now),
            result=call.result,
            cause=cause[:200] if cause else None,
            disposition=_disposition_text(disposition),
        )
        by_agent = disposition is not None and call.disposition_by_agent
        actor = f"agent:{agent_name}" if by_agent and agent_name else "dialer"
        transition = transition_for(
            contact,
            outcome,
            rules=self.rules,
            task_ids=self.task_ids,
            now=now,
            actor=actor,
            count_attempt=True,
            attempt=attempt,
        )
        return _Decided(attempt, outcome, transition, agent_name)

    async def _write_outcome(self, call: _Call, note: str | None) -> None:
        assert call.result is not None
        decided = self._decide(call, note)
        attempt, outcome, transition = decided.attempt, decided.outcome, decided.transition
        agent_name = decided.agent_name
        contact = call.contact
        o = call.outcome
        stale = False
        next_task: str | None = None
        status, detail, due_at = outcome.status, outcome.status_detail, outcome.due_at
        try:
            saved = await self._store.apply_transition(transition)
            moved_to = saved.pending_task_id if saved.pending_task_id is not None else saved.task_id
            if moved_to != contact.task_id and moved_to in self.tasks:
                next_task = self.tasks[moved_to].name
        except (StaleContact, NotFound) as exc:
            # The contact changed while the call was in flight: put on the do-not-call list,
            # given another status or moved by hand, or deleted. That change wins; the call
            # still happened, so its attempt is recorded (a deleted contact's is not).
            stale = True
            await self._store.record_attempt(attempt, count=True)
            current = await self._current(contact.id)
            if current is not None:
                status, detail, due_at = current.status, current.status_detail, None
                if not self._holds_otherwise(contact.id, call.attempt_id):
                    await self._store.release([contact.id], self._settings.holder)
            self._log.warning(
                "contact changed during its call: outcome recorded, contact left as it is",
                attempt=call.attempt_id,
                contact=contact.id,
                result=call.result.value,
                outcome=f"{outcome.status.value}/{outcome.status_detail}",
                disposition=attempt.disposition,
                why=str(exc),
            )
        self.calls.pop(call.attempt_id, None)
        self._host.unregister_attempt(call.attempt_id)
        if call.result is CallResult.CONNECTED and call.disposition_by_agent:
            self.end_wrapup(call)
        task = self.tasks.get(contact.task_id)
        task_name = task.name if task is not None else str(contact.task_id)
        self._host.emit(
            AttemptFinished(
                self.name,
                attempt,
                call.result,
                contact.id,
                status,
                detail,
                task_name,
                agent_name,
                o.connect_seconds if o is not None else None,
                o.talk_seconds if o is not None else None,
                stale,
                next_task,
                due_at,
            )
        )
        self.wake()

    def _holds_otherwise(self, contact_id: int, attempt_id: str) -> bool:
        """Whether this runner leased the contact again meanwhile (moved by hand into another
        call task, offered or dialed anew): that lease is not this call's to give back."""
        return any(
            c.contact.id == contact_id and c.attempt_id != attempt_id for c in self.calls.values()
        ) or any(p.contact.id == contact_id for p in self.previews.values())

    async def _current(self, contact_id: int) -> Contact | None:
        """The contact as stored now (None: deleted)."""
        try:
            return await self._store.get_contact(contact_id)
        except NotFound:
            return None

    # -- facade commands (run inside the loop through submit) ------------------------------------

    def find_call_for_disposition(self, interface: str, attempt_id: str | None) -> _Call | None:
        if attempt_id is not None:
            call = self.calls.get(attempt_id)
            if call is None or call.disposition is not None or call.writing:
                return None
            # an agent gives dispositions for its own calls only
            return call if interface in (call.agent, call.preview_agent) else None
        best: _Call | None = None
        for call in self.calls.values():
            if call.agent != interface or call.disposition is not None or call.writing:
                continue
            at = call.connected_at or call.originated_at
            if best is None or at > (best.connected_at or best.originated_at):
                best = call
        return best

    @property
    def waiting_for_store(self) -> bool:
        """The database is away: the loop waits for it (see ``Engine._keep_running``), and
        what it would write is kept in memory until it answers."""
        return self.outage.down

    def accept_disposition(
        self, interface: str, attempt_id: str | None, disposition: Disposition
    ) -> _Call:
        """The agent's disposition, checked against the call in memory and kept on it, at
        once and without the store: an agent is answered whether or not the database is
        there. The loop writes it when the call is over (``write_disposition``, or
        ``_scan_calls`` after an outage); a call has one disposition, so a second is
        refused and nothing is applied twice. The agent's wrap-up after this call ends now.

        A call whose connect the loop has not taken in yet (it waits for the database, and its
        inbox with it) is the agent's all the same (``_Call.connect_heard``): the disposition
        stays on the call, and is written when the loop has taken in the call's own events.

        Synchronous on purpose: nothing the loop does can come between the check and the
        change (a call being written is not offered, see ``_Call.writing``)."""
        call = self.find_call_for_disposition(interface, attempt_id)
        if call is None:
            raise NoSuchCall(f"no call of agent {interface} waits for a disposition")
        if call.connected_at is None and call.result is None and call.connect_heard is None:
            raise NoSuchCall(f"attempt {call.attempt_id} is not connected to an agent")
        call.disposition = disposition
        call.disposition_by_agent = True
        self.end_wrapup(call)
        return call

    def queued_disposition(self, attempt_id: str, at: datetime) -> QueuedDisposition | None:
        """The journal line of the agent's disposition kept on this call (None: no such call,
        or written already): what a start after a crash needs to close the call with it."""
        call = self.calls.get(attempt_id)
        if call is None or call.disposition is None or not call.disposition_by_agent:
            return None
        return QueuedDisposition(
            campaign=self.name,
            attempt_id=call.attempt_id,
            contact_id=call.contact.id,
            agent=call.agent,
            connected_at=call.connected_at or call.connect_heard,
            disposition=call.disposition,
            journaled_at=at,
        )

    async def write_disposition(self, attempt_id: str) -> bool:
        """In the loop: write the outcome of a call over whose disposition came. True once it
        is stored (also by another path meanwhile), False while it waits for the call's end
        or for the database."""
        call = self.calls.get(attempt_id)
        if call is None:
            return True
        if call.result is None or call.writing:
            return False
        try:
            await self._finish(call)
        except StoreUnavailable as exc:
            # kept on the call: ``_scan_calls`` writes it once the database is back
            self.outage.failed(exc, attempt=call.attempt_id)
            return False
        return True

    def end_wrapup(self, call: _Call) -> None:
        """The agent's wrap-up after this call ends (not one after a later call of theirs)."""
        if call.agent is None:
            return
        server = self._servers.get(call.server)
        if server is not None:
            server.end_wrapup(call.agent, call.attempt_id)

    @property
    def has_inbox(self) -> bool:
        """Events or commands wait for the loop."""
        return bool(self._inbox)

    # -- housekeeping -------------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        mono = self._clock.monotonic()
        now = self._clock.now()
        if self.callback_holds and mono >= self._holds_retry_at:
            await self._release_holds()
        if mono >= self._scan_at:
            # Every call, twice a tick at most: the loop wakes for every batch of AMI events,
            # and at thousands of calls in flight a scan per wake cost more than the events.
            self._scan_at = mono + self._settings.tick_seconds / 2.0
            await self._scan_calls(mono)
        if mono >= self._renew_at:
            ids = [c.contact.id for c in self.calls.values()]
            ids += [p.contact.id for p in self.previews.values()]
            if ids:
                await self._store.renew(
                    ids, self._settings.holder, timedelta(seconds=self._settings.lease_ttl), now
                )
            self._renew_at = mono + self._settings.lease_ttl / 3.0
        if self._local_offset(now) != self._windows_offset:
            # A DST change: the fixed windows were aligned to the old local midnight, so the
            # day would end an hour off; rebuilt, they count again from the store.
            self._rebuild_builder()
            self._refresh_at = -math.inf
        if mono >= self._refresh_at:
            await self._refresh_windows(now, mono)
            self._refresh_at = mono + self._settings.window_refresh_seconds

    async def _scan_calls(self, mono: float) -> None:
        for call in list(self.calls.values()):
            if call.result is None:
                self._check_tracked(call, mono)
                continue
            if call.awaiting_disposition:
                if call.wrapup_deadline is not None and mono >= call.wrapup_deadline:
                    await self._finish(call, "no disposition within the wrap-up limit")
            else:
                await self._finish(call)  # finishing failed before (store error): retry

    def _check_tracked(self, call: _Call, mono: float) -> None:
        """Safety net: every originated call ends in one outcome from the tracker; if the
        tracker forgot a call without one reaching us, close it as lost after a grace."""
        server = self._servers.get(call.server)
        if server is None or server.calls.is_open(call.attempt_id):
            call.missing_since = None
            return
        if call.missing_since is None:
            call.missing_since = mono
        elif mono - call.missing_since >= _MISSING_GRACE:
            self._log.warning(
                "call outcome never arrived", attempt=call.attempt_id, contact=call.contact.id
            )
            call.result = (
                CallResult.CONNECTED if call.connected_at is not None else CallResult.FAILED_UNKNOWN
            )
            call.note = "outcome lost: the call tracker closed the call without an outcome"
            if call.result is CallResult.CONNECTED:
                call.wrapup_deadline = mono + self.wrapup_seconds
            else:
                self.builder.call_ended(call.attempt_id, mono, call.result)

    async def _refresh_windows(self, now: datetime, mono: float) -> None:
        """Windows from the store: persisted, per campaign across daemons and restarts."""
        if not self._windows_restored:
            self.builder.build(mono)  # aligns the fixed windows before their counts are set
            self._windows_restored = True
        for name in self.spec.dial.abandonment_windows:
            since = window_start(name, self.spec.timezone, now)
            count = await self._store.abandonment(self.campaign.id, since)
            in_calls = sum(
                1 for c in self.calls.values() if c.connected_at is not None and c.in_flight
            )
            in_calls += sum(1 for c in self.calls.values() if c.awaiting_disposition)
            self.builder.restore_window(name, count.live_answers + in_calls, count.abandoned)

    async def _recover_lost_attempts(self) -> None:
        """Attempts left open by a previous run of this daemon: their outcome is lost.

        They are closed ``failed_unknown`` (so the retry policy delays the next dial); attempts
        whose contact another live daemon holds are that daemon's business.
        """
        now = self._clock.now()
        for a in await self._store.unfinished_attempts(self.campaign.id):
            if a.id in self.calls:
                continue
            try:
                contact = await self._store.get_contact(a.contact_id)
            except NotFound:
                continue
            held_by_other = (
                contact.lease_holder not in (None, self._settings.holder)
                and contact.lease_expires_at is not None
                and contact.lease_expires_at > now
            )
            if held_by_other:
                continue
            call = _Call(
                a.id,
                contact,
                a.phone,
                a.server or "",
                a.originated_at or now,
                result=CallResult.FAILED_UNKNOWN,
                note="outcome lost: the daemon stopped while the call was in progress",
            )
            queued = self._host.take_recovered_disposition(a.id)
            if queued is not None:
                self._with_journaled_disposition(call, queued)
            newer = await self._dialed_since(a)
            if newer is not None:
                # dialed again since (another daemon, its lease lapsed): its state is newer
                # than this lost call's outcome, which must not set it back
                self._log.warning(
                    "attempt whose outcome was lost recorded alone: contact dialed again since",
                    attempt=a.id,
                    contact=a.contact_id,
                    newer_attempt=newer,
                    disposition=_disposition_text(call.disposition),
                )
            if (
                newer is not None
                or contact.task_id != a.task_id
                or contact.status is not Status.OPEN
            ):
                await self._store.record_attempt(
                    replace(
                        a,
                        result=call.result,
                        connected_at=call.connected_at,
                        agent=self._agent_name(call.agent),
                        hungup_at=None,
                        cause=call.note,
                        disposition=_disposition_text(call.disposition),
                    ),
                    count=True,
                )
                continue
            self._log.warning(
                "closing attempt whose outcome was lost",
                attempt=a.id,
                contact=a.contact_id,
                result=call.result.value if call.result is not None else None,
                disposition=_disposition_text(call.disposition),
            )
            self.calls[a.id] = call
            await self._finish(call)

    async def _dialed_since(self, a: Attempt) -> str | None:
        """The id of an attempt of ``a``'s contact that originated after ``a`` (None: none)."""
        if a.originated_at is None:
            return None
        try:
            attempts = await self._store.attempts(a.contact_id)
        except NotFound:
            return None
        later = [
            o
            for o in attempts
            if o.id != a.id and o.originated_at and o.originated_at > a.originated_at
        ]
        return later[-1].id if later else None

    def _with_journaled_disposition(self, call: _Call, q: QueuedDisposition) -> None:
        """A call a crash lost, whose agent gave the disposition during an outage (journaled
        then): it was connected and talked, so it is closed ``connected`` with the agent's
        result. Its end was not seen: no hang-up time (the outcome's timeline has none)."""
        call.result = CallResult.CONNECTED
        call.agent = q.agent
        call.connected_at = q.connected_at
        call.disposition = q.disposition
        call.disposition_by_agent = True
        call.note = "outcome lost: the daemon stopped; the agent's disposition was journaled"
        call.outcome = CallOutcome(
            call.attempt_id,
            CallResult.CONNECTED,
            CallTimeline(call.originated_at, connected_at=q.connected_at),
            call.note,
            agent=q.agent,
        )

    # -- pacing -------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        return sum(1 for c in self.calls.values() if c.in_flight)

    def _call_servers(
        self, interface: str | None = None, queue: str | None = None
    ) -> list[AsteriskServer]:
        """Ready servers where this campaign's agents (or the one agent) take calls, and which
        have the queue the calls go to (``queue``, default the campaign's): on a server that
        lacks it a call would be abandoned as soon as it is answered."""
        names: set[str] = set()
        for iface, st in self.agents.items():
            if interface is not None and iface != interface:
                continue
            if st.state is not AgentState.OFFLINE and iface in self.agent_server:
                names.add(self.agent_server[iface])
        into = queue or self.queue
        return [
            s
            for n in sorted(names)
            if (s := self._servers.get(n)) is not None
            and s.ready
            and not self._host.queue_missing(n, into)
        ]

    def _originate_timeout(self, ring_s: float | None, post_dial_delay: float) -> float:
        """The Originate ``Timeout`` for a call that should ring ``ring_s`` (default: the
        campaign's ``ring_timeout``).

        Asterisk's timeout runs from the dial, before the callee's phone rings (the trunk's
        post-dial delay, 1-3 s on SIP trunks): a predictive short ring of exactly ``min_ring``
        (15 s, the legal minimum of *ringing*) would ring less. It gets the server's
        ``post_dial_delay`` more, never beyond the campaign's ``ring_timeout``.
        """
        full = self.spec.ring_timeout.total_seconds()
        if ring_s is None or ring_s >= full:
            return full
        return min(full, ring_s + post_dial_delay)

    def _servers_not_known(self) -> set[str]:
        """Servers whose agents count for nobody now: what they do is not known (only the
        state last seen), and a call placed on another server can reach none of them.

        A link that is down right now, and one whose return the campaign has not taken in yet.
        The loss goes by the link itself, not only by its news in the inbox: on a loaded machine
        the news comes a while after (the engine's event pump is behind, or a pass is under way),
        and a decision in between counted the lost server's agents as ready while only the other
        servers could take calls, which placed their calls there too and abandoned the answers.
        """
        return self._unknown_servers | {n for n, s in self._servers.items() if not s.ready}

    def _no_server_reason(self) -> str:
        """Why no server can take calls: said so an operator looks at Asterisk, not the team."""
        down = sorted(name for name, s in self._servers.items() if not s.ready)
        if down:
            return f"AMI link not ready: {', '.join(down)}"
        lacking = sorted(n for n in self._servers if self._host.queue_missing(n, self.queue))
        if lacking:
            return f"queue {self.queue} missing in Asterisk: {', '.join(lacking)}"
        return "no server with agents"

    def _free_lines(self, servers: list[AsteriskServer]) -> int:
        limit = self.spec.dial.max_concurrent_calls
        free = float(_UNLIMITED) if limit is None else float(limit - self.in_flight)
        server_free = 0.0
        for s in servers:
            if self._host.queue_missing(s.name, self.queue):
                continue  # no room for the campaign's calls where its queue is missing
            cap = s.config.max_channels
            server_free += math.inf if cap is None else max(0, cap - s.calls.open_count)
        return int(max(0.0, min(free, server_free, float(_UNLIMITED))))

    def _schedule_open(self, now: datetime) -> bool:
        sched = self.spec.schedule
        return schedule_open(
            self.campaign.status,
            self.spec.time_periods(),
            frozenset(sched.dates_off),
            self.spec.timezone,
            now,
        )

    async def _pace(self) -> None:
        now = self._clock.now()
        mono = self._clock.monotonic()
        hold = self._host.dialing_hold
        active = self._stop_at is None and hold is None and self._schedule_open(now)
        if active != self.active:
            if self._stop_at is not None:
                reason = "stopping"
            else:
                reason = hold if hold is not None else self.campaign.status.value
            if self.active is not None or active:
                self._host.emit(CampaignSwitched(self.name, active, now, reason))
                self._log.info("campaign switched", active=active, reason=reason)
            self.active = active
        if not active:
            await self._withdraw_previews(lambda p: True)
            self._record(None, 0, hold if hold is not None else "inactive", now)
            return
        if self._no_contacts is not False and mono >= self._recheck_at:
            await self._recheck_contacts(now, mono)
        if self.spec.dial.mode is DialMode.PREVIEW:
            await self._pace_preview(now, mono)
            return
        await self._dial_callbacks(now, mono)
        servers = self._call_servers()
        lines = self._free_lines(servers)
        reason = "" if servers else self._no_server_reason()
        parts = self._pacing_view(servers)
        plan: list[str] | None = None
        if parts:
            decided = self._decide_parts(parts, lines, mono)
            snap = decided[0][1]
            plan = _interleave([(name, k) for name, _, k in decided])
            n = len(plan)
            self._record_parts(decided, lines, reason, now)
            servers = [server for server, _ in parts]
        else:
            # pacing counts its own calls in flight (not yet with an agent) against the trunk
            self.builder.trunk_lines = self.builder.calls_in_flight + lines
            snap = self.builder.build(mono)
            n = min(decide(snap), lines)
            self._record(snap, n, reason, now)
        if n <= 0 or mono < self._empty_until or self._sends:
            return
        n = min(n, self._settings.max_lease_batch)
        contacts = await self._lease(n, now)
        if len(contacts) < n:
            self._empty_until = mono + self._settings.tick_seconds
        self._found_contacts(bool(contacts), mono)
        if contacts:
            await self._dial_many(
                contacts,
                servers,
                wait=False,
                ring_s=ring_timeout(snap),
                on=None if plan is None else plan[: len(contacts)],
            )

    def _decide_parts(
        self, parts: list[tuple[AsteriskServer, Part]], lines: int, mono: float
    ) -> list[tuple[str, Snapshot, int]]:
        """Each server's decision on its own snapshot: its agents and calls in flight, its free
        lines; the campaign's estimates and windows (``dialerd.pacing.Part``). Within the
        campaign's lines (``dial.max_concurrent_calls``) their calls are cut in proportion."""
        b = self.builder
        decided: list[tuple[str, Snapshot, int]] = []
        for server, part in parts:
            room = self._free_lines([server])
            b.trunk_lines = b.calls_in_flight + room
            snap = b.build(mono, part=part)
            decided.append((server.name, snap, min(decide(snap), room)))
        counts = _share_out(lines, [k for _, _, k in decided])
        return [(name, snap, k) for (name, snap, _), k in zip(decided, counts, strict=True)]

    async def _recheck_contacts(self, now: datetime, mono: float) -> None:
        """Whether the campaign has a contact to call now (before its first lease, and every
        ``NO_CONTACTS_RECHECK_S`` while it has none): a campaign with no agent in its pool
        decides no call and so leases nothing, and would never find out otherwise. The
        contact found is given back; the pacing decision leases what it dials."""
        contacts = await self._lease(1, now)
        if contacts:
            await self._store.release([c.id for c in contacts], self._settings.holder)
        self._found_contacts(bool(contacts), mono)

    def _found_contacts(self, found: bool, mono: float) -> None:
        self._no_contacts = not found
        self._recheck_at = mono + NO_CONTACTS_RECHECK_S

    def _pacing_view(self, servers: list[AsteriskServer]) -> list[tuple[AsteriskServer, Part]]:
        """Which of the campaign's agents and calls this decision counts, and its team; with
        its agents or calls on several ready servers, one part per server.

        Agents on a server whose link is lost are left out (their state is only the one last
        seen, and no call can be offered to them: a call placed on another server cannot reach
        them), and so are the calls in flight there: those can be answered and connected only
        on that server, to those agents, so counted they would hold back dialing for the
        agents that can be reached, or, without their agents, make pacing expect free agents
        it does not have. Each counts again once the link is back and resynchronised.

        The team (``Snapshot.team``, what ``min_agents_predictive`` is checked against): on
        each server where the campaign has active agents of its own, those and the active
        agents of other campaigns' pools in its queue (``shared_agents``), who take its answers
        when its own are busy; the fewest of any such server, as an answer there can go to
        those agents only. None (its own active agents, as pacing counts them) for a campaign
        on one server that shares none.

        A campaign with its pool's agents or its calls in flight on several ready servers
        (``servers``: those where its agents are) is decided server by server: the parts
        returned, each server's agents and calls with its team. An answer is connected on the
        server its call was placed on, to that server's agents only, so one decision for all
        of them planned answers that find a free agent on the other server, and abandoned
        them. Empty: the campaign is decided as one.
        """
        down = self._servers_not_known()
        b = self.builder
        if down:
            b.unseen_agents = frozenset(i for i in self._pooled if self.agent_server.get(i) in down)
            b.unseen_calls = frozenset(
                aid for aid, c in self.calls.items() if c.in_flight and c.server in down
            )
        elif b.unseen_agents or b.unseen_calls:
            b.unseen_agents = b.unseen_calls = frozenset()
        own: dict[str, int] = {}
        shared: dict[str, int] = {}
        for iface, st in self.agents.items():
            server = self.agent_server.get(iface, "")
            if st.state not in _ACTIVE or server in down:
                continue
            if iface in self._pooled:
                own[server] = own.get(server, 0) + 1
            elif self.queue in st.queues:
                shared[server] = shared.get(server, 0) + 1
        self.shared_agents = sum(shared.values())
        names = {
            self.agent_server[i]
            for i in self._pooled
            if i in self.agent_server
            and (status := self.agents.get(i)) is not None
            and status.state is not AgentState.OFFLINE
        }
        names |= {c.server for c in self.calls.values() if c.in_flight}
        ready = {s.name: s for s in servers}
        for name in names - ready.keys() - down:
            link = self._servers.get(name)
            if link is not None and link.ready:
                ready[name] = link
        names &= ready.keys()
        if len(names) < 2:
            if not own or (len(own) == 1 and not self.shared_agents):
                b.team = None
            else:
                b.team = min(n + shared.get(server, 0) for server, n in own.items())
            return []
        b.team = None
        parts: list[tuple[AsteriskServer, Part]] = []
        for name in sorted(names):
            agents = frozenset(i for i in self._pooled if self.agent_server.get(i) == name)
            calls = frozenset(
                aid for aid, c in self.calls.items() if c.in_flight and c.server == name
            )
            team = own.get(name, 0) + shared.get(name, 0)
            parts.append((ready[name], Part(agents, calls, team)))
        return parts

    def _record(self, snap: Snapshot | None, n: int, reason: str, now: datetime) -> None:
        if snap is None:
            prev = self.last_decision
            if prev is not None and prev.calls == 0 and prev.reason == reason:
                return
            self.last_decision = PacingDecision(
                now, 0, self.spec.dial.mode.value, 0, 0, 0, 0, 0, 0, 0, 0, 0.0, 0, reason
            )
            return
        self.last_decision = PacingDecision(
            at=now,
            calls=n,
            dial_mode=self.spec.dial.mode.value,
            ready=len(snap.ready),
            talking=len(snap.talking),
            wrapup=len(snap.wrapup),
            paused=len(snap.paused),
            ringing=len(snap.ringing),
            screening=len(snap.screening),
            queued=len(snap.queued),
            free_lines=snap.free_lines,
            answer_probability=snap.estimates.answer_probability,
            samples=snap.estimates.samples,
            reason=reason,
            answer_probability_high=snap.answer_probability_high,
            abandon_burst=snap.abandon_burst,
            mode_used=mode_used(snap).value,
            ring_seconds=snap.estimates.answer_delay.mean,
            talk_seconds=snap.estimates.talk.mean,
            wrapup_seconds=snap.estimates.wrapup.mean,
            shared_agents=self.shared_agents,
            team=snap.smoothing_agents,
            agents_not_known=len(self.builder.unseen_agents),
        )

    def _record_parts(
        self, decided: list[tuple[str, Snapshot, int]], lines: int, reason: str, now: datetime
    ) -> None:
        """A decision made server by server: each server's part in ``servers``, the
        campaign's figures their sums (``team``: the fewest of the servers where the campaign
        has active agents; ``mode_used``: its dial mode if any server dialed by it)."""
        per = tuple(
            ServerPacing(
                server=name,
                calls=k,
                mode_used=mode_used(snap).value,
                ready=len(snap.ready),
                talking=len(snap.talking),
                wrapup=len(snap.wrapup),
                ringing=len(snap.ringing),
                screening=len(snap.screening),
                queued=len(snap.queued),
                free_lines=snap.free_lines,
                team=snap.smoothing_agents,
            )
            for name, snap, k in decided
        )
        first = decided[0][1]
        dial = self.spec.dial.mode.value
        modes = [p.mode_used for p in per]
        teams = [p.team for p, (_, snap, _) in zip(per, decided, strict=True) if snap.active_agents]
        self.last_decision = PacingDecision(
            at=now,
            calls=sum(p.calls for p in per),
            dial_mode=dial,
            ready=sum(p.ready for p in per),
            talking=sum(p.talking for p in per),
            wrapup=sum(p.wrapup for p in per),
            paused=sum(len(snap.paused) for _, snap, _ in decided),
            ringing=sum(p.ringing for p in per),
            screening=sum(p.screening for p in per),
            queued=sum(p.queued for p in per),
            free_lines=lines,
            answer_probability=first.estimates.answer_probability,
            samples=first.estimates.samples,
            reason=reason,
            answer_probability_high=first.answer_probability_high,
            abandon_burst=first.abandon_burst,
            mode_used=dial if dial in modes else modes[0],
            ring_seconds=first.estimates.answer_delay.mean,
            talk_seconds=first.estimates.talk.mean,
            wrapup_seconds=first.estimates.wrapup.mean,
            shared_agents=self.shared_agents,
            team=min(teams or [p.team for p in per]),
            agents_not_known=len(self.builder.unseen_agents),
            servers=per,
        )

    async def _lease(self, n: int, now: datetime, agent: str | None = None) -> list[Contact]:
        guard = None
        hours = self.spec.calling_hours
        if hours.enabled:
            mono = self._clock.monotonic()
            if mono >= self._zones_until:
                self._zones = await self._store.contact_timezones(self.campaign.id)
                self._zones_until = mono + self._settings.timezone_cache_seconds
            guard = lease_guard(
                self._zones,
                now,
                campaign_timezone=self.spec.timezone,
                start=hours.start,
                end=hours.end,
            )
            if not guard.allowed_timezones and not guard.allow_unknown_timezone:
                return []
        return await self._store.lease(
            self.campaign.id,
            n,
            self._settings.holder,
            timedelta(seconds=self._settings.lease_ttl),
            now,
            agent=agent,
            guard=guard,
            # held to the daemon's floor, also when the stored definition is not
            max_calls_per_day=self.spec.dial.max_calls_per_day,
        )

    def _may_call_now(self, contact: Contact, now: datetime) -> bool:
        hours = self.spec.calling_hours
        if not hours.enabled:
            return True
        return inside(now, contact.timezone or self.spec.timezone, hours.start, hours.end)

    def _room(self, server: AsteriskServer) -> float:
        """Lines left on ``server``: its tracker's open calls, and the calls of a pool batch
        whose Originates are still queued (not in the tracker yet; counted twice meanwhile
        once they are, which errs on the safe side)."""
        cap = server.config.max_channels
        if cap is None:
            return math.inf
        return float(cap - server.calls.open_count - self._sending.get(server.name, 0))

    def _caller_id(self) -> str | None:
        ids = self.spec.caller_ids
        if not ids:
            return None
        self._caller_id_index = (self._caller_id_index + 1) % len(ids)
        return ids[self._caller_id_index]

    def _why_not(self, contact: Contact, now: datetime) -> str | None:
        """The schedule and the calling hours again: the lease may have taken us past an edge."""
        if not contact.phone:
            return "no phone number"
        if self._stop_at is not None:
            return "stopping"
        if not self._schedule_open(now):
            return "schedule closed"
        if not self._may_call_now(contact, now):
            return "outside the contact's calling hours"
        return None

    async def _dial(
        self,
        contact: Contact,
        servers: list[AsteriskServer],
        *,
        preview_agent: str | None = None,
        queue: str | None = None,
    ) -> str | None:
        """Dial one leased contact once. Returns the attempt id, or None if not dialed."""
        dialed = await self._dial_many([contact], servers, preview_agent=preview_agent, queue=queue)
        return dialed[0] if dialed else None

    async def _dial_many(
        self,
        contacts: list[Contact],
        servers: list[AsteriskServer],
        *,
        preview_agent: str | None = None,
        queue: str | None = None,
        wait: bool = True,
        ring_s: float | None = None,
        on: list[str] | None = None,
    ) -> list[str]:
        """Dial leased contacts once each, as one batch. Returns the attempt ids dialed.

        The per-call work is done for the whole batch at once, because done call by call
        (a do-not-call query, an attempt insert, then waiting for Asterisk's reply to the
        Originate before the next contact) it held a 2,000-line campaign at a fraction of its
        lines with ticks of seconds. In order: the schedule and calling hours again (pure); the
        do-not-call list again, one query; a server with room for each call (the per-server
        line limits counted across the batch); every attempt written as started, one
        transaction, before any Originate leaves (a crash from here on leaves each contact's
        attempt behind, closed ``failed_unknown`` at the next start, so none is dialed twice);
        every call registered with the runner and the engine so its first event finds it;
        then the Originates sent concurrently (bounded), each once. Contacts not dialed are
        released in one statement.

        ``wait``: return once Asterisk has replied to every Originate (preview and callbacks,
        whose callers need to know). Else (pool calls) pacing counts the calls at once and the
        replies are handled in the loop when they come: a tick is not held up by Asterisk's
        round trips; the next batch waits until this one's replies are in (``_sends``), so the
        per-server line counts the next decision sees include every call of this one.
        ``ring_s``: how long an unanswered call rings (pacing's choice; default the campaign's
        ``ring_timeout``). ``on``: the server of each contact (a decision made server by
        server); a contact whose server has no room left is not dialed (elsewhere its answer
        would find none of the agents it was placed for). Else each call goes to the server
        whose agents have the fewest calls waiting (:func:`_spread_key`).
        """
        holder = self._settings.holder
        now = self._clock.now()
        release: list[int] = []
        candidates: list[Contact] = []
        for contact in contacts:
            why = self._why_not(contact, now)
            if why is None:
                candidates.append(contact)
            else:
                self._log.info("not dialed", contact=contact.id, why=why)
                release.append(contact.id)
        if candidates:
            dnc = await self._store.dnc_numbers(
                [c.phone for c in candidates if c.phone], self.campaign.id
            )
            if dnc:
                for c in candidates:
                    if c.phone in dnc:
                        self._log.info("not dialed: do-not-call", contact=c.id)
                        await self._close_dnc(c, now)
                candidates = [c for c in candidates if c.phone not in dnc]
        room = {s.name: self._room(s) for s in servers if s.ready}
        by_name = {s.name: s for s in servers}
        load = self._server_load(room) if len(room) > 1 and on is None else {}
        target = {} if on is None else dict(zip((c.id for c in contacts), on, strict=True))
        dials: list[_Dial] = []
        for contact in candidates:
            if on is None:
                open_ = [n for n in room if room[n] > 0]
                best = min(open_, key=lambda n: _spread_key(load.get(n), room[n]), default=None)
            else:
                best = target[contact.id] if room.get(target[contact.id], 0) > 0 else None
            if best is None or not contact.phone:
                why = "no ready server with room" if servers else "no server with this agent"
                self._log.info("not dialed", contact=contact.id, why=why)
                release.append(contact.id)
                continue
            room[best] -= 1
            if best in load:
                load[best][0] += 1.0
            dials.append(
                self._prepare(
                    contact, contact.phone, by_name[best], now, preview_agent, queue, ring_s
                )
            )
        if release:
            await self._store.release(release, holder)
        if not dials:
            return []
        await self._store.start_attempts([d.attempt for d in dials])
        mono = self._clock.monotonic()
        for d in dials:
            self.calls[d.call.attempt_id] = d.call
            self._host.register_attempt(d.call.attempt_id, self)
        if wait:
            await self._originate_all(dials)
            return await self._sent(dials, now, mono, placed=False)
        # Pacing and the event stream learn of the calls now, before their first event can
        # arrive; the replies come back through the inbox.
        for d in dials:
            self.builder.call_placed(d.call.attempt_id, mono)
            self._emit_dialing(d, now)
            self._sending[d.server.name] = self._sending.get(d.server.name, 0) + 1
        task = asyncio.get_running_loop().create_task(
            self._send(dials, now, mono), name=f"originate-{self.name}"
        )
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return [d.call.attempt_id for d in dials]

    def _server_load(self, servers: Mapping[str, float]) -> dict[str, list[float]]:
        """Per server: [calls of this campaign waiting for an agent there (placed, not
        connected), its pool agents ready there, its pool agents active there].

        An answered call is connected on the server it was placed on, to that server's agents
        only (each agent is in the queues of one Asterisk): calls go where the campaign's
        agents are (:func:`_spread_key`), not all to the server with the most free lines.
        """
        load = {n: [0.0, 0.0, 0.0] for n in servers}
        for c in self.calls.values():
            entry = load.get(c.server)
            if entry is not None and c.in_flight and c.connected_at is None:
                entry[0] += 1.0
        for iface in self._pooled:
            entry = load.get(self.agent_server.get(iface, ""))
            st = self.agents.get(iface)
            if entry is None or st is None or st.state not in _ACTIVE:
                continue
            entry[2] += 1.0
            if st.state is AgentState.READY:
                entry[1] += 1.0
        return load

    async def _send(self, dials: list[_Dial], now: datetime, mono: float) -> None:
        try:
            await self._originate_all(dials)
        finally:
            for d in dials:
                self._sending[d.server.name] -= 1
        self._inbox.append(("sent", dials, (now, mono)))
        self._wake.set()

    def _emit_dialing(self, d: _Dial, now: datetime) -> None:
        self._host.emit(
            CallProgressed(
                self.name,
                d.call.attempt_id,
                d.call.contact.id,
                CallPhase.DIALING.value,
                now,
                d.server.name,
            )
        )

    async def _sent(
        self, dials: list[_Dial], now: datetime, mono: float, *, placed: bool
    ) -> list[str]:
        """The batch's Originates have their replies. ``placed``: pacing and the event stream
        knew of the calls already (a pool batch); else they learn of the sent ones now.

        An Originate that never left (link not ready) has no outcome coming: its attempt closes
        as not dialed and the contact goes back to the pool.
        """
        unsent: list[_Dial] = []
        dialed: list[str] = []
        for d in dials:
            aid = d.call.attempt_id
            if self.calls.get(aid) is not d.call:
                continue  # closed meanwhile (a stop): nothing more to do
            if isinstance(d.error, AmiNotReady | AmiAlreadyOriginated):
                unsent.append(d)
                continue
            if d.error is not None:
                # The Originate may have been written: its outcome still comes (never resent).
                self._log.warning(
                    "originate uncertain",
                    attempt=aid,
                    contact=d.call.contact.id,
                    error=str(d.error),
                )
            if not placed:
                self.builder.call_placed(aid, mono)
                self._emit_dialing(d, now)
            dialed.append(aid)
        if unsent:
            for d in unsent:
                aid = d.call.attempt_id
                self.calls.pop(aid, None)
                self._host.unregister_attempt(aid)
                if placed:
                    # Known to pacing already; it leaves as a failed call (as calls lost with a
                    # link do), there being no way to take a placed call back.
                    self.builder.call_ended(aid, self._clock.monotonic(), CallResult.FAILED_UNKNOWN)
            await self._unsent(unsent, now)
            self.wake()
        return dialed

    def _prepare(
        self,
        contact: Contact,
        phone: str,
        server: AsteriskServer,
        now: datetime,
        preview_agent: str | None,
        queue: str | None,
        ring_s: float | None = None,
    ) -> _Dial:
        attempt_id = f"d{self.campaign.id}-{uuid.uuid4().hex[:16]}"
        variables = {
            "DIALER_ATTEMPT": attempt_id,
            "DIALER_QUEUE": queue or self.queue,
            "DIALER_CONNECT_TIMEOUT": str(queue_timeout(self.spec.connect_limit)),
            "DIALER_CAMPAIGN": str(self.campaign.id),
            "DIALER_CONTACT": str(contact.id),
        }
        request = OriginateRequest(
            attempt_id=attempt_id,
            channel=self._settings.dial_string(phone, server.name),
            context=self._settings.amd_context if self.spec.amd else self._settings.connect_context,
            timeout=self._originate_timeout(ring_s, server.config.post_dial_delay),
            caller_id=self._caller_id(),
            variables=variables,
        )
        attempt = Attempt(
            id=attempt_id,
            campaign_id=self.campaign.id,
            contact_id=contact.id,
            task_id=contact.task_id,
            phone=phone,
            server=server.name,
            originated_at=now,
        )
        call = _Call(attempt_id, contact, phone, server.name, now, preview_agent=preview_agent)
        return _Dial(call, attempt, request, server)

    async def _originate_all(self, dials: list[_Dial]) -> list[Exception | None]:
        """Send the batch's Originates at once, at most ``_ORIGINATE_CONCURRENCY`` awaiting
        their replies; each is sent once whatever happens to the others."""
        if len(dials) == 1:
            return [await _originate(dials[0], self._log)]
        gate = asyncio.Semaphore(_ORIGINATE_CONCURRENCY)

        async def one(d: _Dial) -> Exception | None:
            async with gate:
                return await _originate(d, self._log)

        return list(await asyncio.gather(*(one(d) for d in dials)))

    async def _unsent(self, unsent: list[_Dial], now: datetime) -> None:
        for d in unsent:
            await self._store.record_attempt(
                replace(
                    d.attempt,
                    result=CallResult.FAILED_UNKNOWN,
                    hungup_at=now,
                    cause=f"not dialed: {d.error}"[:200],
                )
            )
        await self._store.release([d.call.contact.id for d in unsent], self._settings.holder)

    async def _close_dnc(self, contact: Contact, now: datetime) -> None:
        """A number put on the do-not-call list after the lease: never dialed."""
        outcome = Outcome(
            Status.FAILED, StatusDetail.DNC.value, note="number on the do-not-call list"
        )
        try:
            await self._store.apply_transition(
                transition_for(
                    contact,
                    outcome,
                    rules=self.rules,
                    task_ids=self.task_ids,
                    now=now,
                    actor="dialer",
                )
            )
        except (StaleContact, NotFound):
            await self._store.release([contact.id], self._settings.holder)

    # -- personal callbacks ---------------------------------------------------------------------

    async def _dial_callbacks(self, now: datetime, mono: float) -> None:
        """Due personal callbacks, in the modes that dial for the pool.

        A callback booked for one agent is dialed when that agent is ready, through the agent's
        own queue (``<queue>.<agent>``, as preview calls), so it connects to that agent only.
        Until the call leaves flight the agent and the call are reserved outside the pool
        (``SnapshotBuilder.reserved``), so pacing neither counts the agent as free nor the call
        as a pool call; and the agent is paused in the campaign queue (:meth:`_hold`), or a pool
        call answered while the callback rings would take the agent first (Asterisk offers a
        queue caller to any unpaused free member) and leave the callback without its agent.
        A callback whose agent is not ready waits, personal, for as long as it takes;
        ``waiting_callbacks`` shows it in the campaign's figures.
        """
        reserved = self.builder.reserved
        for attempt_id in [a for a in reserved if not self._call_in_flight(a)]:
            del reserved[attempt_id]
        ready = frozenset(i for i, st in self.agents.items() if st.state is AgentState.READY)
        # Once per tick, and at once when an agent with a due callback (as of the last look)
        # becomes ready, before pool calls take the agent. Not for every agent becoming ready:
        # with hundreds of agents that is nearly every decision, and the query cost more than
        # the rest of the tick.
        newly_ready = ready - self._callbacks_ready
        self._callbacks_ready = ready
        if mono < self._callbacks_until and not any(
            (self._agent_name(i) or i) in self.waiting_callbacks for i in newly_ready
        ):
            return
        self._callbacks_until = mono + self._settings.tick_seconds
        due = await due_callbacks(self._store, self.campaign.id, now)
        if due:
            busy = set(reserved.values()) | set(self.callback_holds)
            for iface, st in list(self.agents.items()):
                if st.state is not AgentState.READY or iface in busy or self._stop_at is not None:
                    continue
                name = self._agent_name(iface) or iface
                if not due.get(name):
                    continue
                if self._own_queue_missing(iface, name):
                    continue  # waits, booked for the agent, until the queue is defined
                contacts = await self._lease(1, now, agent=name)
                if not contacts:
                    continue
                contact = contacts[0]
                if (
                    contact.status_detail != StatusDetail.FOLLOW_UP_PERSONAL.value
                    or contact.follow_up_agent != name
                ):
                    await self._store.release([contact.id], self._settings.holder)
                    continue
                if not await self._hold(iface):
                    await self._store.release([contact.id], self._settings.holder)
                    continue
                # a contact to call: the campaign dials (else the agent it takes next goes back)
                self._found_contacts(True, mono)
                if iface not in self._pooled:
                    # the agent was in another campaign's pool: theirs to take now, so that
                    # campaign stops dialing for them
                    self._host.claim_agent(st, self)
                attempt_id = await self._dial(
                    contact,
                    self._call_servers(iface, self.preview_queue(name)),
                    preview_agent=iface,
                    queue=self.preview_queue(name),
                )
                if attempt_id is None:
                    await self._release_holds(only=iface)
                    continue
                if iface in self.callback_holds:
                    self.callback_holds[iface] = attempt_id
                reserved[attempt_id] = iface
                due[name] -= 1
        self.waiting_callbacks = {a: n for a, n in due.items() if n > 0}

    async def _hold(self, iface: str) -> bool:
        """Pause the agent in the campaign queue (only there: their own queue stays open for the
        callback). Sent and answered before the callback's Originate, so no pool call that
        reaches the queue afterwards is offered to the agent. False: not held, do not dial."""
        server = self._servers.get(self.agent_server.get(iface, ""))
        if server is None:
            return False
        if server.paused_in(iface, self.queue) is None:
            return True  # not a member of the pool's queue: no pool call can take the agent
        try:
            await server.queue_pause(iface, True, queue=self.queue, reason=CALLBACK_HOLD_REASON)
        except AmiError as exc:
            self._log.warning("callback not dialed: agent not held", agent=iface, error=str(exc))
            return False
        self.callback_holds[iface] = None
        return True

    def _held_only_here(self, server: AsteriskServer, iface: str) -> bool:
        """Paused in the campaign queue but not in the agent's own queue: our hold. A break
        pauses every queue (the agent stays paused); an unpause since leaves nothing to do."""
        if not server.paused_in(iface, self.queue):
            return False
        name = self._agent_name(iface) or iface
        return not server.paused_in(iface, self.preview_queue(name))

    async def _release_holds(self, *, only: str | None = None, force: bool = False) -> None:
        """Unpause agents whose callback has left flight (``force``: all, at stop).

        An agent paused since by somebody else (a break) is left as it is. A failed QueuePause
        is retried on a later pass.
        """
        failed = False
        for iface, attempt_id in list(self.callback_holds.items()):
            if only is not None and iface != only:
                continue
            if not force and attempt_id is not None and self._call_in_flight(attempt_id):
                continue
            server = self._servers.get(self.agent_server.get(iface, ""))
            if server is not None and self._held_only_here(server, iface):
                try:
                    await server.queue_pause(iface, False, queue=self.queue)
                except AmiError as exc:
                    self._log.warning("agent not released from hold", agent=iface, error=str(exc))
                    failed = True
                    continue
            del self.callback_holds[iface]
        if failed:
            self._holds_retry_at = self._clock.monotonic() + self._settings.tick_seconds

    async def _release_stale_holds(self) -> None:
        """Holds a previous run left behind (a crash while a callback rang): released."""
        for iface, st in self.agents.items():
            if st.paused_reason == CALLBACK_HOLD_REASON and iface not in self.callback_holds:
                self.callback_holds[iface] = None
        if self.callback_holds:
            await self._release_holds(force=True)

    def _call_in_flight(self, attempt_id: Any) -> bool:
        call = self.calls.get(str(attempt_id))
        return call is not None and call.in_flight

    # -- preview --------------------------------------------------------------------------------

    def _own_queue_missing(self, iface: str, name: str) -> bool:
        """Whether the agent's own queue is missing on their server: a preview or personal
        callback sent into it would be abandoned at once. Said once per queue until it is
        defined (the engine's check logs and reports the queue itself)."""
        server = self.agent_server.get(iface, "")
        queue = self.preview_queue(name)
        if not self._host.queue_missing(server, queue):
            self._own_queue_said.discard(queue)
            return False
        if queue not in self._own_queue_said:
            self._own_queue_said.add(queue)
            self._log.warning(
                "no preview or personal callback for the agent: their queue is missing in"
                " Asterisk; the contacts wait",
                agent=name,
                server=server,
                queue=queue,
            )
        return True

    async def _pace_preview(self, now: datetime, mono: float) -> None:
        await self._withdraw_previews(
            lambda p: (
                p.interface not in self.agents
                or self.agents[p.interface].state not in (AgentState.READY,)
                or self._own_queue_missing(p.interface, p.agent)
            )
        )
        for p in list(self.previews.values()):
            if p.auto_accept_at is not None and mono >= p.auto_accept_at:
                try:
                    await self.accept_preview(p.interface, p.contact.id)
                except LeadTaken as exc:  # the offer is withdrawn; the agent gets the next one
                    self._log.info("preview not dialed", reason=str(exc), contact=p.contact.id)
        busy = {c.preview_agent for c in self.calls.values() if c.in_flight}
        offered = 0
        for iface, st in list(self.agents.items()):
            if st.state is not AgentState.READY or iface in self.previews or iface in busy:
                continue
            if iface not in self._pooled:
                continue  # another campaign paces for the agent
            if self.agent_server.get(iface) in self._servers_not_known():
                continue  # the state last seen: the link to the agent's Asterisk is lost
            if mono < self._empty_until:
                break
            name = self._agent_name(iface) or iface
            if self._own_queue_missing(iface, name):
                continue  # no offer: the call could not reach the agent
            contacts = await self._lease(1, now, agent=name)
            if not contacts:
                self._empty_until = mono + self._settings.tick_seconds
                self._found_contacts(False, mono)
                break
            self._found_contacts(True, mono)
            auto = self.spec.dial.preview_auto_accept
            p = _Preview(
                contacts[0], iface, name, mono + auto.total_seconds() if auto is not None else None
            )
            self.previews[iface] = p
            offered += 1
            try:
                history = tuple(await self._store.history(p.contact.id))
            except NotFound:
                history = ()
            self._host.emit(
                PreviewOffered(
                    self.name,
                    name,
                    p.contact,
                    history,
                    now + auto if auto is not None else None,
                )
            )
        self._record(None, 0, f"preview: {len(self.previews)} on offer", now)

    async def _withdraw_previews(self, which: Callable[[_Preview], bool]) -> None:
        gone = [p for p in self.previews.values() if which(p)]
        for p in gone:
            del self.previews[p.interface]
        if gone:
            await self._store.release([p.contact.id for p in gone], self._settings.holder)

    def _preview_of(self, interface: str, contact_id: int) -> _Preview:
        p = self.previews.get(interface)
        if p is None or p.contact.id != contact_id:
            raise NoSuchPreview(f"contact {contact_id} is not on offer to agent {interface}")
        return p

    async def accept_preview(
        self, interface: str, contact_id: int, *, hold: bool = False
    ) -> str | None:
        """Dial the contact on offer to this agent. A lead another agent holds is not dialed
        (``LeadTaken``, the offer withdrawn): while on offer the contact is leased, so nobody
        can reserve it, but an agent may have written a note on it (which holds it) or held it
        before its lease was taken. ``hold``: first hold the lead for this agent (the leads
        API's ``call``); the lease is this runner's own, so it does not stand in the way."""
        p = self._preview_of(interface, contact_id)
        try:
            if hold:
                await agentwork.reserve(
                    self._store,
                    contact_id,
                    p.agent,
                    self._clock.now(),
                    own_lease=self._settings.holder,
                )
            else:
                await agentwork.check_not_held(self._store, contact_id, p.agent)
        except (agentwork.LeadHeld, agentwork.LeadClosed, agentwork.LeadBusy) as exc:
            await self._withdraw_previews(lambda q: q is p)
            raise LeadTaken(str(exc)) from None
        del self.previews[interface]
        servers = self._call_servers(interface, self.preview_queue(p.agent))
        return await self._dial(
            p.contact, servers, preview_agent=interface, queue=self.preview_queue(p.agent)
        )

    async def skip_preview(self, interface: str, contact_id: int) -> None:
        """The agent passes: the contact keeps its status and comes back after a while."""
        p = self._preview_of(interface, contact_id)
        del self.previews[interface]
        now = self._clock.now()
        c = p.contact
        try:
            await self._store.apply_transition(
                Transition(
                    contact_id=c.id,
                    actor=f"agent:{p.agent}",
                    at=now,
                    task_id=c.task_id,
                    status=c.status,
                    status_detail=c.status_detail,
                    due_at=now + timedelta(seconds=self._settings.preview_skip_delay),
                    follow_up_agent=c.follow_up_agent,
                    note="skipped in preview",
                    expect_task_id=c.task_id,
                    expect_status=c.status,
                )
            )
        except (StaleContact, NotFound):
            await self._store.release([c.id], self._settings.holder)

    # -- stop -------------------------------------------------------------------------------------

    async def _drained(self) -> bool:
        """During a stop: True once every call is over (or the drain bound has passed)."""
        assert self._stop_at is not None
        await self._withdraw_previews(lambda p: True)
        if self._sends:
            # Originates still on their way: closing their calls now could release a contact
            # whose call is yet to be dialed. Their replies come within the action timeout.
            return False
        if self._clock.monotonic() < self._stop_at and self.calls:
            if self.active:
                self.active = False
                self._host.emit(CampaignSwitched(self.name, False, self._clock.now(), "stopping"))
            return False
        if self.calls:
            # each call also has its "call finished" line (a cut call with this cause)
            self._log.warning(
                "drain bound passed: calls in progress closed",
                calls=sum(1 for c in self.calls.values() if c.in_flight),
                awaiting_disposition=sum(1 for c in self.calls.values() if c.awaiting_disposition),
            )
        await self._close_all("the daemon stopped before the call was over")
        await self._release_holds(force=True)
        return True

    async def _close_all(self, why: str) -> None:
        """At the drain bound: every call closed and written. With the database away the
        outcomes go to the journal (the first write that fails sends the rest there too, each
        would wait for the database in vain), written at the next start."""
        unwritten: list[_Call] = []
        for call in list(self.calls.values()):
            self._close_in_flight(call, why)
            if unwritten:
                unwritten.append(call)
                continue
            try:
                await self._finish(call, why)
            except StoreUnavailable as exc:
                self.outage.failed(exc, attempt=call.attempt_id)
                unwritten.append(call)
            except Exception:
                self._log.exception(
                    "could not close attempt at stop",
                    attempt=call.attempt_id,
                    contact=call.contact.id,
                )
                self.calls.pop(call.attempt_id, None)
                self._host.unregister_attempt(call.attempt_id)
                await self._store.release([call.contact.id], self._settings.holder)
        if unwritten:
            self._journal(unwritten, why)

    def _close_in_flight(self, call: _Call, why: str) -> None:
        """A call still going at a stop: connected ones get the wrap-up default (unless the
        agent gave a disposition), the others are lost (``failed_unknown``)."""
        if call.result is not None:
            return
        if call.connected_at is not None or call.connect_heard is not None:
            call.result = CallResult.CONNECTED
        else:
            call.result = CallResult.FAILED_UNKNOWN
            self.builder.call_ended(call.attempt_id, self._clock.monotonic(), call.result)
        call.note = why

    def close_in_memory(self, why: str) -> None:
        """The daemon stops and this runner cannot reach the database (it waits for it, past
        the drain bound, or the engine is cancelled): the AMI events still in the inbox are
        taken in (a call's connect and end, so its outcome is the one Asterisk reported), every
        call is closed as at a drain, and their outcomes go to the journal, not to the store.
        Commands waiting in the inbox fail. Nothing here touches the store."""
        while self._inbox:
            kind, a, b = self._inbox.popleft()
            if kind == "command":
                if not b.done():
                    b.set_exception(EngineNotRunning(f"campaign {self.name!r} has stopped"))
            elif kind == "update" and isinstance(b, CallProgress):
                call = self.calls.get(b.attempt_id)
                if call is not None:
                    self._note_progress(call, b)
            elif kind == "update" and isinstance(b, CallOutcome):
                call = self.calls.get(b.attempt_id)
                if call is not None and call.result is None:
                    if self._note_outcome(call, b):
                        call.connected_at = (
                            call.connected_at or b.timeline.connected_at or self._clock.now()
                        )
                        call.result = CallResult.CONNECTED
                    else:
                        call.result = b.result
        calls = list(self.calls.values())
        for call in calls:
            self._close_in_flight(call, why)
        if calls:
            self._journal(calls, why)

    def _journal(self, calls: list[_Call], why: str) -> None:
        """Closed calls whose outcomes the store cannot take now: decided as they would be
        written, handed to the engine's journal, and forgotten here."""
        now = self._clock.now()
        entries = []
        for call in calls:
            decided = self._decide(call, why)
            entries.append(JournalEntry(self.name, decided.transition, now))
            self.calls.pop(call.attempt_id, None)
            self._host.unregister_attempt(call.attempt_id)
        self._host.journal_outcomes(self, entries)

    # -- views ------------------------------------------------------------------------------------

    def _agent_name(self, interface: str | None) -> str | None:
        if interface is None:
            return None
        agent = self._host.agent_by_interface(interface)
        if agent is not None:
            return agent.name
        st = self.agents.get(interface)
        return st.name if st is not None and st.name else interface

    def window_figures(self) -> tuple[WindowFigures, ...]:
        snap_windows = self.builder.build(self._clock.monotonic()).windows
        return tuple(
            WindowFigures(w.name, w.live_answers, w.abandoned, w.seconds_left) for w in snap_windows
        )

    def figures(self) -> CampaignFigures:
        return CampaignFigures(
            campaign=self.name,
            status=self.campaign.status.value,
            active=bool(self.active),
            calls_in_flight=self.in_flight,
            agents_by_state=self.agents_by_state(),
            abandonment=self.window_figures(),
            decision=self.last_decision,
            at=self._clock.now(),
            abandonment_target=self.spec.dial.abandonment_target,
        )


def _share_out(lines: int, wanted: list[int]) -> list[int]:
    """``wanted`` calls per server, cut to ``lines`` in all in proportion (largest remainders
    first, then the earlier server), so one server's decision does not take the campaign's
    last lines from the others."""
    total = sum(wanted)
    if total <= lines:
        return list(wanted)
    exact = [w * lines / total for w in wanted]
    out = [math.floor(x) for x in exact]
    order = sorted(range(len(wanted)), key=lambda i: (out[i] - exact[i], i))
    for i in order[: lines - sum(out)]:
        out[i] += 1
    return out


def _interleave(counts: list[tuple[str, int]]) -> list[str]:
    """The server of each call, taking the servers in turn: when fewer contacts are leased
    than decided, every server gets its share of them, not the first all."""
    plan: list[str] = []
    left = dict(counts)
    while any(left.values()):
        for name, _ in counts:
            if left[name] > 0:
                plan.append(name)
                left[name] -= 1
    return plan


def _spread_key(load: list[float] | None, room: float) -> tuple[float, float]:
    """Smaller first: the server whose agents have the fewest calls waiting for them. Calls
    waiting beyond the server's ready agents, per active agent there (a ready agent takes a
    call at once; the calls predictive places beyond them wait for the agents who finish
    first, so they spread in proportion to the team on each server); a server without active
    agents of the campaign last. Then the most free lines (also all it goes by when one server
    is open, as for a preview or callback call)."""
    if load is None:
        return (0.0, -room)
    waiting, ready, active = load
    if active <= 0:
        return (math.inf, -room)
    return ((waiting - ready) / active, -room)


def _hungup_at(result: CallResult, tl: CallTimeline | None, now: datetime) -> datetime | None:
    """When the call ended, as far as anybody knows: the tracker's time (None when it did not
    see the end: the link was down); a call closed ``failed_unknown`` without an outcome (the
    daemon stopped or crashed) has none either. The time the dialer gave up is no hang-up,
    and stored as one it made talk time and occupancy in the reports as long as the wait."""
    if tl is not None:
        return tl.hungup_at
    return None if result is CallResult.FAILED_UNKNOWN else now


def _disposition_text(d: Disposition | None) -> str | None:
    if d is None:
        return None
    text = d.status_detail or d.status.value
    return text[:100]


def queue_timeout(connect_limit: timedelta) -> int:
    """The connect limit as Queue()'s timeout argument: Asterisk reads it with atoi() and
    counts whole seconds ("1.5" is 1 s, "0.5" is 0: Queue() gives up before ringing anyone).
    Rounded down, so the caller never waits past the limit for an agent; at least 1 s."""
    return max(1, math.floor(connect_limit.total_seconds()))
