"""Errors the store raises; callers (CLI, API, engine) turn them into messages."""

from __future__ import annotations

from collections.abc import Sequence


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class SchemaNotCurrent(StoreError):
    """The database is not migrated to this version of dialerd (``dialerd migrate`` fixes it)."""

    def __init__(
        self,
        url: str,
        current: str | None,
        head: str,
        *,
        newer: bool = False,
        command: str | None = None,
        missing: bool = False,
    ) -> None:
        """``command``: how the caller's user runs the migration (default ``dialerd migrate
        --db URL``; the daemon and ``--config`` commands name their configuration file)."""
        if newer:
            message = (
                f"database {url} is at revision {current}, which this dialerd does not know "
                f"(it needs {head}): the database was migrated by a newer dialerd; run that one"
            )
        else:
            where = "has no dialerd schema" if current is None else f"is at revision {current}"
            if missing:
                where += " (the file does not exist)"
            message = (
                f"database {url} {where}, this dialerd needs {head}: "
                f"run: {command or f'dialerd migrate --db {url}'}"
            )
        super().__init__(message)
        self.url = url
        self.current = current
        self.head = head
        self.newer = newer
        self.missing = missing

    def advising(self, command: str) -> SchemaNotCurrent:
        """The same error advising ``command`` to migrate."""
        return SchemaNotCurrent(
            self.url,
            self.current,
            self.head,
            newer=self.newer,
            command=command,
            missing=self.missing,
        )


class NotFound(StoreError):
    """A campaign, task, contact or agent named by the caller does not exist."""


class AlreadyExists(StoreError):
    """Creating something whose name is taken."""


class DuplicateValue(AlreadyExists):
    """A value that names one contact of a campaign (its ``phone`` or ``external_id``, the
    ``field``) is another contact's already."""

    def __init__(self, message: str, field: str, contact_id: int) -> None:
        super().__init__(message)
        self.field = field
        self.contact_id = contact_id


class StaleContact(StoreError):
    """A transition was decided on data that changed meanwhile (moved, closed, re-leased)."""


class ContactInCall(StoreError):
    """A change of what a call is about (the contact's number, status or status detail) while
    the dialer holds the contact for that call: being dialled, ringing, connected, in wrap-up,
    or on preview offer to an agent. The call's outcome would be decided and written against
    data changed under it (another number than the one dialed, a status the agent never saw);
    other fields (names, e-mail, custom fields) may change. ``field``: the refused one;
    ``contact_ids``: the contacts in a call (a bulk edit's first few)."""

    def __init__(self, message: str, field: str, contact_ids: Sequence[int]) -> None:
        super().__init__(message)
        self.field = field
        self.contact_ids = tuple(contact_ids)


class InvalidChange(StoreError):
    """A change the data does not allow (unknown task, bad field, bad value)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened (server down, file not writable, locked)."""


class InstanceTaken(StoreError):
    """Another live daemon uses this database under the same lease holder name."""


class QueueInUse(InvalidChange):
    """A campaign's Asterisk queue is (or clashes with) another campaign's queue."""

    def __init__(self, message: str, queue: str, campaign: str) -> None:
        super().__init__(message)
        self.queue = queue
        self.campaign = campaign
