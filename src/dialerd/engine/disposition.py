"""What became of an agent's disposition (:meth:`dialerd.engine.Engine.disposition`).

A disposition is checked against the call the engine holds in memory and kept on it at once;
writing it needs the database. An agent desktop must know which of three things happened,
because only one of them means "do not send it again, but it is not stored yet".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DispositionState(StrEnum):
    STORED = "stored"
    """Written: the attempt is closed and the contact has its new status."""
    AT_CALL_END = "at_call_end"
    """The call goes on; the disposition is written with its outcome when it ends."""
    QUEUED = "queued"
    """Taken and kept in memory, not written yet: the database is away (or did not answer in
    time). The engine writes it once the database answers, once; it must not be sent again."""


@dataclass(frozen=True, slots=True)
class DispositionTaken:
    attempt_id: str
    state: DispositionState

    @property
    def stored(self) -> bool:
        return self.state is DispositionState.STORED

    @property
    def queued(self) -> bool:
        return self.state is DispositionState.QUEUED
