"""Export downloads: a task's contacts as CSV or XLSX, on demand.

An ``export`` task writes files into its folder on its schedule; supervisors also want the same
table at once in the browser. The download changes nothing (no status change, no history): it is
a read. Columns are the export task's own ``columns`` setting when the task is an export task,
otherwise the default export columns, or ``?columns=a,b,fields.x`` to choose. A column that is
neither a contact column nor a custom field the campaign's contacts have is refused (422, with
the valid names), not exported as an empty column.

A download of any size streams: the contacts are read a page at a time (by id, each page its
own read: every contact in the task for the whole download is in the file once) and written
as they come, so the daemon's memory holds one page. CSV goes out as it is made. XLSX is a zip
whose directory comes last, so it is made in a temporary file first (one page in memory) and
then sent with its length. If the store fails once a CSV has started, the connection is
dropped without the end of the chunked body: the client sees a broken download, never a
shorter file that looks whole.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Literal

import structlog
from fastapi import APIRouter, Query
from fastapi.responses import Response, StreamingResponse
from starlette.types import Send

from dialerd.api.context import Ctx, Reader
from dialerd.api.errors import ERROR_RESPONSES, ApiError
from dialerd.domain.enums import Status
from dialerd.domain.selection import ContactSelection, split_field
from dialerd.store.errors import StoreError
from dialerd.taskflow.tasks.export import (
    csv_chunks,
    download_columns,
    unknown_columns,
    write_export,
)

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/api/v1/campaigns", tags=["exports"], responses=ERROR_RESPONSES)

#: Contacts read per page (each page its own read); memory holds about one page.
_PAGE = 1000
_CHUNK = 1 << 18
_MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class _Download(StreamingResponse):
    """A streamed file that arrives whole or visibly broken.

    When the body fails after its first bytes went out (the store went away mid-way), the
    final empty chunk is not sent and the server closes the connection: with chunked transfer
    encoding the client sees an incomplete body (curl: exit 18, a browser: "failed"), not a
    truncated file that looks complete. The failure is logged once, without a traceback.
    """

    def __init__(
        self, body: AsyncIterator[bytes], what: str, media_type: str, headers: dict[str, str]
    ) -> None:
        super().__init__(body, media_type=media_type, headers=headers)
        self.what = what

    async def stream_response(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        sent = 0
        try:
            async for chunk in self.body_iterator:
                data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
                await send({"type": "http.response.body", "body": data, "more_body": True})
                sent += len(data)
        except StoreError as exc:
            log.warning("api.export cut off", export=self.what, bytes_sent=sent, error=str(exc))
            return  # no final chunk: the server drops the connection
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _file_chunks(handle: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        while chunk := handle.read(_CHUNK):
            yield chunk
    finally:
        handle.close()


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
    escape_formulas: bool = Query(
        True,
        description="CSV: prefix values a spreadsheet would calculate (=, +, -, @) with '",
    ),
) -> Response:
    current = await ctx.campaign(campaign)
    tasks = {t.name: t for t in await ctx.store.tasks(current.id)}
    found = tasks.get(task)
    if found is None:
        raise ApiError(404, f"campaign {current.name!r} has no task {task!r}", "task")
    chosen = download_columns(found, columns)
    if not chosen:
        raise ApiError(422, "columns must name at least one column", "columns")
    if any(split_field(c)[0] for c in chosen):
        problem = unknown_columns(chosen, await ctx.store.custom_field_names(current.id))
        if problem is not None:
            raise ApiError(422, problem, "columns")
    pages = ctx.store.contact_pages(
        current.id, ContactSelection(task=task, status=status), size=_PAGE
    )
    name = f"{current.name}-{task}.{file_format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if file_format == "csv":
        chunks = csv_chunks(pages, chosen, escape_formulas=escape_formulas)
        return _Download(chunks, name, media_type=_MEDIA["csv"], headers=headers)
    folder = Path(tempfile.mkdtemp(prefix="dialerd-export-"))
    try:
        path = folder / "export.xlsx"
        try:
            await write_export(path, pages, chosen, "xlsx")
        except ValueError as exc:  # more contacts than a sheet holds
            raise ApiError(422, str(exc), "format") from None
        handle = path.open("rb")  # read after the folder is gone: nothing is left behind
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    headers["Content-Length"] = str(os.fstat(handle.fileno()).st_size)
    return _Download(_file_chunks(handle), name, media_type=_MEDIA["xlsx"], headers=headers)
