"""The new_contact task: where contacts that arrive by themselves enter the campaign.

Inbound calls and other channels put contacts here as ``open``; the executor marks them
``success`` so the campaign's taskflow rules decide where they go next (a call task, an email).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from dialerd.taskflow.tasks.base import Record, TaskItem, TaskOutcome, success
from dialerd.taskflow.tasks.settings import NewContactSettings


class NewContactExecutor:
    needs_history = False
    needs_entry = False

    def __init__(self, settings: NewContactSettings, where: str) -> None:
        self.settings = settings

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]:
        return [success(note="new contact handed on") for _ in items]
