"""Intake channels: files dropped into a folder, and callers on an inbound number.

Drop folder: a file placed in a task's ``drop_folder`` (as an FTP server leaves uploads) is
imported through the same path as ``dialerd import`` with the folder's mapping and mode, then
moved to ``done/`` or ``failed/`` with ``<name>.report.json`` beside it. The file is moved, never
deleted, so a failed import loses nothing: fix the mapping and drop it again. The import history
records every dropped file, also one that could not be read at all.

Inbound: a caller's number becomes a contact of the campaign's ``new_contact`` task, unless the
campaign already knows the number.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from dialerd.domain.changes import NewContact
from dialerd.domain.clock import Clock, iso_utc
from dialerd.domain.contact_import import ImportMode
from dialerd.domain.phone import InvalidPhone, normalize_phone
from dialerd.store import Store
from dialerd.store.errors import StoreError
from dialerd.store.task_lease import find_contact_by_phone, record_unreadable_import
from dialerd.taskflow.import_job import import_file
from dialerd.taskflow.importing import (
    ColumnMapping,
    ImportFileError,
    MappingError,
    build_plan,
    open_table,
)
from dialerd.taskflow.tasks.settings import DropFolderSettings

log = structlog.get_logger(__name__)

DONE = "done"
FAILED = "failed"
REPORT_SUFFIX = ".report.json"
#: Names an uploader uses while a file is still being written.
_PARTIAL = (".part", ".tmp", ".filepart", ".partial", ".crdownload")


@dataclass(frozen=True, slots=True)
class DropResult:
    """What happened to one dropped file."""

    file: str
    ok: bool
    moved_to: Path | None
    report_path: Path | None
    imported: int = 0
    rejected: int = 0
    import_id: int | None = None
    error: str | None = None


def pending_files(folder: Path) -> list[Path]:
    """Files waiting in ``folder`` (not hidden, not partial uploads, not our reports)."""
    try:
        entries = sorted(folder.iterdir())
    except FileNotFoundError:
        return []
    out = []
    for p in entries:
        name = p.name
        if name.startswith(".") or name.lower().endswith(_PARTIAL) or name.endswith(REPORT_SUFFIX):
            continue
        if p.is_file():
            out.append(p)
    return out


def _target(folder: Path, name: str) -> Path:
    """A free name in ``folder``: the same file dropped twice keeps both copies."""
    path = folder / name
    n = 1
    while path.exists() or path.with_name(path.name + REPORT_SUFFIX).exists():
        n += 1
        stem, dot, ext = name.rpartition(".")
        path = folder / (f"{stem}-{n}.{ext}" if dot else f"{name}-{n}")
    return path


def _move_with_report(path: Path, sub: str, report: dict[str, Any]) -> tuple[Path, Path]:
    dest_dir = path.parent / sub
    dest_dir.mkdir(exist_ok=True)
    dest = _target(dest_dir, path.name)
    report_path = dest.with_name(dest.name + REPORT_SUFFIX)
    tmp = report_path.with_name("." + report_path.name + ".part")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), "utf-8")
    os.replace(path, dest)
    os.replace(tmp, report_path)
    return dest, report_path


def _check_header(path: Path, mapping: ColumnMapping, region: str) -> bool:
    """Open the file and fit the mapping to its header, as the import will (raises the same).

    Done first so a failure here is known to come before the import, which records its own.
    """
    table = open_table(
        path, sheet=mapping.sheet, delimiter=mapping.delimiter, encoding=mapping.encoding
    )
    try:
        build_plan(table.header, mapping, mapping.region or region)
    finally:
        table.close()
    return True


async def import_dropped(
    store: Store,
    path: Path,
    *,
    campaign: str,
    task: str,
    settings: DropFolderSettings,
    clock: Clock,
    actor: str = "dropfolder",
) -> DropResult:
    """Import one dropped file into ``task`` and file it under done/ or failed/."""
    where = f"{campaign}: tasks.{task}.settings.drop_folder.mapping"
    started = clock.now()
    ok = False
    error: str | None = None
    report: dict[str, Any]
    started_import = False
    try:
        mapping = ColumnMapping.from_dict(settings.mapping, where)
        table_ok = await asyncio.to_thread(_check_header, path, mapping, settings.region)
        started_import = table_ok
        result = await import_file(
            store,
            path,
            campaign=campaign,
            mapping=mapping,
            mode=ImportMode(settings.mode),
            list_name=settings.list_name,
            task=task,
            actor=actor,
            region=mapping.region or settings.region,
            workers=0,
            clock=clock,
        )
        report = {"status": "imported", **result.as_dict()}
        ok = True
    except (ImportFileError, MappingError, StoreError) as exc:
        error = str(exc) or type(exc).__name__
        if not started_import:
            try:
                await record_unreadable_import(
                    store,
                    campaign,
                    file_name=path.name,
                    mode=settings.mode,
                    list_name=settings.list_name,
                    task=task,
                    actor=actor,
                    at=started,
                    error=error,
                )
            except StoreError as record_exc:
                log.error("failed drop not recorded", file=path.name, error=str(record_exc))
        report = {
            "status": "failed",
            "campaign": campaign,
            "task": task,
            "file": path.name,
            "started_at": iso_utc(started),
            "error": error,
        }
    try:
        dest, report_path = await asyncio.to_thread(
            _move_with_report, path, DONE if ok else FAILED, report
        )
    except OSError as exc:
        log.error("dropped file not moved", file=str(path), error=str(exc))
        return DropResult(path.name, ok, None, None, error=error or f"not moved: {exc}")
    log.info(
        "dropped file imported" if ok else "dropped file failed",
        campaign=campaign,
        file=path.name,
        moved_to=str(dest),
        error=error,
    )
    return DropResult(
        path.name,
        ok,
        dest,
        report_path,
        imported=int(report.get("imported") or 0),
        rejected=int(report.get("rejected") or 0),
        import_id=report.get("import_id"),
        error=error,
    )


@dataclass(frozen=True, slots=True)
class InboundContact:
    contact_id: int
    created: bool
    phone: str | None


def caller_number(raw: str | None, region: str) -> str | None:
    """The caller's number in E.164, or ``None`` when withheld or not a phone number."""
    if not raw:
        return None
    try:
        return normalize_phone(raw, region)
    except InvalidPhone:
        return None


async def contact_for_caller(
    store: Store,
    campaign_id: int,
    task: str,
    caller: str | None,
    *,
    did: str,
    now: datetime,
    region: str = "DE",
) -> InboundContact:
    """The campaign's contact with the caller's number, or a new one in ``task``."""
    phone = caller_number(caller, region)
    if phone is not None:
        found = await find_contact_by_phone(store, campaign_id, phone)
        if found is not None:
            return InboundContact(found.id, False, phone)
    fields: dict[str, Any] = {"inbound_did": did, "inbound_at": iso_utc(now)}
    if phone is None:
        fields["inbound_caller"] = caller or "withheld"
    [cid] = await store.add_contacts(
        campaign_id,
        [NewContact(phone=phone, fields=fields, list_name="inbound")],
        now,
        task=task,
    )
    return InboundContact(cid, True, phone)
