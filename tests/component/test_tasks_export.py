"""PDF letters of the export task, opened and read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tasks_testkit import pdf_pages, pdf_text

from dialerd.domain.enums import Status, StatusDetail, TaskType
from dialerd.domain.model import Contact, Task
from dialerd.taskflow.tasks import TaskItem, build_executor
from dialerd.taskflow.tasks.export import ExportExecutor

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def contact(cid: int, **over: Any) -> Contact:
    data: dict[str, Any] = {
        "id": cid,
        "campaign_id": 1,
        "task_id": 2,
        "status": Status.OPEN,
        "status_detail": StatusDetail.NONE.value,
        "first_name": "Erika",
        "last_name": f"Muster{cid}",
        "fields": {"plan": "gold"},
    }
    data.update(over)
    return Contact(**data)


def task(kind: TaskType, settings: dict[str, Any]) -> Task:
    return Task(id=2, campaign_id=1, name="t", type=kind, settings=settings)


def item(c: Contact) -> TaskItem:
    return TaskItem(c, "camp", "t")


async def test_pdf_letters_one_per_contact(tmp_path: Path) -> None:
    letter = "Dear {{ first_name }} {{ last_name }},\n\nyour plan: {{ plan }}.\n" + "line\n" * 70
    exp = build_executor(
        task(TaskType.EXPORT, {"folder": str(tmp_path), "format": "pdf", "template": letter})
    )
    assert isinstance(exp, ExportExecutor)
    bad = contact(9, fields={})  # the template needs "plan"
    out = await exp.execute([item(contact(1)), item(contact(2)), item(bad)], NOW)
    assert [o.status for o in out] == [Status.SUCCESS, Status.SUCCESS, Status.FAILED]
    assert out[2].outcome.status_detail == "template_error"
    assert "plan" in (out[2].outcome.note or "")
    assert len(exp.written) == 2
    data = exp.written[0].read_bytes()
    assert data.startswith(b"%PDF-")
    assert pdf_pages(data) == 2  # 73 lines do not fit one A4 page
    assert "Dear Erika Muster1," in pdf_text(data)
