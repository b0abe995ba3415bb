"""Errors the store raises; callers (CLI, API, engine) turn them into messages."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class SchemaNotCurrent(StoreError):
    """The database is not migrated to this version of dialerd (``dialerd migrate`` fixes it)."""

    def __init__(self, url: str, current: str | None, head: str) -> None:
        where = "has no dialerd schema" if current is None else f"is at revision {current}"
        super().__init__(
            f"database {url} {where}, this dialerd needs {head}: run: dialerd migrate --db {url}"
        )
        self.url = url
        self.current = current
        self.head = head


class NotFound(StoreError):
    """A campaign, task, contact or agent named by the caller does not exist."""


class AlreadyExists(StoreError):
    """Creating something whose name is taken."""


class StaleContact(StoreError):
    """A transition was decided on data that changed meanwhile (moved, closed, re-leased)."""


class InvalidChange(StoreError):
    """A change the data does not allow (unknown task, bad field, bad value)."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or opened (server down, file not writable, locked)."""
