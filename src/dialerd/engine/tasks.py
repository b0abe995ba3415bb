"""Runs the tasks beyond the call (export, email, webhook, wait, new_contact) of a campaign.

Each run leases the due open contacts of every non-call task (so two runners or two daemons
never send one email twice), hands them to the task's executor and records each outcome as a
transition through the campaign's taskflow rules (contact, history and rule in one
transaction). It also lets contacts whose delayed rule is due enter their next task.

A task whose settings cannot work is skipped with one logged error and its contacts wait;
a batch that fails as a whole gives its leases back and is tried again on a later run.

Engine hook: run :meth:`TaskService.run` in the engine's TaskGroup (cancel it at stop); it
follows the store's campaigns by itself and also watches drop folders and inbound calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from dialerd.ami import AsteriskServer
from dialerd.domain.changes import Transition
from dialerd.domain.clock import Clock
from dialerd.domain.enums import TaskType
from dialerd.domain.model import Contact, Task, TaskflowRule
from dialerd.engine.dropfolder import DropFolderWatcher
from dialerd.engine.inbound import InboundIntake
from dialerd.engine.outage import StoreOutage
from dialerd.store import Store
from dialerd.store.errors import NotFound, StaleContact, StoreError, StoreUnavailable
from dialerd.store.task_lease import due_task_ids, has_pending_due, lease_task_contacts
from dialerd.taskflow.decide import UnknownTask, transition_for
from dialerd.taskflow.tasks import (
    Executor,
    TaskConfigError,
    TaskItem,
    TaskOutcome,
    TaskRunError,
    build_executor,
)
from dialerd.taskflow.tasks.settings import ExportSettings, parse_settings

log = structlog.get_logger(__name__)

#: Outcomes written per transaction when a batch ends (``TaskRunner._apply_all``).
APPLY_BATCH = 1000

#: (task, campaign name, the runner's clock) -> the task's executor.
ExecutorFactory = Callable[[Task, str, Clock], Executor | None]


@dataclass(frozen=True, slots=True)
class TaskRunnerSettings:
    """Times in seconds of the runner's clock."""

    tick_seconds: float = 1.0
    lease_ttl: float = 600.0
    batch_size: int = 50
    export_batch_size: int = 5000
    campaigns_refresh_seconds: float = 10.0


#: One task's batch to run: the task, its campaign's name, executor, rules and task ids.
_Batch = tuple[Task, str, Executor, Sequence[TaskflowRule], Mapping[str, int]]


