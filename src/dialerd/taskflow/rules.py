"""Taskflow rules: which task a contact goes to when its status changes (pure).

A rule is (from task, status, optional status_detail) -> (to task, delay). Among the rules of
the contact's task and new status, one naming the exact status_detail beats one without a detail
(most specific wins); no matching rule means the contact stays where it is.
"""

from __future__ import annotations

from collections.abc import Iterable

from dialerd.domain.enums import Status
from dialerd.domain.model import TaskflowRule


def match_rule(
    rules: Iterable[TaskflowRule], task: str, status: Status, status_detail: str | None
) -> TaskflowRule | None:
    """The most specific rule for ``task``/``status``/``status_detail``, or ``None``."""
    best: TaskflowRule | None = None
    for rule in rules:
        if rule.from_task != task or rule.status != status:
            continue
        if rule.status_detail is not None and rule.status_detail != status_detail:
            continue
        if best is None or rule.specificity > best.specificity:
            best = rule
    return best
