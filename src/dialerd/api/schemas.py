"""Request bodies of the API, and how domain values are shown in responses.

Bodies forbid unknown keys: a misspelt key is a 422 naming it, not a silently ignored change.
Responses use the vocabulary of DESIGN.md; contacts show their task by name as well as by id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
)

from dialerd.api.strict import MAX_INT
from dialerd.bus.messages import MAX_ATTEMPT_ID, MAX_DISPOSITION_NOTE, AttemptIdKeys
from dialerd.domain.clock import iso_utc
from dialerd.domain.contact_import import MAX_LENGTH
from dialerd.domain.contact_values import (
    check_custom_name,
    check_custom_value,
    check_edit,
    check_email,
    check_zone,
    is_detail_text,
)
from dialerd.domain.enums import CampaignStatus, Status, StatusDetail, is_reserved_detail
from dialerd.domain.model import Campaign, Contact, HistoryEntry
from dialerd.domain.selection import OPERATORS, Condition, ContactSelection

_RESERVED = frozenset(d.value for d in StatusDetail)
#: A custom field's value; the bounds keep it storable (finite, 64-bit) and are checked again,
#: with the length, by ``check_custom_value``.
FieldValue = (
    str
    | Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
    | Annotated[float, Field(allow_inf_nan=False)]
    | bool
    | None
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_field_names(fields: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
    for name, value in (fields or {}).items():
        check_custom_value(check_custom_name(name), value)
    return fields


def _check_detail(value: str | None) -> str | None:
    if value is None:
        return None
    if not is_detail_text(value):
        raise ValueError("a status_detail is 1 to 100 printable characters")
    if is_reserved_detail(value) and value not in _RESERVED:
        raise ValueError(
            f"{value!r} is not a reserved status_detail ({', '.join(sorted(_RESERVED))}); "
            "plain words are free"
        )
    return value


class _ContactChecks(Body):
    """The field checks shared by a new contact and a change to one (same rules for both)."""

    @field_validator("email", check_fields=False)
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return check_email(v)

    @field_validator("timezone", check_fields=False)
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        return check_zone(v)

    @field_validator("fields", check_fields=False)
    @classmethod
    def _field_names(cls, v: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
        return _check_field_names(v)


class ContactIn(_ContactChecks):
    """A contact to add; ``phone`` in any usual notation (normalised to E.164)."""

    phone: str | None = Field(None, max_length=64)
    first_name: str | None = Field(None, max_length=MAX_LENGTH["first_name"])
    last_name: str | None = Field(None, max_length=MAX_LENGTH["last_name"])
    company: str | None = Field(None, max_length=MAX_LENGTH["company"])
    email: str | None = Field(None, max_length=MAX_LENGTH["email"])
    timezone: str | None = Field(None, max_length=MAX_LENGTH["timezone"])
    external_id: str | None = Field(None, min_length=1, max_length=MAX_LENGTH["external_id"])
    list_name: str | None = Field(None, max_length=MAX_LENGTH["list_name"])
    fields: dict[str, FieldValue] = Field(default_factory=dict)
    due_at: AwareDatetime | None = None


class ContactAdd(ContactIn):
    task: str | None = Field(None, description="target task; default: the start task")


class ContactBatch(Body):
    """Many contacts at once. Each item is checked on its own: good items are added, bad ones
    reported with their index, so one typo does not hold back a thousand good contacts."""

    # Items are validated one by one in the handler; the document shows their real shape.
    contacts: list[Annotated[dict[str, Any], WithJsonSchema(ContactIn.model_json_schema())]] = (
        Field(min_length=1, max_length=10_000)
    )
    task: str | None = None


class ContactChange(_ContactChecks):
    """Fields to change on one contact; absent keys stay, ``null`` clears a field.

    ``fields`` merges into the custom fields (a ``null`` value removes that field). A status
    change is recorded in the contact's history and applies the campaign's taskflow rules,
    like any other.
    """

    phone: str | None = Field(None, max_length=64)
    first_name: str | None = Field(None, max_length=MAX_LENGTH["first_name"])
    last_name: str | None = Field(None, max_length=MAX_LENGTH["last_name"])
    company: str | None = Field(None, max_length=MAX_LENGTH["company"])
    email: str | None = Field(None, max_length=MAX_LENGTH["email"])
    timezone: str | None = Field(None, max_length=MAX_LENGTH["timezone"])
    external_id: str | None = Field(None, min_length=1, max_length=MAX_LENGTH["external_id"])
    list_name: str | None = Field(None, max_length=MAX_LENGTH["list_name"])
    fields: dict[str, FieldValue] | None = None
    status: Status | None = None
    status_detail: str | None = None
    note: str | None = Field(None, max_length=2000)

    @field_validator("status_detail")
    @classmethod
    def _detail(cls, v: str | None) -> str | None:
        return _check_detail(v)


class ConditionIn(Body):
    field: str = Field(min_length=1, max_length=200)
    op: str = "eq"
    value: Any = None

    @field_validator("op")
    @classmethod
    def _op(cls, op: str) -> str:
        if op not in OPERATORS:
            raise ValueError(f"unknown operator {op!r} (one of {', '.join(sorted(OPERATORS))})")
        return op


class SelectionIn(Body):
    """Which contacts: every given criterion must hold. An empty selection means every
    contact of the campaign and must be confirmed with ``"all": true``."""

    task: str | None = None
    status: Status | None = None
    status_detail: str | None = None
    list_name: str | None = None
    ids: list[Annotated[int, Field(ge=0, le=MAX_INT)]] | None = Field(None, max_length=100_000)
    conditions: list[ConditionIn] = Field(default_factory=list)
    waiting: bool | None = None
    all: bool = False

    def selection(self) -> ContactSelection:
        return ContactSelection(
            task=self.task,
            status=self.status,
            status_detail=self.status_detail,
            list_name=self.list_name,
            contact_ids=tuple(self.ids) if self.ids is not None else None,
            conditions=tuple(
                Condition(c.field, c.op, c.value)  # type: ignore[arg-type]
                for c in self.conditions
            ),
            waiting=self.waiting,
        )

    @property
    def is_empty(self) -> bool:
        return self.selection() == ContactSelection()


class MoveOne(Body):
    to_task: str = Field(min_length=1)
    note: str | None = Field(None, max_length=2000)


class MoveMany(MoveOne):
    filter: SelectionIn


class BulkEdit(Body):
    filter: SelectionIn
    fields: dict[str, FieldValue] | None = None
    status: Status | None = None
    status_detail: str | None = None
    note: str | None = Field(None, max_length=2000)

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
        return None if v is None else check_edit(v)

    @field_validator("status_detail")
    @classmethod
    def _detail(cls, v: str | None) -> str | None:
        return _check_detail(v)


class CampaignStatusIn(Body):
    status: CampaignStatus


class PauseIn(Body):
    reason: str | None = Field(None, max_length=200)


class DispositionIn(Body, AttemptIdKeys):
    """An agent's result for its current attempt (or ``attempt_id``).

    ``status_detail`` is the disposition word (``sale``, ``not_interested``...); a callback
    (``status`` ``open`` with ``callback_at``) books a personal follow-up for this agent.
    The keys are those of the MQTT disposition: ``attempt`` (its old name there) is taken for
    ``attempt_id`` too, a number as its text, and the same lengths hold.
    """

    status: Status
    status_detail: str | None = None
    note: str | None = Field(None, max_length=MAX_DISPOSITION_NOTE)
    callback_at: AwareDatetime | None = None
    attempt_id: str | None = Field(
        None,
        max_length=MAX_ATTEMPT_ID,
        validation_alias=AliasChoices("attempt_id", "attempt"),
        description="the attempt (default: the agent's current call); 'attempt' is taken too",
    )

    @field_validator("status_detail")
    @classmethod
    def _detail(cls, v: str | None) -> str | None:
        return _check_detail(v)


class LoginIn(Body):
    campaign: str | None = Field(None, description="only this campaign (default: all it may take)")


class PreviewIn(Body):
    contact_id: int = Field(
        ge=0, le=MAX_INT, description="the contact on offer (from the screen pop)"
    )


class DncAdd(Body):
    phones: list[str] = Field(min_length=1, max_length=100_000)
    campaign: str | None = Field(None, description="campaign name or id; default: global list")
    note: str | None = Field(None, max_length=2000)


ImportModeIn = Literal["append", "replace"]


# ------------------------------------------------------------------------------ responses


def campaign_view(c: Campaign) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.status.value,
        "dial_mode": c.dial_mode.value,
        "timezone": c.timezone,
    }


def contact_view(c: Contact, task_names: dict[int, str]) -> dict[str, Any]:
    out = asdict(c)
    out["status"] = c.status.value
    out["task"] = task_names.get(c.task_id)
    out["waiting_for"] = task_names.get(c.pending_task_id) if c.pending_task_id else None
    return out


def history_view(h: HistoryEntry, task_names: dict[int, str]) -> dict[str, Any]:
    out = asdict(h)
    out["from_task"] = task_names.get(h.from_task_id) if h.from_task_id else None
    out["to_task"] = task_names.get(h.to_task_id) if h.to_task_id else None
    return out


def plain(value: object) -> Any:
    """Whatever the engine returned, as JSON-able data."""
    if value is None:
        return None
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[call-overload]
    if isinstance(value, dict | list | str | int | float | bool):
        return value
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)
