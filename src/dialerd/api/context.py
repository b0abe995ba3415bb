"""What every handler gets: the store, the engine, the clock, and who is calling."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry

from dialerd.api.auth import Permission, Principal, TokenTable
from dialerd.api.engine_control import EngineControl
from dialerd.api.errors import ApiError
from dialerd.api.health import HealthChecks
from dialerd.domain.clock import Clock
from dialerd.domain.compliance import ComplianceFloor
from dialerd.domain.model import Campaign
from dialerd.engine.field_check import FieldCheck
from dialerd.store import Store


@dataclass(slots=True)
class ApiContext:
    store: Store
    tokens: TokenTable
    clock: Clock
    engine: EngineControl | None = None
    region: str = "DE"
    health: HealthChecks = field(default_factory=HealthChecks)
    registry: CollectorRegistry | None = None
    max_upload_bytes: int = 1 << 30
    #: The largest JSON body of an operation (413 above it), see dialerd.api.body_guard.
    max_json_bytes: int = 4 << 20
    #: The same for ``POST .../contacts/batch`` (up to 10,000 contacts in one body).
    max_json_batch_bytes: int = 32 << 20
    compliance: ComplianceFloor | Callable[[], ComplianceFloor | None] | None = None
    """The daemon's ``[compliance]`` floor (or how to read the current one: it follows a
    reload); campaigns are stored held to it. None: stored as given (the engine still holds
    them to its floor)."""
    field_check: FieldCheck | None = None
    """The daemon's check of campaign filter/sort field names (one of its own when None)."""

    def fields(self) -> FieldCheck:
        """The check of campaign field names this API reports from (the daemon's)."""
        if self.field_check is None:
            self.field_check = FieldCheck(self.store)
        return self.field_check

    def compliance_floor(self) -> ComplianceFloor | None:
        floor = self.compliance
        return floor() if callable(floor) else floor

    async def campaign(self, ref: str) -> Campaign:
        """A campaign by name or id (as written in the URL)."""
        return await self.store.get_campaign(ref)

    async def call_engine(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if self.engine is None:
            raise ApiError(503, "the engine is not running in this process")
        fn: Callable[..., Any] = getattr(self.engine, method)
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result


def get_context(request: Request) -> ApiContext:
    ctx = request.app.state.dialerd
    assert isinstance(ctx, ApiContext)
    return ctx


Ctx = Annotated[ApiContext, Depends(get_context)]

MISSING_TOKEN = "missing bearer token (Authorization: Bearer TOKEN)"
UNKNOWN_TOKEN = "unknown token"

_bearer = HTTPBearer(auto_error=False, description="A token from the [api] section of the config")


def authenticate(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, MISSING_TOKEN)
    principal = ctx.tokens.principal(credentials.credentials)
    if principal is None:
        raise ApiError(401, UNKNOWN_TOKEN)
    request.state.principal = principal  # for the access log
    return principal


def forbidden(principal: Principal, permission: Permission) -> ApiError:
    """The 403 of a role that may not do ``permission``."""
    return ApiError(403, f"role {principal.role.value!r} may not do this ({permission.value})")


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.may(permission):
            raise forbidden(principal, permission)
        return principal

    return check


async def act_for_agent(
    agent: str, principal: Annotated[Principal, Depends(authenticate)]
) -> Principal:
    """For ``/agents/{agent}/...`` actions: agent tokens only for their own agent."""
    if not principal.may_act_for(agent):
        if principal.may(Permission.AGENT_OPS):
            raise ApiError(403, f"this token acts only for agent {principal.agent!r}", "agent")
        raise ApiError(403, f"role {principal.role.value!r} may not act for agents")
    return principal


Reader = Annotated[Principal, Depends(require(Permission.READ))]
ContactWriter = Annotated[Principal, Depends(require(Permission.CONTACTS))]
Importer = Annotated[Principal, Depends(require(Permission.IMPORTS))]
DncAdder = Annotated[Principal, Depends(require(Permission.DNC_ADD))]
DncRemover = Annotated[Principal, Depends(require(Permission.DNC_REMOVE))]
StatusSetter = Annotated[Principal, Depends(require(Permission.CAMPAIGN_STATUS))]
Designer = Annotated[Principal, Depends(require(Permission.CAMPAIGN_DEFINE))]
AgentActor = Annotated[Principal, Depends(act_for_agent)]
