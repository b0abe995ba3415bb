"""app_queue's state: members, waiting callers and the rrmemory choice.

Kept apart from the call flows so the member choice (penalty, pause, ringinuse=no, wrap-up,
rrmemory rotation, autofill turn-taking) can be unit-tested without channels or sockets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


class Waiting(Protocol):
    @property
    def ringing(self) -> bool: ...


@dataclass(slots=True)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    paused_reason: str = ""
    login_time: int = 0
    last_call: int = 0
    last_pause: int = 0
    calls_taken: int = 0
    busy: bool = False  # ringing or talking (ringinuse=no)
    wrapup_until: float = 0.0

    @property
    def status(self) -> int:
        """AST_DEVICE_NOT_INUSE (1) or AST_DEVICE_INUSE (2), as in QueueMemberStatus."""
        return 2 if self.busy else 1

    def available(self, now: float) -> bool:
        return not self.paused and not self.busy and now >= self.wrapup_until


@dataclass(slots=True)
class QueueStats:
    completed: int = 0
    abandoned: int = 0
    holdtime_total: float = 0.0
    talktime_total: float = 0.0

    @property
    def holdtime(self) -> int:
        n = self.completed + self.abandoned
        return round(self.holdtime_total / n) if n else 0

    @property
    def talktime(self) -> int:
        return round(self.talktime_total / self.completed) if self.completed else 0


@dataclass(slots=True)
class Queue:
    name: str
    strategy: str = "rrmemory"
    members: dict[str, Member] = field(default_factory=dict)
    callers: list[Waiting] = field(default_factory=list)
    rrpos: int = 0
    stats: QueueStats = field(default_factory=QueueStats)

    def available_members(self, now: float) -> list[Member]:
        return [m for m in self.members.values() if m.available(now)]

    def is_our_turn(self, caller: Waiting, now: float) -> bool:
        """autofill=yes: ring when fewer idle callers wait ahead than members are free."""
        ahead = 0
        for other in self.callers:
            if other is caller:
                break
            if not other.ringing:
                ahead += 1
        return ahead < len(self.available_members(now))

    def choose(self, now: float) -> Member | None:
        """The member rrmemory rings next: lowest penalty, then the first at/after ``rrpos``."""
        best: Member | None = None
        best_metric = 0
        for pos, member in enumerate(self.members.values()):
            if not member.available(now):
                continue
            metric = pos if pos >= self.rrpos else 1000 + pos
            metric += member.penalty * 1_000_000
            if best is None or metric < best_metric:
                best, best_metric = member, metric
        if best is not None:
            self.rrpos = list(self.members).index(best.interface) + 1
        return best

    def remove(self, interface: str) -> Member | None:
        """Take a member out, as app_queue's ``queue_member_follower_removal`` does: the
        members after it move up one place, and so does the rrmemory position if the member
        stood before it, so the member that was next stays next. (Without that, a member
        removed before the position made the rotation skip the next one: transcript 11, played
        after 04 had left the position at 1, rang agent-2 first where Asterisk rang
        rna-agent-1.)"""
        names = list(self.members)
        if interface not in self.members:
            return None
        if names.index(interface) < self.rrpos:
            self.rrpos -= 1
        return self.members.pop(interface)

    def position(self, caller: Waiting) -> int:
        return self.callers.index(caller) + 1
