"""Bearer tokens and what each role may do.

Role matrix (``/healthz``, ``/metrics``, ``/docs`` and ``/openapi.json`` need no token: probes
and Prometheus scrape them; put the API behind a TLS proxy when it leaves the host):

================================================ ===== ========== ===== ========
action                                           admin supervisor agent readonly
================================================ ===== ========== ===== ========
read anything (every GET)                        yes   yes        yes   yes
agent login/logout/pause, disposition, preview   yes   yes        own   no
leads: next, reserve, notes, close, call         yes   yes        own*  no
contacts: add, change, delete, move, bulk edit   yes   yes        no    no
imports (upload)                                 yes   yes        no    no
do-not-call: add                                 yes   yes        no    no
campaign status (enabled/disabled/automatic),    yes   yes        no    no
a campaign's predefined notes (PUT work/...)
campaign definitions: create, change, schedule,  yes   no         no    no
tasks, taskflow rules
do-not-call: remove                              yes   no         no    no
================================================ ===== ========== ===== ========

Why: a supervisor runs the floor (starts and stops campaigns, fixes contacts, handles agents)
but does not redesign campaigns; taking a number off the do-not-call list is a compliance
decision, so admins only. "own" = an agent token acts only for the agent it is bound to; for
another agent it gets 403. "own*": also only leads of a campaign its agent works (named in its
``campaigns``, its queue among the agent's ``skills``, or an agent naming neither); another
campaign's lead gets 403. Tokens are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    READONLY = "readonly"


class Permission(StrEnum):
    READ = "read"
    AGENT_OPS = "agent_ops"
    CONTACTS = "contacts"
    IMPORTS = "imports"
    DNC_ADD = "dnc_add"
    CAMPAIGN_STATUS = "campaign_status"
    CAMPAIGN_DEFINE = "campaign_define"
    DNC_REMOVE = "dnc_remove"


_ALL = frozenset(Role)
MATRIX: dict[Permission, frozenset[Role]] = {
    Permission.READ: _ALL,
    Permission.AGENT_OPS: frozenset({Role.ADMIN, Role.SUPERVISOR, Role.AGENT}),
    Permission.CONTACTS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Permission.IMPORTS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Permission.DNC_ADD: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Permission.CAMPAIGN_STATUS: frozenset({Role.ADMIN, Role.SUPERVISOR}),
    Permission.CAMPAIGN_DEFINE: frozenset({Role.ADMIN}),
    Permission.DNC_REMOVE: frozenset({Role.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """One configured token: its name (shown in history as ``api:NAME``), role and agent."""

    name: str
    role: Role
    token: str = ""
    agent: str | None = None

    def __post_init__(self) -> None:
        if (self.role is Role.AGENT) != (self.agent is not None):
            raise ValueError(f"token {self.name!r}: exactly agent tokens name an agent")

    def __repr__(self) -> str:  # never show the secret
        return f"TokenGrant(name={self.name!r}, role={self.role.value!r}, agent={self.agent!r})"

    @classmethod
    def from_config(cls, entry: Any) -> TokenGrant:
        """From a ``[[api.tokens]]`` entry of the daemon config (``token`` a SecretStr)."""
        secret = entry.token
        value = secret.get_secret_value() if hasattr(secret, "get_secret_value") else str(secret)
        return cls(name=entry.name, role=Role(entry.role), token=value, agent=entry.agent)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling."""

    name: str
    role: Role
    agent: str | None = None

    @property
    def actor(self) -> str:
        """How history rows and import records name this caller."""
        return f"api:{self.name}"

    def may(self, permission: Permission) -> bool:
        return self.role in MATRIX[permission]

    def may_act_for(self, agent: str) -> bool:
        if not self.may(Permission.AGENT_OPS):
            return False
        return self.role is not Role.AGENT or self.agent == agent


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


class TokenTable:
    """Looks a presented token up without leaking, by timing, how much of it matched."""

    def __init__(self, grants: Iterable[TokenGrant]) -> None:
        self._grants = [(_digest(g.token), g) for g in grants if g.token]

    def __len__(self) -> int:
        return len(self._grants)

    def principal(self, token: str) -> Principal | None:
        presented = _digest(token)
        found: TokenGrant | None = None
        for digest, grant in self._grants:
            if hmac.compare_digest(presented, digest):
                found = grant
        if found is None:
            return None
        return Principal(found.name, found.role, found.agent)
