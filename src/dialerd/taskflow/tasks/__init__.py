"""Executors of the tasks beyond the call: export, email, webhook, wait, new_contact.

:func:`build_executor` validates a task's settings and returns its executor, or raises
:class:`TaskConfigError` naming the task and key; the engine's task runner
(``dialerd.engine.tasks``) leases contacts and applies the outcomes.
"""

from __future__ import annotations

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.clock import Clock
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
    drop_folder_settings,
    parse_settings,
)
from dialerd.taskflow.tasks.wait import WaitExecutor
from dialerd.taskflow.tasks.webhook import WebhookExecutor

__all__ = [
    "DeliveryRetry",
    "check_tasks",
    "Executor",
    "TaskConfigError",
    "TaskItem",
    "TaskOutcome",
    "TaskRunError",
    "build_executor",
]


def build_executor(task: Task, campaign: str = "", clock: Clock | None = None) -> Executor | None:
    """The executor of a non-call task; ``TaskConfigError`` when its settings cannot work.
    ``clock``: the runner's, for times an executor reads as it works (a webhook's ``sent_at``).

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
        return WebhookExecutor(parse_settings(WebhookSettings, s, where), where, clock=clock)
    if task.type is TaskType.WAIT:
        wait = parse_settings(WaitSettings, s, where)
        idle = wait.duration is None and wait.until_field is None
        return None if idle else WaitExecutor(wait, where)
    if task.type is TaskType.NEW_CONTACT:
        return NewContactExecutor(parse_settings(NewContactSettings, s, where), where)
    raise TaskConfigError(f"task {task.name!r} is a {task.type.value} task, not run here")


def check_tasks(spec: CampaignSpec, *, secrets: bool = False) -> list[str]:
    """Every problem of the campaign's task settings, one line each (for check-config).

    ``secrets=False`` does not require the ``*_env`` variables to be set (they may only exist
    in the daemon's environment).
    """
    problems: list[str] = []
    for i, t in enumerate(spec.tasks):
        task = Task(i, 0, t.name, t.type, dict(t.settings))
        where = f"{spec.name}: tasks.{t.name}.settings"
        try:
            drop_folder_settings(task.settings, where)
            if t.type is not TaskType.CALL:  # call task settings belong to the engine
                build_executor(task, spec.name)
        except TaskConfigError as exc:
            text = str(exc)
            if not secrets and "environment variable" in text:
                continue
            problems.append(text)
    return problems
