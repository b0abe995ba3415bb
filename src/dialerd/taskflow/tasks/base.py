"""What every executor of a non-call task shares: its input, its result, its retry rule.

An executor gets a batch of leased contacts and returns one :class:`TaskOutcome` per contact; it
never writes to the store. The engine's task runner turns outcomes into transitions through the
taskflow rules, so an email sent or a letter written moves the contact on like a call result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Attempt, Contact, HistoryEntry
from dialerd.taskflow.decide import Outcome


class TaskConfigError(ValueError):
    """A task's settings cannot work (bad template, missing URL...); nothing was touched."""


class TaskRunError(RuntimeError):
    """The whole batch could not run (e.g. the export folder is not writable).

    The runner gives the leases back: the contacts stay open and are tried again later.
    """


@dataclass(frozen=True, slots=True)
class TaskItem:
    """One leased contact with what an executor may need to know about it."""

    contact: Contact
    campaign: str
    task: str
    last_attempt: Attempt | None = None
    history: tuple[HistoryEntry, ...] = ()
    entry: int = 0
    """Id of the status history row that put the contact into this task (0: it has been in
    the task since it was added); loaded for executors with ``needs_entry``."""


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """The contact's new status in its task; ``fields_update`` merges into its custom fields."""

    outcome: Outcome
    fields_update: dict[str, Any] | None = None
    count_attempt: bool = False

    @property
    def status(self) -> Status:
        return self.outcome.status


#: Called by an executor with each item's outcome as soon as it has it (a delivery made).
Record = Callable[[TaskItem, TaskOutcome], Awaitable[None]]


class Executor(Protocol):
    """Runs one task type for a batch of contacts.

    ``record``, where given, is awaited with each outcome the moment the item is done, before
    the next item of a slot starts: the runner stores it at once, so a crash mid-batch sends
    again only the deliveries in flight, not every one the batch already made.
    """

    #: The runner loads history and last attempt only for executors that use them.
    needs_history: bool
    #: ... and the history row of the contact's entry into the task (``TaskItem.entry``).
    needs_entry: bool

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]: ...


def success(note: str | None = None, detail: str = StatusDetail.NONE.value) -> TaskOutcome:
    return TaskOutcome(Outcome(Status.SUCCESS, detail, note=note))


@dataclass(frozen=True, slots=True)
class DeliveryRetry:
    """Retries of a delivery (email, webhook) across runs, with capped exponential backoff.

    Waiting retries keep the contact ``open`` / ``$follow_up_auto`` with a due time, so they
    survive a restart and never block the runner; the count lives in the contact's attempts.
    """

    max_attempts: int = 3
    delay: timedelta = timedelta(minutes=1)
    max_delay: timedelta = timedelta(hours=1)
    extra: dict[str, Any] = field(default_factory=dict)

    def backoff(self, attempts_before: int) -> timedelta:
        factor: int = 2 ** min(max(attempts_before, 0), 30)
        delay: timedelta = min(self.delay * factor, self.max_delay)
        return delay

    def after_failure(
        self, contact: Contact, now: datetime, *, reason: str, detail: str, permanent: bool
    ) -> TaskOutcome:
        """Retry later, or ``failed`` with ``detail`` when permanent or out of attempts."""
        done = contact.attempts + 1
        if permanent or done >= self.max_attempts:
            why = reason if permanent else f"{reason} (after {done} attempt(s))"
            return TaskOutcome(Outcome(Status.FAILED, detail, note=why), count_attempt=True)
        return TaskOutcome(
            Outcome(
                Status.OPEN,
                StatusDetail.FOLLOW_UP_AUTO.value,
                due_at=now + self.backoff(contact.attempts),
                note=f"{reason}: retry {done + 1} of {self.max_attempts}",
            ),
            count_attempt=True,
        )
