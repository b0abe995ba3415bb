"""The ``settings`` table of each non-call task in a campaign file, validated.

A mistake is reported with the task's name and the key (``tasks.mail.settings.smtp_port: ...``)
when the task is set up, so a broken task stops before it touches a contact. Secrets are named
by environment variable (``password_env``/``secret_env``) or written inline; they never appear
in logs or errors.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import PurePath
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from dialerd.domain.campaign_spec import Duration
from dialerd.taskflow.tasks.base import DeliveryRetry, TaskConfigError

#: Keys of a task's settings that belong to intake channels, not to the task's executor.
INTAKE_KEYS = frozenset({"drop_folder"})


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class _Retry(_Settings):
    max_attempts: int = Field(3, ge=1, le=100)
    retry_delay: Duration = timedelta(minutes=1)
    retry_max_delay: Duration = timedelta(hours=1)

    def retry(self) -> DeliveryRetry:
        return DeliveryRetry(self.max_attempts, self.retry_delay, self.retry_max_delay)


def _secret(inline: str | None, env: str | None, what: str) -> str | None:
    if env:
        value = os.environ.get(env)
        if value is None:
            raise TaskConfigError(f"{what}: environment variable {env} is not set")
        return value
    return inline


class ExportSettings(_Settings):
    format: Literal["csv", "xlsx", "pdf"] | None = None
    #: Folder the files go to. Unset (and no ``path``): the task exports on demand only.
    folder: str | None = None
    #: Shorthand for one file name: folder, name and format from it (a time stamp is added).
    path: str | None = None
    columns: list[str] = Field(
        default_factory=lambda: [
            "id",
            "external_id",
            "first_name",
            "last_name",
            "company",
            "phone",
            "email",
            "status",
            "status_detail",
        ]
    )
    #: Jinja2 text of the letter (pdf); ``template_file`` reads it from a file instead.
    template: str | None = None
    template_file: str | None = None
    #: File name without extension (Jinja2 over campaign, task, stamp, and per letter the contact).
    file_name: str | None = None
    #: Export at most this often (a schedule); unset: whenever contacts are waiting.
    every: Duration | None = None
    delimiter: str = Field(";", min_length=1, max_length=1)
    #: CSV: a value that begins with ``=``, ``+``, ``-``, ``@`` (not a plain number), a tab or a
    #: carriage return gets a leading ``'`` so a spreadsheet shows it as text instead of
    #: calculating it (CSV/formula injection). Off only for a program that needs the raw values.
    escape_formulas: bool = True

    @model_validator(mode="after")
    def _letter(self) -> ExportSettings:
        if self.path is not None and self.folder is not None:
            raise ValueError("give 'folder' or 'path', not both")
        if self.path is not None:
            suffix = PurePath(self.path).suffix.lower().lstrip(".")
            if suffix not in ("csv", "xlsx", "pdf"):
                raise ValueError(f"path {self.path!r} must end in .csv, .xlsx or .pdf")
            if self.format is not None and self.format != suffix:
                raise ValueError(f"format {self.format!r} does not match path {self.path!r}")
        if self.file_format == "pdf" and not (self.template or self.template_file):
            raise ValueError("format 'pdf' needs a letter 'template' or 'template_file'")
        return self

    @property
    def file_format(self) -> Literal["csv", "xlsx", "pdf"]:
        if self.path is not None:
            suffix = PurePath(self.path).suffix.lower().lstrip(".")
            if suffix in ("xlsx", "pdf"):
                return "xlsx" if suffix == "xlsx" else "pdf"
            return "csv"
        return self.format or "csv"

    @property
    def target_folder(self) -> str | None:
        if self.path is not None:
            return str(PurePath(self.path).parent)
        return self.folder

    @property
    def name_template(self) -> str | None:
        if self.file_name is None and self.path is not None and self.file_format != "pdf":
            return PurePath(self.path).stem + "-{{ stamp }}"
        return self.file_name


class EmailSettings(_Retry):
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    #: ``starttls`` upgrades a plain connection, ``tls`` is TLS from the start (port 465).
    tls: Literal["none", "starttls", "tls"] = "none"
    #: CA certificates (PEM) to verify the server with, e.g. a company CA; default: the system's.
    ca_file: str | None = None
    username: str | None = None
    password: str | None = None
    password_env: str | None = None
    sender: str = Field(alias="from")
    to: str = "{{ email }}"
    subject: str
    body: str
    html: bool = False
    timeout: Duration = timedelta(seconds=30)
    concurrency: int = Field(4, ge=1, le=100)

    def smtp_password(self, where: str) -> str | None:
        return _secret(self.password, self.password_env, f"{where}.password_env")


class WebhookSettings(_Retry):
    url: str
    secret: str | None = None
    secret_env: str | None = None
    signature_header: str = "X-Dialerd-Signature"
    headers: dict[str, str] = Field(default_factory=dict)
    include_attempt: bool = True
    include_history: bool = True
    timeout: Duration = timedelta(seconds=10)
    concurrency: int = Field(4, ge=1, le=100)
    max_attempts: int = Field(5, ge=1, le=100)
    retry_delay: Duration = timedelta(seconds=30)

    @model_validator(mode="after")
    def _url(self) -> WebhookSettings:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"url {self.url!r} must start with http:// or https://")
        return self

    def hmac_secret(self, where: str) -> str | None:
        return _secret(self.secret, self.secret_env, f"{where}.secret_env")


class WaitSettings(_Settings):
    #: Neither set: contacts stay until moved by hand (a final bin of the taskflow).
    #: Park every contact this long ...
    duration: Duration | None = None
    #: ... or until the date/time in this field (custom field name or ``fields.name``).
    until_field: str | None = None
    #: A contact whose date field is missing or unreadable: ``failed`` (default) or go on now.
    on_missing: Literal["failed", "success"] = "failed"

    @model_validator(mode="after")
    def _one(self) -> WaitSettings:
        if self.duration is not None and self.until_field is not None:
            raise ValueError("give one of 'duration' or 'until_field', not both")
        return self


class NewContactSettings(_Settings):
    #: Numbers (DIDs) whose inbound calls create contacts in this task.
    dids: list[str] = Field(default_factory=list)
    #: The Asterisk context inbound calls arrive in (unset: any context).
    context: str | None = None


class DropFolderSettings(_Settings):
    path: str
    mode: Literal["append", "replace"] = "append"
    #: The column mapping as in an import mapping file (``columns``, ``variables``, ...).
    mapping: dict[str, Any] = Field(default_factory=dict)
    list_name: str | None = None
    region: str = "DE"
    poll: Duration = timedelta(seconds=10)


M = TypeVar("M", bound=BaseModel)


def parse_settings(model: type[M], settings: dict[str, Any], where: str) -> M:
    """Validate ``settings`` (without intake keys); errors name ``where`` and the key."""
    data = {k: v for k, v in settings.items() if k not in INTAKE_KEYS}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(settings)"
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
            parts.append(f"{where}.{loc}: {msg.removeprefix('Value error, ')}")
        raise TaskConfigError("; ".join(parts)) from None


def drop_folder_settings(settings: dict[str, Any], where: str) -> DropFolderSettings | None:
    raw = settings.get("drop_folder")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TaskConfigError(f"{where}.drop_folder: expected a table")
    return parse_settings(DropFolderSettings, raw, f"{where}.drop_folder")
