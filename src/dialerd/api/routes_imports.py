"""Imports: upload a CSV/XLSX file with a column mapping and a mode; the import history.

Token, role and size are checked before and while the body arrives
(:mod:`dialerd.api.body_guard`). The upload is spooled to a temporary file and imported through
the same code path as ``dialerd import`` (``dialerd.taskflow.import_job``): parsing runs in
threads/workers, so the daemon keeps dialing while a large file is read. The request returns
when the import has been committed (or rolled back), with the report: counts and every bad row
with its row number, column and reason (the first 1000 in the response; all counts are exact).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, File, Form, Query, UploadFile

from dialerd.api.body_guard import size_text
from dialerd.api.context import Ctx, Importer, Reader
from dialerd.api.errors import ERROR_RESPONSES, ApiError, ErrorOut
from dialerd.api.models_out import ImportHistoryOut, ImportReportOut
from dialerd.domain.contact_import import ImportMode
from dialerd.store.errors import InvalidChange, NotFound
from dialerd.store.imports import import_history
from dialerd.taskflow.import_job import import_file
from dialerd.taskflow.importing import ColumnMapping, ImportFileError, MappingError

router = APIRouter(
    prefix="/api/v1/campaigns/{campaign}/imports", tags=["imports"], responses=ERROR_RESPONSES
)

#: Problems listed in the response (counts are always complete).
MAX_PROBLEMS_SHOWN = 1000
_SUFFIXES = {".csv", ".txt", ".tsv", ".xlsx"}
#: Longer names cannot be a file name on most file systems (255 bytes) once spooled.
_MAX_NAME_BYTES = 200


def _mapping(text: str | None) -> ColumnMapping | None:
    if text is None or not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            422, f"not valid JSON: {exc.msg} at character {exc.pos}", "mapping"
        ) from None
    if not isinstance(data, dict):
        raise ApiError(422, 'a JSON object like {"columns": {"Tel": "phone"}}', "mapping")
    try:
        return ColumnMapping.from_dict(data, "mapping")
    except MappingError as exc:
        raise ApiError(422, str(exc), "mapping") from None


class _TooLarge(Exception):
    pass


def _spool(source: BinaryIO, suffix: str, directory: str, limit: int) -> Path:
    path = Path(directory) / f"upload{suffix}"
    written = 0
    with path.open("wb") as out:
        while chunk := source.read(1 << 20):
            written += len(chunk)
            if written > limit:
                raise _TooLarge
            out.write(chunk)
    return path


@router.post(
    "",
    status_code=201,
    summary="Import contacts from an uploaded CSV/XLSX file",
    response_model=ImportReportOut,
    responses={413: {"model": ErrorOut, "description": "the file is larger than the limit"}},
)
async def upload(
    ctx: Ctx,
    who: Importer,
    campaign: str,
    file: Annotated[UploadFile, File(description="CSV (any delimiter/encoding) or XLSX")],
    mode: Annotated[ImportMode, Form()] = ImportMode.APPEND,
    mapping: Annotated[
        str | None,
        Form(description='JSON: {"columns": {...}, "variables": {...}, "unmapped": "ignore"}'),
    ] = None,
    list_name: Annotated[str | None, Form(max_length=200)] = None,
    task: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    column_mapping = _mapping(mapping)
    name = Path(file.filename or "upload.csv").name
    suffix = Path(name).suffix.lower()
    if len(name.encode()) > _MAX_NAME_BYTES:
        raise ApiError(422, f"the file name is longer than {_MAX_NAME_BYTES} bytes", "file")
    if suffix not in _SUFFIXES:
        raise ApiError(422, f"{name!r}: expected a .csv, .tsv, .txt or .xlsx file", "file")
    with tempfile.TemporaryDirectory(prefix="dialerd-upload-") as tmp:
        try:
            path = await asyncio.to_thread(_spool, file.file, suffix, tmp, ctx.max_upload_bytes)
        except _TooLarge:
            size = size_text(ctx.max_upload_bytes)
            raise ApiError(413, f"{name!r} is larger than the limit of {size}", "file") from None
        renamed = path.with_name(name)
        await asyncio.to_thread(path.rename, renamed)
        try:
            report = await import_file(
                ctx.store,
                renamed,
                campaign=current.name,
                mapping=column_mapping,
                mode=mode,
                list_name=list_name,
                task=task,
                actor=who.actor,
                region=(column_mapping.region if column_mapping else None) or ctx.region,
                clock=ctx.clock,
                refuse_empty=True,  # 422, as the CLI's exit 65; nothing is recorded
            )
        except ImportFileError as exc:
            raise ApiError(422, str(exc).replace(str(renamed), name), "file") from None
        except MappingError as exc:
            raise ApiError(422, str(exc), "mapping") from None
        except (InvalidChange, NotFound) as exc:
            # the campaign was found above: what is unknown now is the task
            raise ApiError(422, str(exc), "task") from None
    return report.as_dict(MAX_PROBLEMS_SHOWN)


@router.get(
    "", response_model=ImportHistoryOut, summary="The campaign's import history, newest first"
)
async def history(
    ctx: Ctx,
    _: Reader,
    campaign: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    current = await ctx.campaign(campaign)
    return {"imports": await import_history(ctx.store, current.name, limit)}
