"""Response shapes, for the OpenAPI document (``/docs``) and to keep responses as documented.

Handlers build plain dicts; FastAPI validates them against these models on the way out, so a
field the docs promise is never silently missing.
"""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CampaignOut(BaseModel):
    id: int
    name: str
    status: str
    dial_mode: str
    timezone: str


class CampaignList(BaseModel):
    campaigns: list[CampaignOut]


class CampaignDetail(CampaignOut):
    definition: dict[str, Any]
    tightened: list[str] = Field(
        default_factory=list,
        description="What the daemon's [compliance] rules changed in the definition sent",
    )
    compliance_floor: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "Values of the stored definition the daemon's [compliance] floor overrides, by "
            "dotted key: {'stored': ..., 'applied': ...}; 'definition' shows the applied ones, "
            "which the engine dials by"
        ),
    )
    engine_reloaded: bool | None = None


class CampaignStatusOut(CampaignOut):
    engine_reloaded: bool | None = None


class ContactOut(BaseModel):
    id: int
    campaign_id: int
    task_id: int
    task: str | None
    status: str
    status_detail: str
    phone: str | None
    first_name: str | None
    last_name: str | None
    company: str | None
    email: str | None
    timezone: str | None
    external_id: str | None
    list_name: str | None
    fields: dict[str, Any]
    attempts: int
    due_at: datetime | None
    follow_up_agent: str | None
    created_at: datetime | None
    updated_at: datetime | None
    pending_task_id: int | None
    pending_due_at: datetime | None
    waiting_for: str | None
    lease_holder: str | None
    lease_expires_at: datetime | None
    last_attempt_at: datetime | None
    import_id: int | None


class ContactAdded(BaseModel):
    result: str
    contact: ContactOut


class BatchItem(BaseModel):
    index: int
    result: str
    contact_id: int | None = None
    error: str | None = None
    field: str | None = None


class BatchOut(BaseModel):
    created: int
    exists: int
    duplicate_phone: int
    invalid: int
    results: list[BatchItem]


class ContactPage(BaseModel):
    total: int
    limit: int
    offset: int
    next_after: int | None = Field(
        description="with the id order: pass as after= for the next page (null: no more)"
    )
    contacts: list[ContactOut]


class HistoryOut(BaseModel):
    id: int
    contact_id: int
    at: datetime
    actor: str
    from_task_id: int | None
    to_task_id: int | None
    from_task: str | None
    to_task: str | None
    from_status: str | None
    to_status: str | None
    from_detail: str | None
    to_detail: str | None
    note: str | None


class HistoryList(BaseModel):
    history: list[HistoryOut]


class AttemptOut(BaseModel):
    id: str
    campaign_id: int
    contact_id: int
    task_id: int
    phone: str
    server: str | None
    agent: str | None
    originated_at: datetime | None
    ringing_at: datetime | None
    answered_at: datetime | None
    connected_at: datetime | None
    hungup_at: datetime | None
    result: str | None
    cause: str | None
    disposition: str | None


class AttemptList(BaseModel):
    attempts: list[AttemptOut]


class OverviewRowOut(BaseModel):
    task: str
    status: str
    status_detail: str
    count: int
    waiting_for: str | None
    next_due: datetime | None


class OverviewOut(BaseModel):
    campaign: str
    total: int
    rows: list[OverviewRowOut]


class AgentOut(BaseModel):
    name: str
    interface: str
    campaigns: list[str]
    skills: list[str]
    state: str
    unknown_since: datetime | None = None
    """Set while the AMI link to the agent's Asterisk is lost (when it was lost): ``state`` is
    the state last seen, not what the agent does now."""
    live: dict[str, Any] | None = None


class AgentList(BaseModel):
    agents: list[AgentOut]


class AgentActionOut(BaseModel):
    agent: str
    action: str
    result: Any = None


class DispositionOut(AgentActionOut):
    """``result`` is the attempt id. ``written`` says what became of the disposition:
    ``stored`` (200), ``at_call_end`` (200: the call goes on, it is written with its outcome)
    or ``queued`` (202: taken and kept by the daemon, written once the database is back;
    do not send it again)."""

    written: Literal["stored", "at_call_end", "queued"] | None = None
    detail: str | None = None


class DncEntryOut(BaseModel):
    phone: str
    campaign_id: int | None
    added_at: datetime
    actor: str
    note: str | None


class DncPage(BaseModel):
    campaign: str | None
    total: int
    limit: int
    offset: int
    numbers: list[DncEntryOut]


class DncAdded(BaseModel):
    campaign: str | None
    added: int
    already_listed: int


class DncCheck(BaseModel):
    phone: str
    campaign: str | None
    dnc: bool


class _Open(BaseModel):
    """A documented shape whose answer may carry more keys (kept, not dropped)."""

    model_config = ConfigDict(extra="allow")


class ImportProblemOut(_Open):
    row: int | None
    column: str | None
    kind: str
    reason: str
    value: Any = None


class ImportReportOut(_Open):
    import_id: int | None
    campaign: str
    file: str
    mode: str
    list: str | None
    task: str | None
    actor: str
    started_at: str | None = Field(description="ISO 8601 UTC with Z")
    finished_at: str | None = Field(description="ISO 8601 UTC with Z")
    seconds: float
    rows: int
    imported: int
    rejected: int
    duplicates: int
    replaced: int
    problems: builtins.list[ImportProblemOut] = Field(  # "list" is a field here
        description="the first 1000; see problems_total"
    )
    problems_total: int
    details: dict[str, Any]


class ImportEntryOut(_Open):
    import_id: int
    at: str = Field(description="ISO 8601 UTC with Z")
    actor: str
    file: str
    mode: str
    list: str | None
    rows: int | None
    imported: int | None
    rejected: int | None
    duplicates: int | None
    replaced: int | None
    status: str | None
    report: dict[str, Any]


class ImportHistoryOut(BaseModel):
    imports: list[ImportEntryOut]


class EngineStatusOut(BaseModel):
    engine: dict[str, Any] = Field(description="runners, calls in flight and agents")
