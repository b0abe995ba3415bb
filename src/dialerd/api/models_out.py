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


class DefinitionWarning(BaseModel):
    key: str = Field(description="where the definition names it: filter[1].field, sort.field")
    field: str
    closest: str | None = Field(description="the known field it is most likely a typo of")
    problem: str


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
    warnings: list[DefinitionWarning] = Field(
        default_factory=list,
        description="Filter conditions and the sort that name a field the campaign's contacts "
        "do not have (a filter on one dials nobody, a sort on one dials in id order): checked "
        "again as contacts arrive",
    )


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
    contacts_closed: int = Field(
        0, description="open contacts of call tasks with these numbers, now failed / $dnc"
    )
    in_call: list[int] = Field(
        default_factory=list,
        description="of those, the contacts in a call right now (at most 100): the call goes "
        "on, its outcome is recorded and does not reopen them, and they are not dialed again",
    )


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


_SKIPPED = (
    "contacts of the selection in a call right now (being dialled, ringing, connected, in "
    "wrap-up or on preview offer), left as they were: their call decides them"
)
_IN_CALL = "the first ten of the contacts skipped, by id"


class MovedOut(BaseModel):
    moved: int = Field(description="contacts moved into the task (as open)")
    skipped_in_call: int = Field(0, description=_SKIPPED)
    in_call: list[int] = Field(default_factory=list, description=_IN_CALL)


class EditedOut(BaseModel):
    edited: int = Field(description="contacts changed")
    skipped_in_call: int = Field(
        0, description=_SKIPPED + " (only for a status or status_detail; fields change anyway)"
    )
    in_call: list[int] = Field(default_factory=list, description=_IN_CALL)


# -- campaign definition parts: the JSON of the definition (durations as "1h", times "09:00:00")


class WeeklyPeriodOut(_Open):
    days: builtins.list[str]
    from_: str = Field(alias="from", description="HH:MM:SS in the campaign's time zone")
    to: str = Field(description="HH:MM:SS in the campaign's time zone")


class ScheduleOut(_Open):
    status: str
    periods: builtins.list[WeeklyPeriodOut]
    dates_off: builtins.list[str] = Field(description="dates (YYYY-MM-DD) without calls")


class TaskOut(_Open):
    id: int | None = Field(description="the stored task's id")
    name: str
    type: str
    settings: dict[str, Any]
    retry: dict[str, Any] | None


class TaskListOut(BaseModel):
    start_task: str
    tasks: builtins.list[TaskOut]


class RuleOut(_Open):
    from_: str = Field(alias="from", description="from task")
    status: str
    detail: str | None
    to: str = Field(description="to task")
    delay: str = Field(description="a duration such as '0s', '90m', '1h'")


class RuleListOut(BaseModel):
    rules: builtins.list[RuleOut]


# -- agent work (leads)


class LeadNoteOut(_Open):
    id: int
    agent: str
    at: str = Field(description="ISO 8601 UTC with Z")
    text: str | None
    predefined: str | None = Field(description="the predefined note's key")
    result_label: str | None
    result_class: str
    closes: bool


class LeadOut(_Open):
    contact_id: int
    campaign_id: int
    first_name: str | None
    last_name: str | None
    company: str | None
    phone: str | None
    email: str | None
    status: str
    status_detail: str
    attempts: int
    due_at: str | None = Field(description="ISO 8601 UTC with Z")
    state: str = Field(description="none, in_progress or closed")
    holder: str | None = Field(description="the agent holding the lead")
    held_since: str | None = Field(description="ISO 8601 UTC with Z")
    closed: bool
    last_note: LeadNoteOut | None


class LeadDetailOut(LeadOut):
    notes: builtins.list[LeadNoteOut] = Field(description="every note, oldest first")


class LeadListOut(BaseModel):
    leads: builtins.list[LeadOut]


class LeadSearchOut(BaseModel):
    leads: builtins.list[LeadOut]
    total: int = Field(description="leads found, counted up to a cap")
    more: bool = Field(description="more leads than total were found")


class NextLeadOut(BaseModel):
    agent: str
    lead: LeadOut | None = Field(description="null: no lead for this agent now")


class NoteWrittenOut(BaseModel):
    note: LeadNoteOut
    lead: LeadOut


class LeadCallOut(BaseModel):
    attempt_id: str | None = Field(description="the attempt dialed")
    attempt: Any = Field(
        None, deprecated=True, description="deprecated: the same as attempt_id (kept for clients)"
    )
    lead: LeadOut


class PredefinedNoteOut(_Open):
    key: str
    text: str
    result_label: str
    result_class: str
    closes: bool


class PredefinedNotesOut(BaseModel):
    notes: builtins.list[PredefinedNoteOut]


# -- reports and health


class ReportFilterOut(BaseModel):
    start: str | None = Field(description="ISO 8601 UTC with Z: the first instant counted")
    end: str | None = Field(description="ISO 8601 UTC with Z: the first instant not counted")
    campaign_id: int | None
    agent: str | None


class ReportTotalsOut(BaseModel):
    calls: int
    contacts_reached: int
    closed_leads: int
    talk_seconds: float


class ReportDayOut(BaseModel):
    day: str = Field(description="YYYY-MM-DD (UTC)")
    calls: int
    live_answers: int
    abandoned: int
    abandonment_rate: float
    talk_seconds: float
    occupancy: float


class ReportOut(BaseModel):
    filter: ReportFilterOut
    totals: ReportTotalsOut
    per_agent: dict[str, ReportTotalsOut]
    per_campaign: dict[str, ReportTotalsOut]
    per_result_class: dict[str, int] = Field(description="closed leads by result class")
    per_day: builtins.list[ReportDayOut]


class HealthCheckOut(_Open):
    """One check; besides ``ok`` each carries its own figures (``seconds``, ``error``,
    ``states``, ``lag_seconds``, ``stalled_seconds``...)."""

    ok: bool


class HealthOut(BaseModel):
    status: str = Field(
        description="'ok' (HTTP 200); 'degraded' (HTTP 200: the daemon dials, but a check"
        " that does not stop it failed, e.g. 'queues': a queue missing in Asterisk, whose"
        " campaign or agent gets no calls); or 'unhealthy' (HTTP 503)"
    )
    checks: dict[str, HealthCheckOut] = Field(
        description="by check: store, store_writes, links, queues, pacing, loop, and extra ones"
    )
