"""Executors of the tasks beyond the call: export, email, webhook, wait, new_contact.

:func:`build_executor` validates a task's settings and returns its executor, or raises
:class:`TaskConfigError` naming the task and key; the engine's task runner
(``dialerd.engine.tasks``) leases contacts and applies the outcomes.
"""

from __future__ import annotations

from dialerd.domain.enums import TaskType
from dialerd.domain.model import Task
from dialerd.taskflow.tasks.base import (
    DeliveryRetry,
    Executor,
    TaskConfigError,
    TaskItem,
    TaskOutcome,
    TaskRunError,
)
from dialerd.taskflow.tasks.email import EmailExecutor
from dialerd.taskflow.tasks.export import ExportExecutor
from dialerd.taskflow.tasks.new_contact import NewContactExecutor
from dialerd.taskflow.tasks.settings import (
    EmailSettings,
    ExportSettings,
    NewContactSettings,
    WaitSettings,
    WebhookSettings,
    parse_settings,
)
from dialerd.taskflow.tasks.wait import WaitExecutor
from dialerd.taskflow.tasks.webhook import WebhookExecutor

__all__ = [
    "DeliveryRetry",
    "Executor",
    "TaskConfigError",
    "TaskItem",
    "TaskOutcome",
    "TaskRunError",
    "build_executor",
]


def build_executor(task: Task, campaign: str = "") -> Executor | None:
    """The executor of a non-call task; ``TaskConfigError`` when its settings cannot work.

    ``None``: the task has nothing to run by itself (an export without a folder is on demand
    only; a wait without a time holds its contacts until they are moved by hand).
    """
    where = f"{campaign}: tasks.{task.name}.settings" if campaign else f"tasks.{task.name}.settings"
    s = task.settings
    if task.type is TaskType.EXPORT:
        export = parse_settings(ExportSettings, s, where)
        return ExportExecutor(export, where) if export.target_folder is not None else None
    if task.type is TaskType.EMAIL:
        return EmailExecutor(parse_settings(EmailSettings, s, where), where)
    if task.type is TaskType.WEBHOOK:
        return WebhookExecutor(parse_settings(WebhookSettings, s, where), where)
    if task.type is TaskType.WAIT:
        wait = parse_settings(WaitSettings, s, where)
        idle = wait.duration is None and wait.until_field is None
        return None if idle else WaitExecutor(wait, where)
    if task.type is TaskType.NEW_CONTACT:
        return NewContactExecutor(parse_settings(NewContactSettings, s, where), where)
    raise TaskConfigError(f"task {task.name!r} is a {task.type.value} task, not run here")