class TaskRunner:
    """The non-call tasks of one campaign."""

    def __init__(
        self,
        store: Store,
        campaign_id: int,
        clock: Clock,
        *,
        holder: str,
        settings: TaskRunnerSettings | None = None,
        factory: ExecutorFactory = build_executor,
    ) -> None:
        self.store = store
        self.campaign_id = campaign_id
        self.clock = clock
        self.holder = holder
        self.settings = settings or TaskRunnerSettings()
        self._factory = factory
        self._executors: dict[int, tuple[str, Executor | None]] = {}
        #: Per task name: why it is not running (bad settings, last batch failure).
        self.errors: dict[str, str] = {}
        #: The campaign's name as last read (for metrics and logs).
        self.campaign_name = str(campaign_id)
        self._last_export: dict[int, datetime] = {}
        self._log = log.bind(campaign_id=campaign_id)
        self._outage = StoreOutage(self._log, "tasks")

    def _executor(self, task: Task, campaign: str) -> Executor | None:
        key = json.dumps(task.settings, sort_keys=True, default=str)
        cached = self._executors.get(task.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            executor = self._factory(task, campaign, self.clock)
        except TaskConfigError as exc:
            if self.errors.get(task.name) != str(exc):
                self._log.error("task not run: bad settings", task=task.name, error=str(exc))
            self.errors[task.name] = str(exc)
            self._executors.pop(task.id, None)
            return None
        self.errors.pop(task.name, None)
        self._executors[task.id] = (key, executor)
        return executor

    async def run(self) -> None:
        """Run until cancelled; a failing run is logged and the next one tried.

        Each task's batch runs on its own: a slow one (a webhook to a CRM that times out) does
        not hold up the others (an email, a wait), and starts again only when it is done.
        """
        busy: set[int] = set()

        async def alone(batch: _Batch) -> None:
            try:
                await self._run_task(*batch)
            except StoreUnavailable as exc:
                self._outage.failed(exc, task=batch[0].name)
            except StoreError as exc:
                self._log.warning("task run failed", task=batch[0].name, error=str(exc))
            except Exception:
                self._log.exception("task run crashed; trying again", task=batch[0].name)
            finally:
                busy.discard(batch[0].id)

        async with asyncio.TaskGroup() as tg:
            while True:
                try:
                    for batch in await self._due(skip=busy):
                        busy.add(batch[0].id)
                        tg.create_task(alone(batch), name=f"task-{batch[0].name}")
                    self._outage.ok()
                except StoreUnavailable as exc:
                    self._outage.failed(exc)  # one line per outage; the contacts wait
                except StoreError as exc:
                    self._log.warning("task run failed", error=str(exc))
                except Exception:
                    self._log.exception("task run crashed; trying again")
                await self.clock.sleep(self.settings.tick_seconds)

    async def run_once(self) -> int:
        """One pass over every non-call task, one after another; how many contacts got an
        outcome."""
        done = 0
        for batch in await self._due():
            done += await self._run_task(*batch)
        return done

    async def _due(self, skip: Collection[int] = ()) -> list[_Batch]:
        """The tasks with contacts to work now (promoting delayed moves first), but ``skip``."""
        now = self.clock.now()
        while await has_pending_due(self.store, self.campaign_id, now):
            await self.store.promote_due(now, campaign_id=self.campaign_id, limit=5000)
        campaign = await self.store.get_campaign(self.campaign_id)
        self.campaign_name = campaign.name
        tasks = await self.store.tasks(self.campaign_id)
        task_ids = {t.name: t.id for t in tasks}
        runnable: list[tuple[Task, Executor]] = []
        for task in tasks:
            if task.type is TaskType.CALL or task.id in skip:
                continue
            executor = self._executor(task, campaign.name)
            if executor is not None:
                runnable.append((task, executor))
        due = await due_task_ids(self.store, self.campaign_id, [t.id for t, _ in runnable], now)
        if not due:
            return []
        rules = await self.store.rules(self.campaign_id)
        return [
            (task, campaign.name, executor, rules, task_ids)
            for task, executor in runnable
            if task.id in due
        ]

    async def export_now(self, task_name: str) -> int:
        """Run an export task at once, whatever its schedule (an export on demand)."""
        campaign = await self.store.get_campaign(self.campaign_id)
        tasks = await self.store.tasks(self.campaign_id)
        task = next((t for t in tasks if t.name == task_name), None)
        if task is None or task.type is not TaskType.EXPORT:
            raise TaskConfigError(f"{campaign.name}: no export task {task_name!r}")
        executor = self._executor(task, campaign.name)
        if executor is None:
            raise TaskConfigError(
                self.errors.get(task.name)
                or f"{campaign.name}: export task {task_name!r} has no folder or path"
            )
        rules = await self.store.rules(self.campaign_id)
        self._last_export.pop(task.id, None)
        task_ids = {t.name: t.id for t in tasks}
        return await self._run_task(task, campaign.name, executor, rules, task_ids)

    def _export_due(self, task: Task, now: datetime) -> bool:
        if task.type is not TaskType.EXPORT:
            return True
        try:
            every = parse_settings(ExportSettings, task.settings, task.name).every
        except TaskConfigError:
            return False
        last = self._last_export.get(task.id)
        return every is None or last is None or now - last >= every

    async def _run_task(
        self,
        task: Task,
        campaign: str,
        executor: Executor,
        rules: Sequence[TaskflowRule],
        task_ids: Mapping[str, int],
    ) -> int:
        now = self.clock.now()
        if not self._export_due(task, now):
            return 0
        n = (
            self.settings.export_batch_size
            if task.type is TaskType.EXPORT
            else self.settings.batch_size
        )
        ttl = timedelta(seconds=self.settings.lease_ttl)
        contacts = await lease_task_contacts(self.store, task.id, n, self.holder, ttl, now)
        if not contacts:
            return 0
        if task.type is TaskType.EXPORT:
            self._last_export[task.id] = now
        applied: dict[int, int] = {}  # contact id -> 1 when its outcome moved it on

        async def record(item: TaskItem, outcome: TaskOutcome) -> None:
            # Stored the moment the delivery is made: after a crash only the deliveries then
            # in flight are made again, not the whole batch.
            contact = item.contact
            if contact.id not in applied:
                applied[contact.id] = 0
                applied[contact.id] = await self._apply(contact, outcome, task, rules, task_ids)

        try:
            entries = (
                await self.store.task_entries([c.id for c in contacts])
                if executor.needs_entry
                else {}
            )
            items = [await self._item(c, campaign, task, executor, entries) for c in contacts]
            outcomes = await executor.execute(items, now, record)
            if len(outcomes) != len(contacts):
                raise TaskRunError(f"{len(outcomes)} outcomes for {len(contacts)} contacts")
        except TaskRunError as exc:
            if self.errors.get(task.name) != str(exc):  # once per new reason, not every tick
                self._log.error(
                    "task batch failed; contacts stay open", task=task.name, error=str(exc)
                )
            self.errors[task.name] = str(exc)
            await self.store.release([c.id for c in contacts if c.id not in applied], self.holder)
            return sum(applied.values())
        except Exception:
            self._log.exception("task batch crashed; contacts stay open", task=task.name)
            await self.store.release([c.id for c in contacts if c.id not in applied], self.holder)
            return sum(applied.values())
        self.errors.pop(task.name, None)
        rest = [
            (contact, outcome)
            for contact, outcome in zip(contacts, outcomes, strict=True)
            if contact.id not in applied
        ]
        return sum(applied.values()) + await self._apply_all(rest, task, rules, task_ids)

    async def _item(
        self, c: Contact, campaign: str, task: Task, executor: Executor, entries: Mapping[int, int]
    ) -> TaskItem:
        entry = entries.get(c.id, 0)
        if not executor.needs_history:
            return TaskItem(c, campaign, task.name, entry=entry)
        history = await self.store.history(c.id)
        attempts = await self.store.attempts(c.id)
        last = attempts[-1] if attempts else None
        return TaskItem(c, campaign, task.name, last, tuple(history), entry=entry)

    def _transition(
        self,
        contact: Contact,
        outcome: TaskOutcome,
        task: Task,
        rules: Sequence[TaskflowRule],
        task_ids: Mapping[str, int],
        now: datetime,
    ) -> Transition | None:
        """The outcome's transition; None (logged) when a taskflow rule names no task."""
        try:
            t = transition_for(
                contact,
                outcome.outcome,
                rules=rules,
                task_ids=task_ids,
                now=now,
                actor=f"task:{task.name}",
                count_attempt=outcome.count_attempt,
            )
        except UnknownTask as exc:
            self._log.error("taskflow rule broken", task=task.name, error=str(exc))
            return None
        if outcome.fields_update:
            t = replace(t, fields_update=outcome.fields_update)
        return t

    async def _apply(
        self,
        contact: Contact,
        outcome: TaskOutcome,
        task: Task,
        rules: Sequence[TaskflowRule],
        task_ids: Mapping[str, int],
    ) -> int:
        t = self._transition(contact, outcome, task, rules, task_ids, self.clock.now())
        if t is None:
            await self.store.release([contact.id], self.holder)
            return 0
        try:
            await self.store.apply_transition(t)
        except (StaleContact, NotFound) as exc:
            self._log.info("task outcome dropped", contact=contact.id, reason=str(exc))
            return 0
        return 1

    async def _apply_all(
        self,
        pairs: Sequence[tuple[Contact, TaskOutcome]],
        task: Task,
        rules: Sequence[TaskflowRule],
        task_ids: Mapping[str, int],
    ) -> int:
        """The outcomes a batch returned at its end (an export's whole file), written
        :data:`APPLY_BATCH` to a transaction (``Store.apply_transitions``); how many moved on.

        One transaction per contact took an export of 5,000 contacts 5,000 commits. A crash
        between the file and the last commit leaves the uncommitted contacts leased, as it
        left those not yet written one by one: the next start takes the leases back and they
        go into the next file (a contact is never marked exported without being in a file)."""
        done = 0
        for start in range(0, len(pairs), APPLY_BATCH):
            now = self.clock.now()
            chosen: list[Transition] = []
            broken: list[int] = []
            for contact, outcome in pairs[start : start + APPLY_BATCH]:
                t = self._transition(contact, outcome, task, rules, task_ids, now)
                if t is None:
                    broken.append(contact.id)
                else:
                    chosen.append(t)
            if broken:
                await self.store.release(broken, self.holder)
            for t, result in zip(chosen, await self.store.apply_transitions(chosen), strict=True):
                if isinstance(result, StoreError):
                    self._log.info("task outcome dropped", contact=t.contact_id, reason=str(result))
                else:
                    done += 1
        return done


class TaskService:
    """Every campaign's task runner and drop folders, and the inbound intake, for one store.

    The engine runs ``TaskService(store, clock, holder=..., servers=...).run()`` in its
    TaskGroup and cancels it at stop. Campaigns added or removed are followed by re-reading
    the store every ``campaigns_refresh_seconds``.
    """

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        holder: str,
        servers: Mapping[str, AsteriskServer] | None = None,
        settings: TaskRunnerSettings | None = None,
        factory: ExecutorFactory = build_executor,
    ) -> None:
        self.store = store
        self.clock = clock
        self.holder = f"{holder}/tasks"
        self.settings = settings or TaskRunnerSettings()
        self.runners: dict[int, TaskRunner] = {}
        self.dropfolders = DropFolderWatcher(store, clock)
        self.inbound = InboundIntake(store, servers or {}, clock) if servers else None
        self._factory = factory

    async def run(self) -> None:
        try:
            # Leases this holder still has are a previous run's, cut short (a crash, kill -9):
            # taken back now, so its contacts go out at once, not when the leases expire.
            reclaimed = await self.store.release_all(self.holder)
        except StoreError as exc:
            log.warning("task leases of a previous run not released", error=str(exc))
        else:
            if reclaimed:
                log.info("task leases of a previous run released", contacts=reclaimed)
        async with asyncio.TaskGroup() as tg:
            if self.inbound is not None:
                tg.create_task(self.inbound.run(), name="task-inbound")
            tg.create_task(self.dropfolders.run(), name="task-dropfolders")
            tg.create_task(self._campaigns(tg), name="task-campaigns")

    async def _campaigns(self, tg: asyncio.TaskGroup) -> None:
        running: dict[int, asyncio.Task[None]] = {}
        while True:
            try:
                campaigns = await self.store.list_campaigns()
            except StoreError as exc:
                log.warning("campaigns not read", error=str(exc))
                campaigns = None
            if campaigns is not None:
                ids = {c.id for c in campaigns}
                for cid, t in list(running.items()):
                    if cid not in ids:
                        t.cancel()
                        del running[cid]
                        self.runners.pop(cid, None)
                for c in campaigns:
                    if c.id not in running:
                        runner = TaskRunner(
                            self.store,
                            c.id,
                            self.clock,
                            holder=self.holder,
                            settings=self.settings,
                            factory=self._factory,
                        )
                        self.runners[c.id] = runner
                        running[c.id] = tg.create_task(runner.run(), name=f"tasks-{c.name}")
            await self.clock.sleep(self.settings.campaigns_refresh_seconds)
