"""The engine facade: what the daemon, the REST API and the MQTT bus talk to.

One :class:`Engine` drives every campaign of one store over one or more Asterisk servers. Its
:meth:`Engine.run` owns a single ``asyncio.TaskGroup``: one event pump per server (AMI updates
routed to the runner that owns the attempt, agent changes to every runner) and one supervised
runner per campaign. A runner that crashes is logged and restarted with backoff; the others
keep dialing. :meth:`Engine.stop` drains: no new calls, calls in progress may finish until the
bound, then the rest are closed and leases given back.

Facade methods that change a campaign's state (dispositions, preview answers) are executed in
that campaign's runner loop (:meth:`CampaignRunner.submit`), so they never race with events.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from dialerd.ami import (
    AgentChange,
    AgentStatus,
    AmiActionFailed,
    AmiError,
    AsteriskServer,
    CallOutcome,
    CallProgress,
    LinkState,
    ServerUpdate,
)
from dialerd.ami import LinkStateChange as AmiLinkStateChange
from dialerd.domain.clock import Clock
from dialerd.domain.compliance import ComplianceFloor
from dialerd.domain.enums import AgentState, CampaignStatus, DialMode, Status, is_reserved_detail
from dialerd.domain.model import Agent, Campaign, RetryPolicy
from dialerd.engine.disposition import DispositionState, DispositionTaken
from dialerd.engine.errors import (
    AgentNotEligible,
    EngineError,
    EngineNotRunning,
    InvalidDisposition,
    NoSuchCall,
    NoSuchPreview,
    UnknownAgent,
    UnknownCampaign,
)
from dialerd.engine.events import (
    AgentStateChanged,
    EngineEvent,
    EngineListener,
    OutcomesJournaled,
)
from dialerd.engine.journal import (
    JOURNALED,
    QUEUED,
    RECOVERED,
    JournalEntry,
    OutcomeJournal,
    QueuedDisposition,
    finished_event,
)
from dialerd.engine.outage import StoreOutage
from dialerd.engine.pools import POOL_PENALTY, AgentPools, PoolCandidate
from dialerd.engine.queues import (
    CampaignQueue,
    QueueBook,
    QueueChange,
    agent_queues,
    needed_queues,
)
from dialerd.engine.runner import CampaignRunner
from dialerd.engine.settings import EngineSettings
from dialerd.engine.status import AgentView, CampaignView, EngineStatus
from dialerd.store import Store
from dialerd.store.errors import NotFound, StoreError, StoreUnavailable
from dialerd.taskflow.call import Disposition

log = structlog.get_logger(__name__)

#: How long a campaign removed by a reload may still finish its calls.
_REMOVED_DRAIN = 3600.0


class Engine:
    """The campaign engine. ``servers`` are started (and closed) by the caller."""

    def __init__(
        self,
        store: Store,
        servers: Mapping[str, AsteriskServer],
        clock: Clock,
        settings: EngineSettings | None = None,
    ) -> None:
        if not servers:
            raise ValueError("the engine needs at least one Asterisk server")
        self.store = store
        self.servers = dict(servers)
        self.clock = clock
        self.settings = settings or EngineSettings()
        self._runners: dict[int, CampaignRunner] = {}
        self._supervisors: dict[int, asyncio.Task[None]] = {}
        self._attempts: dict[str, CampaignRunner] = {}
        self._listeners: list[EngineListener] = []
        self._agents_by_name: dict[str, Agent] = {}
        self._agents_by_iface: dict[str, Agent] = {}
        # queue memberships this engine made, per (server, interface): queue -> (name, penalty);
        # re-made after an Asterisk restart (runtime members are lost with it)
        self._logins: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}
        self._paused: dict[tuple[str, str], tuple[bool, str]] = {}
        self._left: set[tuple[str, int]] = set()
        """(interface, campaign id): the agent logged out of that one campaign; a reload does
        not put them back into its queues."""
        self._agent_states: dict[str, tuple[AgentState, datetime]] = {}
        self._link_lost_at: dict[str, datetime] = {}
        """Servers whose AMI link went down after being ready, and when: their agents' state is
        not known (only the state last seen) until the link is back and resynchronised."""
        self._pools = AgentPools()
        self._penalties: dict[tuple[str, str, str], int] = {}
        """(server, interface, campaign queue) -> the penalty last set there (see
        ``POOL_PENALTY``); absent: not known (the agent was already in the queue)."""
        self._drain_deadline: float | None = None
        self._tg: asyncio.TaskGroup | None = None
        self._running = False
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._log = log
        self._agents_outage = StoreOutage(log, "agent states")
        self._dialing_hold: str | None = None
        self._journal = OutcomeJournal(self.settings.journal) if self.settings.journal else None
        self._recovered: dict[str, QueuedDisposition] = {}
        """Attempt id -> a disposition the journal kept across a crash, for the runner that
        closes the attempt left open (``take_recovered_disposition``)."""
        self._queues = QueueBook()
        """The queues each server lacks (:mod:`dialerd.engine.queues`)."""
        self._check_queues_now = asyncio.Event()

    # -- listeners ------------------------------------------------------------------------------

    def add_listener(self, callback: EngineListener) -> None:
        """``callback(event)`` for every engine event, synchronously; it must not block."""
        self._listeners.append(callback)

    def remove_listener(self, callback: EngineListener) -> None:
        if callback in self._listeners:
            self._listeners.remove(callback)

    def emit(self, event: EngineEvent) -> None:
        for cb in list(self._listeners):
            try:
                cb(event)
            except Exception:
                self._log.exception("engine listener failed", event=type(event).__name__)

    # -- RunnerHost -----------------------------------------------------------------------------

    def register_attempt(self, attempt_id: str, runner: CampaignRunner) -> None:
        self._attempts[attempt_id] = runner

    def unregister_attempt(self, attempt_id: str) -> None:
        self._attempts.pop(attempt_id, None)

    def journal_outcomes(self, runner: CampaignRunner, entries: list[JournalEntry]) -> None:
        """Outcomes the store could not take at a stop: into the journal (fsync'd), written by
        the next start. Without a journal, or when it cannot be written, each is logged as an
        error with what it was (the outcome is then lost; the next start closes its attempt as
        ``failed_unknown``)."""
        if not entries:
            return
        journal = self._journal
        error: str | None = "no journal configured"
        if journal is not None:
            try:
                journal.append(entries)
            except OSError as exc:
                error = f"journal {str(journal.path)!r} not written: {exc}"
            else:
                self._log.warning(
                    "outcomes not stored at stop: database unavailable; journaled, written at"
                    " the next start",
                    campaign=runner.name,
                    outcomes=len(entries),
                    attempts=[e.attempt_id for e in entries],
                    journal=str(journal.path),
                )
                self.emit(OutcomesJournaled(JOURNALED, len(entries), str(journal.path)))
                return
        for e in entries:
            t = e.transition
            assert t.attempt is not None
            self._log.error(
                "outcome not stored at stop: database unavailable",
                campaign=runner.name,
                attempt=t.attempt.id,
                contact=t.contact_id,
                result=t.attempt.result.value if t.attempt.result is not None else None,
                disposition=t.attempt.disposition,
                status=f"{t.status.value}/{t.status_detail}",
                why=error,
            )

    def take_recovered_disposition(self, attempt_id: str) -> QueuedDisposition | None:
        """The agent's disposition of a call whose outcome a crash lost (journaled when it was
        taken, during an outage), for the runner closing its attempt; once."""
        q = self._recovered.pop(attempt_id, None)
        if q is not None and self._journal is not None:
            self.emit(OutcomesJournaled(RECOVERED, 1, str(self._journal.path)))
        return q

    def _journal_queued(self, runner: CampaignRunner, attempt_id: str) -> None:
        """A disposition queued in an outage is journaled at once (one ``fsync``, only in an
        outage): the call's outcome is in memory only, and a crash would lose the agent's
        result with it. A stop journals the whole outcome; this line covers the crash."""
        journal = self._journal
        line = runner.queued_disposition(attempt_id, self.clock.now())
        if journal is None or line is None:
            return
        try:
            journal.append([line])
        except OSError as exc:
            self._log.warning(
                "disposition kept in memory only: journal not written",
                campaign=runner.name,
                attempt=attempt_id,
                contact=line.contact_id,
                journal=str(journal.path),
                error=str(exc),
            )
            return
        self.emit(OutcomesJournaled(QUEUED, 1, str(journal.path)))

    async def _replay_journal(self) -> None:
        """The outcomes a previous run journaled at its stop, into the store before any
        campaign dials (and before the attempts it left open are closed as lost)."""
        journal = self._journal
        if journal is None:
            return
        problem = journal.usable()
        if problem is not None:
            self._log.warning(
                "outcomes the database cannot take at a stop will be lost: no journal",
                journal=str(journal.path),
                why=problem,
            )
        if not journal.path.is_file():
            await journal.forget(self.store)  # what a crash after the file's removal left
            return
        done = await journal.replay(self.store, self.settings.holder)
        self._recovered = done.pending
        self._log.info(
            "journal of outcomes replayed",
            journal=str(journal.path),
            **{
                k: done.counts.get(k, 0)
                for k in ("applied", "already_stored", "stale", "superseded", "failed")
            },
            kept_aside=str(done.kept) if done.kept is not None else None,
            dispositions_of_lost_calls=len(done.pending),
        )
        for outcome, count in sorted(done.counts.items()):
            self.emit(OutcomesJournaled(outcome, count, str(journal.path)))
        # Each call written has its "call finished" event, as it would have had at its end.
        names: dict[int, dict[int, str]] = {}
        for entry, written in done.written:
            a = entry.transition.attempt
            if a is None or a.result is None:
                continue
            if a.campaign_id not in names:
                try:
                    names[a.campaign_id] = {
                        t.id: t.name for t in await self.store.tasks(a.campaign_id)
                    }
                except StoreError:
                    names[a.campaign_id] = {}
            self.emit(finished_event(entry, written, names[a.campaign_id]))

    def agent_by_interface(self, interface: str) -> Agent | None:
        return self._agents_by_iface.get(interface)

    def paces_for(self, status: AgentStatus, runner: CampaignRunner) -> bool:
        """Whether ``runner`` counts the agent in its pacing (see :mod:`dialerd.engine.pools`)."""
        owner = self._pools.owner(status.interface)
        if owner is None:
            owner = self._pools.place(status.interface, self._candidates(status))
        return owner == runner.campaign.id

    def claim_agent(self, status: AgentStatus, runner: CampaignRunner) -> None:
        """``runner`` takes the agent into its pool now (a personal callback due for them)."""
        if self._pools.owner(status.interface) != runner.campaign.id:
            self._pools.claim(status.interface, runner.campaign.id)
            self._redeliver(status.interface)

    @property
    def dialing_hold(self) -> str | None:
        return self._dialing_hold

    def queue_missing(self, server: str, queue: str) -> bool:
        """Whether ``server`` lacks ``queue`` (as its latest check, or a refused QueueAdd,
        found): no call may be sent into it there."""
        return self._queues.is_missing(server, queue)

    def missing_queues(self) -> dict[str, tuple[str, ...]]:
        """Server -> the queues the campaigns need that it lacks (for /healthz, metrics)."""
        return self._queues.missing()

    def hold_dialing(self, reason: str | None) -> None:
        """No campaign places new calls while ``reason`` holds (e.g. the daemon's instance
        lock is lost: another daemon may be starting under the same lease holder); calls in
        progress, dispositions and outcomes go on. ``None`` lifts it."""
        if reason == self._dialing_hold:
            return
        self._dialing_hold = reason
        for runner in self._runners.values():
            runner.wake()

    # -- agent pools ----------------------------------------------------------------------------

    def _candidates(
        self, status: AgentStatus, joining: Sequence[CampaignRunner] = ()
    ) -> list[PoolCandidate]:
        agent = self._agents_by_iface.get(status.interface)
        return [
            PoolCandidate(r.campaign.id, r.name, _base_penalty(agent, r), r.dialing)
            for r in self._runners.values()
            if r in joining or r.is_member(status)
        ]

    def _penalty(self, agent: Agent | None, runner: CampaignRunner, queue: str) -> int:
        """The agent's penalty in one of the campaign's queues: 0 for a campaign they name, 1
        for one taken by skill; in the campaign queue, ``POOL_PENALTY`` more while another
        campaign paces for them, so that a caller of this campaign goes to its own agents first
        and takes this one only when none of those is free."""
        base = _base_penalty(agent, runner)
        if agent is None or queue != runner.queue:
            return base
        owner = self._pools.owner(agent.interface)
        return base if owner is None or owner == runner.campaign.id else base + POOL_PENALTY

    async def _sync_penalties(self) -> None:
        """The queue penalties follow the pools (see :meth:`_penalty`)."""
        for (srv, iface), queues in list(self._logins.items()):
            server = self.servers.get(srv)
            if server is None or not server.ready:
                continue
            agent = self._agents_by_iface.get(iface)
            for r in list(self._runners.values()):
                if r.queue not in queues or self._queues.is_missing(srv, r.queue):
                    continue
                want = self._penalty(agent, r, r.queue)
                key = (srv, iface, r.queue)
                if self._penalties.get(key) == want:
                    continue
                try:
                    await server.queue_penalty(r.queue, iface, want)
                except AmiError as exc:
                    self._log.warning("agent penalty not set", interface=iface, error=str(exc))
                    continue
                self._penalties[key] = want
                entry = queues.get(r.queue)  # a log-off may have come meanwhile
                if entry is not None:
                    queues[r.queue] = (entry[0], want)  # an Asterisk restart re-adds it so

    def _member_of(self, status: AgentStatus) -> tuple[str, ...]:
        """The campaigns in whose queues the agent is."""
        return tuple(r.name for r in self._runners.values() if r.is_member(status))

    def _paced_by(self, interface: str) -> str | None:
        owner = self._pools.owner(interface)
        runner = self._runners.get(owner) if owner is not None else None
        return runner.name if runner is not None else None

    def _status_of(self, interface: str) -> tuple[str, AgentStatus] | None:
        for name, server in self.servers.items():
            status = server.agents.get(interface)
            if status is not None and status.queues:
                return name, status
        return None

    def _redeliver(self, interface: str) -> None:
        """The agent's status again to every runner, after its pool changed."""
        found = self._status_of(interface)
        if found is None:
            return
        server, status = found
        for runner in self._runners.values():
            runner.deliver(server, AgentChange(status, status.state))

    def _replace_agents(self) -> None:
        """Agents whose campaign stopped dialing (or is gone) move to one that dials."""
        for interface, owner in list(self._pools.owners().items()):
            runner = self._runners.get(owner)
            if runner is not None and runner.dialing:
                continue
            found = self._status_of(interface)
            cands = self._candidates(found[1]) if found is not None else []
            if self._pools.place(interface, cands) != owner:
                self._redeliver(interface)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def run(self) -> None:
        """Drive every campaign until :meth:`stop` has drained them."""
        if self._running:
            raise RuntimeError("the engine is already running")
        self._running = True
        self._stopping = False
        self._drain_deadline = None
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        try:
            await self._replay_journal()
            await self._load_agents()
            released = await self.store.release_all(self.settings.holder)
            if released:
                self._log.info("released leases of a previous run", count=released)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                pumps = [
                    tg.create_task(self._pump(s), name=f"engine-pump-{name}")
                    for name, s in self.servers.items()
                ]
                pumps.append(tg.create_task(self._save_agent_states(), name="engine-agents"))
                pumps.append(tg.create_task(self._check_queues_loop(), name="engine-queues"))
                for campaign in await self.store.list_campaigns():
                    self._start_runner(campaign)
                self._check_queues_now.set()  # the queues of the campaigns just started
                await self._stop_requested.wait()
                while self._supervisors:
                    await asyncio.gather(*self._supervisors.values(), return_exceptions=True)
                    self._supervisors = {k: t for k, t in self._supervisors.items() if not t.done()}
                for p in pumps:
                    p.cancel()
                await self._flush_agent_states()
        finally:
            # Cancelled (the daemon's real-time bound on the drain passed) or failed: what the
            # runners still hold is closed and journaled, not lost with the process.
            for runner in self._runners.values() if self._journal is not None else ():
                if runner.calls or runner.has_inbox:
                    runner.close_in_memory("the daemon stopped before the call was over")
            self._tg = None
            self._running = False
            self._runners.clear()
            self._supervisors.clear()
            self._attempts.clear()
            self._stopped.set()

    async def stop(self, drain: float = 60.0) -> None:
        """No new calls; calls in progress may finish for ``drain`` seconds (engine clock)."""
        if not self._running:
            return
        self._stopping = True
        deadline = self.clock.monotonic() + max(0.0, drain)
        self._drain_deadline = deadline
        for runner in self._runners.values():
            runner.request_stop(deadline)
        self._stop_requested.set()
        await self._stopped.wait()

    def set_rules(self, *, compliance: ComplianceFloor | None, retry: RetryPolicy) -> None:
        """The daemon's rules changed (a reload); the next :meth:`reload` applies them."""
        self.settings = dataclasses.replace(self.settings, compliance=compliance, retry=retry)
        for runner in self._runners.values():
            runner.use_settings(self.settings)

    async def reload(self) -> None:
        """Re-read campaigns and agents from the store; calls in progress carry on."""
        await self._load_agents()
        if not self._running or self._stopping or self._tg is None:
            return
        campaigns = {c.id: c for c in await self.store.list_campaigns()}
        for cid, runner in list(self._runners.items()):
            if cid in campaigns:
                runner.update_campaign(campaigns[cid])
            else:
                runner.request_stop(self.clock.monotonic() + _REMOVED_DRAIN)
        for cid, campaign in campaigns.items():
            if cid not in self._runners:
                self._start_runner(campaign)
        self._check_queues_now.set()  # a new campaign or queue, new agents
        await self._join_new_queues()

    async def _join_new_queues(self) -> None:
        """Agents this engine logged in join the queues of campaigns that became theirs (a
        campaign created or its queue changed, an agent given another campaign), as a log-in
        would, paused if they are on a break. Queues of campaigns they no longer take are
        left alone (calls in progress may still be on the way to them)."""
        for (srv, iface), queues in list(self._logins.items()):
            agent = self._agents_by_iface.get(iface)
            server = self.servers.get(srv)
            if agent is None or server is None or not queues:
                continue
            runners = [
                r
                for r in self._runners.values()
                if r.stop_deadline is None
                and (iface, r.campaign.id) not in self._left
                and self._eligible(agent, r)
                and any(q not in queues for q in _queues_of(r, agent))
            ]
            if not runners:
                continue
            paused, reason = self._break_of(server, iface)
            status = server.agents.get(iface)
            self._pools.pin(
                iface,
                self._candidates(
                    status or _joining_status(agent, self.clock.now()), joining=runners
                ),
                rebalance=False,
            )
            try:
                if server.ready:
                    await self._join_queues(server, agent, runners, paused, reason)
                else:  # added when the link is back (_restore_logins)
                    for r in runners:
                        for queue in _queues_of(r, agent):
                            queues.setdefault(queue, (agent.name, self._penalty(agent, r, queue)))
            except AmiError as exc:
                self._log.warning(
                    "agent not added to new campaign queues",
                    agent=agent.name,
                    campaigns=[r.name for r in runners],
                    error=str(exc),
                )
            else:
                self._log.info(
                    "agent joined new campaign queues",
                    agent=agent.name,
                    campaigns=[r.name for r in runners],
                    paused=paused,
                )
            finally:
                self._pools.unpin(iface)
                self._redeliver(iface)

    def _break_of(self, server: AsteriskServer, interface: str) -> tuple[bool, str]:
        """Whether the agent is on a break (paused in every queue) and why."""
        status = server.agents.get(interface)
        if status is None or not status.queues:
            return self._paused.get((server.name, interface), (False, ""))
        paused = all(server.paused_in(interface, q) for q in status.queues)
        return paused, status.paused_reason if paused else ""

    def _start_runner(self, campaign: Campaign) -> None:
        assert self._tg is not None
        runner = CampaignRunner(
            campaign,
            store=self.store,
            servers=self.servers,
            clock=self.clock,
            settings=self.settings,
            host=self,
        )
        self._runners[campaign.id] = runner
        if self._drain_deadline is not None:  # stop() came while the engine was starting
            runner.request_stop(self._drain_deadline)
        self._supervisors[campaign.id] = self._tg.create_task(
            self._supervise(runner), name=f"campaign-{campaign.name}"
        )

    async def _supervise(self, runner: CampaignRunner) -> None:
        await self._keep_running(runner)
        # (cancelled: the runner stays, so that ``run`` journals the calls it holds)
        if not self._stopping and self._runners.get(runner.campaign.id) is runner:
            del self._runners[runner.campaign.id]  # a campaign removed by a reload

    async def _keep_running(self, runner: CampaignRunner) -> None:
        backoff = self.settings.restart_backoff_min
        store_wait = self.settings.restart_backoff_min
        while True:
            started = self.clock.monotonic()
            try:
                await runner.run()
                return
            except Exception as exc:
                if self.clock.monotonic() - started >= self.settings.restart_backoff_reset:
                    # it ran fine for a while: this crash is a new problem, not the same one
                    # again, and waits the shortest time (as the MQTT client's reconnects do)
                    backoff = self.settings.restart_backoff_min
                cause = _first_leaf(exc)
                runner.last_error = f"{type(cause).__name__}: {cause}"
                if isinstance(cause, StoreUnavailable):
                    # Not a crash: the database is away. The runner keeps its calls (and the
                    # outcomes not yet written) and tries again soon; one line per outage.
                    runner.state = "waiting for the store"
                    if not runner.outage.down:
                        store_wait = self.settings.restart_backoff_min
                    runner.outage.failed(cause, campaign=runner.name)
                    delay = store_wait
                    store_wait = min(store_wait * 2.0, self.settings.store_retry_max)
                else:
                    runner.restarts += 1
                    runner.state = "restarting"
                    self._log.exception(
                        "campaign runner crashed; restarting",
                        campaign=runner.name,
                        restarts=runner.restarts,
                        backoff=backoff,
                    )
                    delay = backoff
                    backoff = min(backoff * 2.0, self.settings.restart_backoff_max)
            deadline = runner.stop_deadline
            if deadline is not None and self.clock.monotonic() >= deadline:
                # stopping and past the drain bound: a runner that cannot even start is given
                # up; what it holds goes to the journal
                self._log.error(
                    "campaign runner given up at stop: database unavailable",
                    campaign=runner.name,
                    calls=len(runner.calls),
                )
                runner.close_in_memory("the daemon stopped while the database was unavailable")
                runner.state = "stopped"
                return
            if deadline is not None:
                delay = min(delay, max(0.0, deadline - self.clock.monotonic()))
            await self.clock.sleep(delay)

    async def _save_agent_states(self) -> None:
        """Agent states to the store (for the API and other daemons), latest per agent; the
        agents of a campaign that stopped dialing to one that dials, and the queue penalties
        after the pools."""
        while True:
            await self.clock.sleep(self.settings.tick_seconds)
            try:
                self._replace_agents()
                await self._sync_penalties()
            except Exception:  # the pools' upkeep must not take the engine down
                self._log.exception("agent pools not kept up this tick")
            await self._flush_agent_states()

    async def _flush_agent_states(self) -> None:
        """Write the agent states collected since the last flush. With the database away they
        are kept (a newer state collected meanwhile wins) and written at a later flush; no
        error here may end the engine, whose task group this runs in."""
        pending, self._agent_states = self._agent_states, {}
        items = list(pending.items())
        for i, (name, (state, since)) in enumerate(items):
            try:
                await self.store.set_agent_state(name, state, since)
            except StoreUnavailable as exc:
                for later, value in items[i:]:
                    self._agent_states.setdefault(later, value)
                self._agents_outage.failed(exc)
                return
            except StoreError as exc:
                self._log.warning("agent state not saved", agent=name, error=str(exc))
            except Exception:
                self._log.exception("agent state not saved", agent=name)
        if items:
            self._agents_outage.ok()

    async def _pump(self, server: AsteriskServer) -> None:
        async for update in server.updates():
            try:
                await self._route(server.name, update)
            except Exception:
                self._log.exception("engine could not route an update", server=server.name)

    async def _route(self, server: str, update: ServerUpdate) -> None:
        if isinstance(update, CallProgress | CallOutcome):
            runner = self._attempts.get(update.attempt_id)
            if runner is not None:
                runner.deliver(server, update)
            elif isinstance(update, CallOutcome):
                self._log.info(
                    "outcome of an attempt no runner owns",
                    attempt=update.attempt_id,
                    result=update.result.value,
                )
            return
        if isinstance(update, AgentChange):
            # the end of a talk may move the agent to even out the campaigns' pools
            self._pools.place(
                update.status.interface,
                self._candidates(update.status),
                rebalance=update.previous is AgentState.TALKING,
            )
            for runner in self._runners.values():
                runner.deliver(server, update)
            if update.status.state is AgentState.WRAPUP:
                self._wrapup_done(update.status.interface)
            # a change the resync finds comes before the link is ready: it still carries
            # unknown_since, which _agents_known clears for every agent of the server
            self._publish_agent(server, update.status, update.previous, save=True)
            return
        if isinstance(update, AmiLinkStateChange):
            self._log.info("asterisk link", server=server, state=update.state.value)
            if update.state is LinkState.READY:
                self._agents_known(server)
                self._check_queues_now.set()  # queues.conf may have changed meanwhile
                await self._restore_logins(server)
            elif update.state in (LinkState.LOST, LinkState.FAILED_AUTH):
                self._agents_unknown(server)
            # in order with the agent changes of the resync: a runner counts the server's
            # agents in its pacing again only once it has taken in their current states
            for runner in self._runners.values():
                runner.deliver(server, update)

    def _wrapup_done(self, interface: str) -> None:
        """An agent who gave the disposition while still talking has no wrap-up to do: it
        ends as it starts. (The runner ends it too when it writes the outcome, but with the
        database away that waits, and the agent would sit out the whole wrap-up limit.)"""
        for runner in self._runners.values():
            for call in list(runner.calls.values()):
                if call.agent == interface and call.disposition_by_agent:
                    runner.end_wrapup(call)

    def _agents_unknown(self, server: str) -> None:
        """The link to ``server`` is lost: what its agents do is not known until it is back.
        Each keeps the state last seen (the resync starts from it) and is published with
        ``unknown_since``, so nobody reads a talk shown as going on for a call the dialer
        has closed as lost (``failed_unknown``). Pacing leaves them out, and the calls in
        flight on that server, until the link is back (``CampaignRunner._pacing_view``): no
        call can be offered to them, and no call placed elsewhere can reach them."""
        srv = self.servers.get(server)
        if server in self._link_lost_at or srv is None:
            return
        self._link_lost_at[server] = self.clock.now()
        for st in srv.agents.snapshot().values():
            self._publish_agent(server, st, st.state)

    def _agents_known(self, server: str) -> None:
        """The link is back and resynchronised: each agent of ``server`` is published again
        without ``unknown_since`` (a state the resync changed was published as it changed, a
        state it left alone is current again). Saved too: the stored state is the last seen."""
        if self._link_lost_at.pop(server, None) is None:
            return
        for st in self.servers[server].agents.snapshot().values():
            self._publish_agent(server, st, st.state, save=True)

    def _publish_agent(
        self,
        server: str,
        st: AgentStatus,
        previous: AgentState | None,
        *,
        save: bool = False,
    ) -> None:
        """Tell the listeners (MQTT, metrics) the agent's state as last seen, and whether it
        is current; ``save`` also queues it for the store."""
        agent = self._agents_by_iface.get(st.interface)
        self.emit(
            AgentStateChanged(
                agent=agent.name if agent is not None else st.interface,
                interface=st.interface,
                state=st.state,
                previous=previous,
                at=st.since,
                server=server,
                campaigns=self._member_of(st),
                paused_reason=st.paused_reason,
                unknown_since=self._link_lost_at.get(server),
            )
        )
        if save and agent is not None:
            # saved in batches by _save_agent_states: the pump never waits for the store
            self._agent_states[agent.name] = (st.state, st.since)

    async def _restore_logins(self, server_name: str) -> None:
        """Agents this engine logged in but Asterisk no longer lists (it restarted)."""
        server = self.servers[server_name]
        for (srv, iface), queues in list(self._logins.items()):
            if srv != server_name:
                continue
            status = server.agents.get(iface)
            listed = status.queues if status is not None else frozenset()
            paused, reason = self._paused.get((srv, iface), (False, ""))
            for queue, (name, penalty) in list(queues.items()):
                if queue in listed or self._queues.is_missing(srv, queue):
                    continue  # a missing queue: joined by _check_queues once it is defined
                try:
                    await server.queue_add(queue, iface, name, paused=paused, penalty=penalty)
                    self._penalties[(srv, iface, queue)] = penalty
                    self._log.info("agent logged in again", agent=name, queue=queue)
                except AmiActionFailed as exc:
                    if exc.no_such_queue:
                        self._queue_refused(srv, queue, name)
                    else:
                        self._log.warning("agent not logged in again", agent=name, error=str(exc))
                except AmiError as exc:
                    self._log.warning("agent not logged in again", agent=name, error=str(exc))

    # -- queues Asterisk must have ----------------------------------------------------------------

    def _needed_queues(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Server -> queue -> who needs it: for each agent, on the server it logs in to, the
        queues of every campaign it may take (as :meth:`agent_login` would join them)."""
        agents: list[tuple[Agent, str]] = []
        for agent in self._agents_by_name.values():
            try:
                agents.append((agent, self._server_for(agent).name))
            except EngineError:
                continue  # set to a server the configuration does not have: said at log-in
        return needed_queues(
            agents,
            [_campaign_queue(r) for r in self._runners.values() if r.stop_deadline is None],
        )

    async def _check_queues_loop(self) -> None:
        """Check the queues now and then every ``queue_check_seconds``, and at once when a
        link becomes ready or the campaigns are reloaded."""
        while True:
            self._check_queues_now.clear()
            try:
                await self._check_queues()
            except Exception:  # the check must not take the engine down
                self._log.exception("asterisk queues not checked")
            waiter = asyncio.ensure_future(self._check_queues_now.wait())
            try:
                await self._within(waiter, self.settings.queue_check_seconds)
            finally:
                waiter.cancel()

    async def _check_queues(self) -> None:
        """Ask each ready server for every queue it must have (``QueueStatus`` per queue)."""
        needed = self._needed_queues()
        for name, server in self.servers.items():
            if not server.ready:
                continue
            wanted = needed.get(name, {})
            checked: dict[str, bool] = {}
            for queue in wanted:
                try:
                    checked[queue] = await server.queue_defined(queue)
                except AmiError as exc:
                    self._log.warning(
                        "asterisk queues not checked", server=name, queue=queue, error=str(exc)
                    )
                    break
            change = self._queues.record(name, checked, wanted)
            await self._queues_changed(change, wanted)

    def _queue_refused(self, server: str, queue: str, agent: str) -> None:
        """A QueueAdd was refused with ``No such queue``: known missing from now on."""
        change = self._queues.note_missing(server, queue)
        if change:
            self._log_missing(change, {queue: (f"agent {agent}",)})
            self._wake_runners()
        else:
            self._log.info(
                "agent waits for a queue asterisk does not have",
                server=server,
                queue=queue,
                agent=agent,
            )

    async def _queues_changed(
        self, change: QueueChange, needed_by: Mapping[str, tuple[str, ...]]
    ) -> None:
        if not change:
            return
        self._log_missing(change, needed_by)
        for queue in change.defined:
            self._log.info(
                "asterisk queue defined: work for it resumes", server=change.server, queue=queue
            )
        if change.defined:
            await self._restore_logins(change.server)  # agents waiting for a queue join it
        self._wake_runners()

    def _log_missing(self, change: QueueChange, needed_by: Mapping[str, tuple[str, ...]]) -> None:
        for queue in change.missing:
            self._log.warning(
                "asterisk queue missing: no calls are sent to it; define it in queues.conf"
                " and run 'module reload app_queue'",
                server=change.server,
                queue=queue,
                needed_by=list(needed_by.get(queue, ())),
            )

    def _wake_runners(self) -> None:
        for runner in self._runners.values():
            runner.wake()

    async def _load_agents(self) -> None:
        agents = await self.store.agents()
        self._agents_by_name = {a.name: a for a in agents}
        self._agents_by_iface = {a.interface: a for a in agents}

    # -- lookups --------------------------------------------------------------------------------

    def _agent(self, ref: str) -> Agent:
        agent = self._agents_by_name.get(ref) or self._agents_by_iface.get(ref)
        if agent is None:
            raise UnknownAgent(f"no agent {ref!r}")
        return agent

    def _server_for(self, agent: Agent) -> AsteriskServer:
        name = self.settings.agent_servers.get(agent.name)
        if name is not None:
            server = self.servers.get(name)
            if server is None:
                raise EngineError(f"agent {agent.name!r} is set to unknown server {name!r}")
            return server
        return next(iter(self.servers.values()))

    def _runner(self, ref: str | int) -> CampaignRunner:
        for runner in self._runners.values():
            if runner.campaign.id == ref or runner.name == ref or str(runner.campaign.id) == ref:
                return runner
        raise UnknownCampaign(f"no campaign {ref!r} is running")

    @staticmethod
    def _eligible(agent: Agent, runner: CampaignRunner) -> bool:
        """A campaign's queue and the agent's skills decide who takes its calls; an agent
        naming neither campaigns nor skills takes every campaign."""
        return agent.works(runner.name, runner.queue)

    def _require_running(self, *, while_stopping: bool = True) -> None:
        """Dispositions, pauses and log-offs still work while calls drain; new work does not."""
        if not self._running or self._tg is None:
            raise EngineNotRunning("the engine is not running")
        if self._stopping and not while_stopping:
            raise EngineNotRunning("the engine is stopping")

    # -- agents -----------------------------------------------------------------------------------

    async def agent_login(
        self, agent: str, campaign: str | int | None = None, *, paused: bool = False
    ) -> list[str]:
        """Put the agent in the queue of ``campaign`` (default: every campaign it may take).

        ``paused`` logs in on a break (no call reaches the agent until :meth:`agent_pause`
        with ``False``). Returns the names of the campaigns the agent is now logged into.
        """
        self._require_running(while_stopping=False)
        a = self._agent(agent)
        if campaign is not None:
            runner = self._runner(campaign)
            if not self._eligible(a, runner):
                raise AgentNotEligible(
                    f"agent {a.name!r} may not take calls of campaign {runner.name!r}"
                )
            runners = [runner]
        else:
            runners = [r for r in self._runners.values() if self._eligible(a, r)]
        server = self._server_for(a)
        status = server.agents.get(a.interface)
        self._pools.pin(
            a.interface,
            self._candidates(status or _joining_status(a, self.clock.now()), joining=runners),
        )
        self._left -= {(a.interface, r.campaign.id) for r in runners}
        try:
            await self._join_queues(server, a, runners, paused)
        finally:
            self._pools.unpin(a.interface)
            self._redeliver(a.interface)
        return [r.name for r in runners]

    async def _join_queues(
        self,
        server: AsteriskServer,
        a: Agent,
        runners: list[CampaignRunner],
        paused: bool,
        reason: str = "",
    ) -> None:
        for r in runners:
            for queue in _queues_of(r, a):
                server.agents.wrapup_by_queue[queue] = r.wrapup_seconds
                penalty = self._penalty(a, r, queue)
                key = (server.name, a.interface, queue)
                try:
                    await server.queue_add(
                        queue, a.interface, a.name, paused=paused, penalty=penalty
                    )
                    self._penalties[key] = penalty
                except AmiActionFailed as exc:
                    if exc.no_such_queue:
                        # kept as a log-in to make: the agent joins once the queue is defined
                        # (_check_queues); their other queues are joined now
                        self._queue_refused(server.name, queue, a.name)
                    elif not exc.already_member:
                        raise
                    self._penalties.pop(key, None)  # as a previous run left it: set it anew
                self._logins.setdefault((server.name, a.interface), {})[queue] = (a.name, penalty)
            self._paused[(server.name, a.interface)] = (paused, reason)
            r.wake()

    async def reconcile_queues(self) -> QueueReconcile:
        """At start, before any log-in: the members of this engine's campaign queues
        (``<queue>`` and the agents' own ``<queue>.<agent>``) that it did not put there.

        Asterisk keeps runtime members across a daemon that died (a crash, SIGKILL, a host
        reset) and routes answered calls to them. A member that is one of our agents, in a
        queue of a campaign it may take, is *adopted*: recorded as logged in, so it is
        counted, re-added after an Asterisk restart and removed at a clean stop, as if this
        run had logged it in (its person may still be at the softphone). Any other member (an
        interface no agent of ours has, or an agent in a campaign it no longer takes) is
        *removed* (QueueRemove): nobody would manage it, and calls offered to it are lost to
        the campaign. Members defined in queues.conf (static) cannot be removed over AMI and
        are left, with a warning. Queues of other campaigns are not touched."""
        out = QueueReconcile()
        for srv, server in self.servers.items():
            if not server.ready:
                continue
            for iface, status in server.agents.snapshot().items():
                agent = self._agents_by_iface.get(iface)
                for queue in sorted(status.queues):
                    runner = self._runner_of_queue(queue)
                    if runner is None:
                        continue  # not a queue of ours
                    if self._adoptable(agent, runner, queue, srv):
                        assert agent is not None
                        logins = self._logins.setdefault((srv, iface), {})
                        logins.setdefault(queue, (agent.name, self._penalty(agent, runner, queue)))
                        out.adopted.append((srv, queue, iface))
                        self._log.info(
                            "queue member adopted", server=srv, queue=queue, agent=agent.name
                        )
                        continue
                    try:
                        await server.queue_remove(queue, iface)
                    except AmiError as exc:
                        refused = isinstance(exc, AmiActionFailed)
                        if isinstance(exc, AmiActionFailed) and exc.not_member:
                            continue
                        out.left.append((srv, queue, iface))
                        self._log.warning(
                            "unmanaged queue member not removed"
                            + (" (static in queues.conf?)" if refused else ""),
                            server=srv,
                            queue=queue,
                            interface=iface,
                            error=str(exc),
                        )
                        continue
                    out.removed.append((srv, queue, iface))
                    self._log.warning(
                        "unmanaged queue member removed",
                        server=srv,
                        queue=queue,
                        interface=iface,
                        agent=agent.name if agent is not None else None,
                    )
        return out

    def _runner_of_queue(self, queue: str) -> CampaignRunner | None:
        """The campaign whose queue (or one of whose agents' own queues) ``queue`` is; a
        campaign queue of that very name first."""
        runners = list(self._runners.values())
        exact = next((r for r in runners if r.queue == queue), None)
        return exact or next((r for r in runners if queue.startswith(r.queue + ".")), None)

    def _adoptable(self, agent: Agent | None, runner: CampaignRunner, queue: str, srv: str) -> bool:
        """One of our agents, on the server it is set to, in a queue it would join itself."""
        if agent is None or not self._eligible(agent, runner):
            return False
        try:
            if self._server_for(agent).name != srv:
                return False
        except EngineError:  # set to a server this daemon does not have
            return False
        return queue in _queues_of(runner, agent)

    async def leave_queues(self, within: float) -> int:
        """At a clean stop, after the drain: take every agent this engine logged in out of the
        queues it put them in (QueueRemove), for at most ``within`` seconds; returns how many
        memberships were removed. Asterisk would otherwise keep them as members and offer
        calls to agents no dialer manages (another dialer's, or a caller dialing the queue).
        Memberships already gone (an agent logged out, an Asterisk restart) are skipped."""
        jobs = [
            (srv, iface, queue)
            for (srv, iface), queues in self._logins.items()
            for queue in sorted(queues)
        ]
        removed: list[tuple[str, str, str]] = []

        async def one(srv: str, iface: str, queue: str) -> None:
            server = self.servers.get(srv)
            if server is None or not server.ready:
                return
            try:
                await server.queue_remove(queue, iface)
            except AmiError as exc:
                if not (isinstance(exc, AmiActionFailed) and exc.not_member):
                    self._log.warning(
                        "agent not taken out of the queue",
                        queue=queue,
                        interface=iface,
                        error=str(exc),
                    )
                return
            removed.append((srv, iface, queue))

        if not jobs:
            return 0
        try:
            async with asyncio.timeout(max(0.0, within)):
                await asyncio.gather(*(one(*job) for job in jobs))
        except TimeoutError:
            self._log.warning(
                "agents not all taken out of the queues within the bound",
                removed=len(removed),
                memberships=len(jobs),
                bound_seconds=within,
            )
        for srv, iface, queue in removed:
            logins = self._logins.get((srv, iface))
            if logins is not None:
                logins.pop(queue, None)
                if not logins:
                    self._logins.pop((srv, iface), None)
        self._log.info("agents taken out of the queues", memberships=len(removed))
        return len(removed)

    def logged_in(self, agent: str) -> bool:
        """Whether this engine logged the agent in to some queue (and not out again)."""
        a = self._agents_by_name.get(agent)
        return a is not None and any(
            iface == a.interface and queues for (_, iface), queues in self._logins.items()
        )

    async def agent_logout(self, agent: str, campaign: str | int | None = None) -> None:
        """Take the agent out of ``campaign``'s queue (default: out of every queue)."""
        self._require_running()
        a = self._agent(agent)
        server = self._server_for(a)
        status = server.agents.get(a.interface)
        queues = set(status.queues) if status is not None else set()
        if campaign is not None:
            r = self._runner(campaign)
            queues = {q for q in queues if q == r.queue or q.startswith(r.queue + ".")}
            self._left.add((a.interface, r.campaign.id))
        logins = self._logins.get((server.name, a.interface), {})
        if campaign is None:
            queues |= set(logins)
        for q in sorted(queues):
            logins.pop(q, None)
            try:
                await server.queue_remove(q, a.interface)
            except AmiActionFailed as exc:
                if not exc.not_member and not exc.no_such_queue:
                    raise
        if not logins:
            self._logins.pop((server.name, a.interface), None)

    async def agent_pause(self, agent: str, paused: bool, reason: str | None = None) -> None:
        """Pause or unpause the agent in every queue (a break; calls stop reaching them)."""
        self._require_running()
        a = self._agent(agent)
        server = self._server_for(a)
        await server.queue_pause(a.interface, paused, reason=reason or "")
        self._paused[(server.name, a.interface)] = (paused, reason or "")

    # -- dispositions and preview -----------------------------------------------------------------

    async def disposition(
        self,
        agent: str,
        status: Status | str,
        status_detail: str | None,
        note: str | None = None,
        callback_at: datetime | None = None,
        attempt_id: str | None = None,
        *,
        wait: bool = True,
    ) -> DispositionTaken:
        """The agent's result of a connected call; completes the attempt (and the wrap-up).

        ``callback_at`` books a personal follow-up for this agent. The disposition is checked
        and taken in memory at once, whether or not the database answers (an agent, an HTTP
        request or the MQTT reader must not wait for it); the answer says whether it is
        stored, waits for the call's end, or is queued until the database is back.
        ``wait``: wait up to ``settings.disposition_wait`` for the write of a call that is
        over (False: never wait, e.g. the MQTT reader).
        """
        self._require_running()
        a = self._agent(agent)
        try:
            st = Status(status)
        except ValueError:
            raise InvalidDisposition(f"unknown status {status!r}") from None
        if (
            status_detail is not None
            and is_reserved_detail(status_detail)
            and status_detail != "$none"
        ):
            raise InvalidDisposition(
                f"status_detail {status_detail!r} is reserved for the dialer; use a plain word"
            )
        if callback_at is not None and callback_at.tzinfo is None:
            raise InvalidDisposition("callback_at needs a time zone")
        d = Disposition(st, status_detail, note=note, callback_at=callback_at)
        if attempt_id is not None:
            runner = self._attempts.get(attempt_id)
            if runner is None:
                raise NoSuchCall(f"no attempt {attempt_id!r} waits for a disposition")
        else:
            found = [
                r
                for r in self._runners.values()
                if r.find_call_for_disposition(a.interface, None) is not None
            ]
            if not found:
                raise NoSuchCall(f"agent {a.name!r} has no call waiting for a disposition")
            runner = found[0]
        call = runner.accept_disposition(a.interface, attempt_id, d)
        taken = call.attempt_id
        if runner.waiting_for_store:
            # the loop waits for the database; its scan writes the call once it is back
            self._log.info(
                "disposition kept until the store is back",
                campaign=runner.name,
                agent=a.name,
                attempt=taken,
                contact=call.contact.id,
            )
            self._journal_queued(runner, taken)
            return DispositionTaken(taken, DispositionState.QUEUED)
        if call.result is None:
            return DispositionTaken(taken, DispositionState.AT_CALL_END)
        written = runner.submit(lambda: runner.write_disposition(taken))
        done = wait and await self._within(written, self.settings.disposition_wait)
        if done and written.exception() is None and written.result():
            return DispositionTaken(taken, DispositionState.STORED)
        written.add_done_callback(_consumed)
        self._log.info(
            "disposition kept until the store answers",
            campaign=runner.name,
            agent=a.name,
            attempt=taken,
            contact=call.contact.id,
        )
        self._journal_queued(runner, taken)
        return DispositionTaken(taken, DispositionState.QUEUED)

    async def _within(self, fut: asyncio.Future[Any], seconds: float) -> bool:
        """Whether ``fut`` is done within ``seconds`` of the engine's clock (not cancelled)."""
        if not fut.done() and seconds > 0:
            timer = asyncio.ensure_future(self.clock.sleep(seconds))
            try:
                await asyncio.wait({fut, timer}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
        return fut.done() and not fut.cancelled()

    def _preview_runner(self, a: Agent, contact_id: int) -> CampaignRunner:
        for r in self._runners.values():
            p = r.previews.get(a.interface)
            if p is not None and p.contact.id == contact_id:
                return r
        raise NoSuchPreview(f"contact {contact_id} is not on offer to agent {a.name!r}")

    async def preview_accept(
        self, agent: str, contact_id: int, *, hold: bool = False
    ) -> str | None:
        """Dial the offered contact for this agent. Returns the attempt id (None: not dialed).

        ``LeadTaken`` when another agent holds the lead; ``hold`` holds it for this agent
        first (``POST /leads/{contact}/call``)."""
        self._require_running(while_stopping=False)
        a = self._agent(agent)
        runner = self._preview_runner(a, contact_id)
        result: str | None = await runner.submit(
            lambda: runner.accept_preview(a.interface, contact_id, hold=hold)
        )
        return result

    async def preview_skip(self, agent: str, contact_id: int) -> None:
        self._require_running()
        a = self._agent(agent)
        runner = self._preview_runner(a, contact_id)
        await runner.submit(lambda: runner.skip_preview(a.interface, contact_id))

    # -- campaigns ------------------------------------------------------------------------------

    async def set_campaign_status(self, campaign: str | int, status: CampaignStatus) -> Campaign:
        """Enable, disable or automate a campaign; calls in progress finish normally."""
        try:
            current = await self.store.get_campaign(campaign)
        except NotFound:
            raise UnknownCampaign(f"no campaign {campaign!r}") from None
        updated = await self.store.set_campaign_status(current.id, status, self.clock.now())
        runner = self._runners.get(updated.id)
        if runner is not None:
            runner.update_campaign(updated)
        return updated

    # -- status ---------------------------------------------------------------------------------

    def stalled(self, limit: float) -> dict[str, float]:
        """Campaigns whose runner has completed no pass for more than ``limit`` seconds
        (engine clock) although it should (not stopped): name -> seconds. For /healthz: a
        runner stuck on a database that stopped answering, or waiting for the store, dials
        nothing."""
        now = self.clock.monotonic()
        return {
            r.name: round(now - r.pass_at, 1)
            for r in self._runners.values()
            if r.state != "stopped" and r.stop_deadline is None and now - r.pass_at > limit
        }

    def status(self) -> EngineStatus:
        campaigns = tuple(
            CampaignView(
                id=r.campaign.id,
                name=r.name,
                status=r.campaign.status.value,
                active=bool(r.active),
                dial_mode=r.spec.dial.mode.value,
                calls_in_flight=r.in_flight,
                awaiting_disposition=sum(1 for c in r.calls.values() if c.awaiting_disposition),
                agents_by_state=r.agents_by_state(),
                abandonment=r.window_figures(),
                last_decision=r.last_decision,
                runner=r.state,
                restarts=r.restarts,
                last_error=r.last_error,
                callbacks_waiting=dict(r.waiting_callbacks),
                since_last_pass=max(0.0, self.clock.monotonic() - r.pass_at),
            )
            for r in sorted(self._runners.values(), key=lambda r: r.name)
        )
        agents: list[AgentView] = []
        for name, server in self.servers.items():
            lost_at = self._link_lost_at.get(name)
            for st in server.agents.snapshot().values():
                known = self._agents_by_iface.get(st.interface)
                agents.append(
                    AgentView(
                        name=known.name if known is not None else st.name,
                        interface=st.interface,
                        state=st.state.value,
                        server=name,
                        campaigns=self._member_of(st),
                        paused_reason=st.paused_reason,
                        paced_by=self._paced_by(st.interface),
                        unknown_since=lost_at,
                    )
                )
        return EngineStatus(
            running=self._running,
            stopping=self._stopping,
            campaigns=campaigns,
            agents=tuple(sorted(agents, key=lambda a: a.name)),
            links={name: s.link.state.value for name, s in self.servers.items()},
        )


def _consumed(fut: asyncio.Future[Any]) -> None:
    """A disposition's write nobody waits for any more. A failure is logged here (asyncio
    would only report it at garbage collection); the call keeps its disposition and the
    runner's scan writes it later."""
    if fut.cancelled():
        return
    exc = fut.exception()
    if exc is not None:
        log.error("disposition not written yet", exc_info=exc)


def _first_leaf(exc: BaseException) -> BaseException:
    """The error inside (nested) exception groups, for a one-line status."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _base_penalty(agent: Agent | None, runner: CampaignRunner) -> int:
    """0 in a campaign the agent names (or takes as one of every campaign), 1 in one they take
    by skill (an unknown agent: 0)."""
    if agent is None or agent.every_campaign or runner.name in agent.campaigns:
        return 0
    return 1


@dataclasses.dataclass
class QueueReconcile:
    """What :meth:`Engine.reconcile_queues` found: (server, queue, interface) of each member
    adopted, removed, or left (could not be removed)."""

    adopted: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    removed: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    left: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)


def _queues_of(runner: CampaignRunner, agent: Agent) -> list[str]:
    """The campaign's queues an agent taking its calls is in: the campaign queue, and the
    agent's own queue (``<queue>.<agent>``), which takes preview calls and, in the other modes,
    the personal callbacks booked for this agent (connected to nobody else); in preview mode
    the own queue only."""
    return agent_queues(_campaign_queue(runner), agent.name)


def _campaign_queue(runner: CampaignRunner) -> CampaignQueue:
    return CampaignQueue(runner.name, runner.queue, runner.spec.dial.mode is DialMode.PREVIEW)


def _joining_status(agent: Agent, now: datetime) -> AgentStatus:
    """An agent the server does not know yet: in no queue, offline."""
    return AgentStatus(agent.interface, agent.name, AgentState.OFFLINE, now, frozenset())
