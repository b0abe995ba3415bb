"""Jinja2 templates over a contact's fields, for email, letters and export file names.

Templates come from campaign files, so they run sandboxed, and a field a template names but a
contact lacks is an error for that contact (StrictUndefined) instead of a silent blank line in
a letter. Syntax errors are found when the task is set up, before any contact is touched.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError
from jinja2.sandbox import SandboxedEnvironment

from dialerd.domain.model import Contact
from dialerd.taskflow.tasks.base import TaskConfigError

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_HTML_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)

STANDARD = (
    "id",
    "phone",
    "first_name",
    "last_name",
    "company",
    "email",
    "timezone",
    "external_id",
    "list_name",
    "status",
    "status_detail",
    "attempts",
)


def compile_template(source: str, where: str, *, html: bool = False) -> Template:
    env = _HTML_ENV if html else _ENV
    try:
        return env.from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        at = f" line {line}" if line else ""
        raise TaskConfigError(f"{where}: bad template{at}: {exc}") from None


def contact_values(contact: Contact, **extra: Any) -> dict[str, Any]:
    """The names a template sees: standard fields, custom fields (also under ``fields``)."""
    values: dict[str, Any] = {k: v for k, v in contact.fields.items() if k.isidentifier()}
    for name in STANDARD:
        value = getattr(contact, name)
        values[name] = value.value if hasattr(value, "value") else value
    values["fields"] = dict(contact.fields)
    values.update(extra)
    return values


def render(template: Template, contact: Contact, now: datetime, **extra: Any) -> str:
    """Raises ``TemplateError`` (e.g. an undefined field) for this contact only."""
    return template.render(contact_values(contact, now=now, **extra))


def template_problem(exc: TemplateError) -> str:
    return f"template: {exc.message or type(exc).__name__}"
