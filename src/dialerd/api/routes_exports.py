"""Export downloads: a task's contacts as CSV or XLSX, on demand.

An ``export`` task writes files into its folder on its schedule; supervisors also want the same
table at once in the browser. The download changes nothing (no status change, no history): it is
a read. Columns are the export task's own ``columns`` setting when the task is an export task,
otherwise the default export columns, or ``?columns=a,b,fields.x`` to choose. A column that is
neither a contact column nor a custom field the campaign's contacts have is refused (422, with
the valid names), not exported as an empty column.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from dialerd.api.context import Ctx, Reader
from dialerd.api.errors import ERROR_RESPONSES, ApiError
from dialerd.domain.enums import Status, TaskType
from dialerd.domain.model import Contact
from dialerd.domain.selection import ContactSelection, split_field
from dialerd.taskflow.tasks.export import export_table, unknown_columns
from dialerd.taskflow.tasks.settings import ExportSettings

router = APIRouter(prefix="/api/v1/campaigns", tags=["exports"], responses=ERROR_RESPONSES)

#: A download is built in memory; past this the export task (files in a folder) is the tool.
MAX_ROWS = 200_000
_PAGE = 5_000
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


@router.get(
    "/{campaign}/tasks/{task}/export",
    summary="Download the task's contacts as CSV or XLSX (changes nothing)",
    response_class=Response,
    responses={
        200: {
            "description": "the file (Content-Disposition: attachment)",
            "content": {media: {"schema": {"type": "string"}} for media in _MEDIA.values()},
        }
    },
)
async def download(
    ctx: Ctx,
    _: Reader,
    campaign: str,
    task: str,
    file_format: Literal["csv", "xlsx"] = Query("csv", alias="format"),
    status: Status | None = None,
    columns: str | None = Query(None, description="comma-separated; default: the task's columns"),
) -> Response:
    current = await ctx.campaign(campaign)
    tasks = {t.name: t for t in await ctx.store.tasks(current.id)}
    found = tasks.get(task)
    if found is None:
        raise ApiError(404, f"campaign {current.name!r} has no task {task!r}", "task")
    if columns:
        chosen = [c.strip() for c in columns.split(",") if c.strip()]
    elif found.type is TaskType.EXPORT and isinstance(found.settings.get("columns"), list):
        chosen = [str(c) for c in found.settings["columns"]]
    else:
        chosen = ExportSettings().columns
    if not chosen:
        raise ApiError(422, "columns must name at least one column", "columns")
    if any(split_field(c)[0] for c in chosen):
        problem = unknown_columns(chosen, await ctx.store.custom_field_names(current.id))
        if problem is not None:
            raise ApiError(422, problem, "columns")
    selection = ContactSelection(task=task, status=status)
    if await ctx.store.count_contacts(current.id, selection) > MAX_ROWS:
        raise ApiError(
            409,
            f"more than {MAX_ROWS} contacts: use an export task writing to a folder",
            "task",
        )
    # Pages by id (keyset), each its own read: a contact in the task for the whole download is
    # in the file even when others leave or enter it meanwhile (offset pages would shift).
    contacts: list[Contact] = []
    after: int | None = None
    while True:
        page = await ctx.store.find_contacts(current.id, selection, limit=_PAGE, after=after)
        contacts.extend(page)
        if len(page) < _PAGE:
            break
        after = page[-1].id
    try:
        body = export_table(contacts, chosen, file_format)
    except ValueError as exc:
        raise ApiError(422, str(exc), "columns") from None
    name = f"{current.name}-{task}.{file_format}"
    return Response(
        body,
        media_type=_MEDIA[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
