"""The export task: contacts to a CSV or XLSX file, or one PDF letter per contact.

Files are written beside their final name and renamed into place, so a reader of the folder
(a mail-merge job, an FTP pick-up) never sees half a file. A batch that cannot be written at
all (folder missing, disk full) is a :class:`TaskRunError`: the contacts stay open and are
exported on a later run. A letter whose template needs a field the contact lacks fails that
contact alone, with the template's reason.
"""

from __future__ import annotations

import asyncio
import csv
import os
import re
import tempfile
import unicodedata
from collections.abc import Collection, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateError
from openpyxl import Workbook
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from dialerd.domain.clock import iso_utc
from dialerd.domain.enums import Status
from dialerd.domain.model import Contact
from dialerd.domain.selection import split_field, unknown_fields_problem
from dialerd.taskflow.decide import Outcome
from dialerd.taskflow.tasks.base import Record, TaskConfigError, TaskItem, TaskOutcome, TaskRunError
from dialerd.taskflow.tasks.settings import ExportSettings
from dialerd.taskflow.tasks.templating import compile_template, render, template_problem

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file name that is the same on every system and cannot leave its folder.

    Letters with accents keep their base letter (Müller -> Muller, ß -> ss) rather than
    becoming ``_``, so a letter's file can still be found by the person's name.
    """
    plain = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    plain = "".join(ch for ch in plain if not unicodedata.combining(ch))
    return _UNSAFE.sub("_", plain).strip("._") or "export"


def column_value(item: TaskItem, column: str) -> Any:
    is_custom, name = split_field(column)
    if is_custom:
        return item.contact.fields.get(name)
    value: Any = getattr(item.contact, name, None)
    return value.value if isinstance(value, Enum) else value


class ExportExecutor:
    needs_history = False
    needs_entry = False

    def __init__(self, settings: ExportSettings, where: str) -> None:
        self.settings = settings
        assert settings.target_folder is not None
        self.folder = Path(settings.target_folder)
        self.format = settings.file_format
        self._letter: Template | None = None
        if self.format == "pdf":
            source = settings.template
            if settings.template_file is not None:
                try:
                    source = Path(settings.template_file).read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    raise TaskConfigError(
                        f"{where}.template_file: cannot read {settings.template_file}: {exc}"
                    ) from None
            assert source is not None
            self._letter = compile_template(source, f"{where}.template")
        self._name: Template | None = (
            compile_template(settings.name_template, f"{where}.file_name")
            if settings.name_template
            else None
        )
        self.written: list[Path] = []

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]:
        if not items:
            return []
        try:
            await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise TaskRunError(f"export folder {self.folder}: {exc.strerror or exc}") from exc
        if self.format == "pdf":
            return await self._letters(items, now)
        path = self.folder / f"{self._base_name(items[0], now)}.{self.format}"
        path = _unique(path)
        rows = [[column_value(i, c) for c in self.settings.columns] for i in items]
        writer = _write_csv if self.format == "csv" else _write_xlsx
        try:
            await asyncio.to_thread(writer, path, self.settings, rows)
        except OSError as exc:
            raise TaskRunError(f"export to {path}: {exc.strerror or exc}") from exc
        self.written.append(path)
        note = f"exported to {path.name}"
        return [TaskOutcome(Outcome(Status.SUCCESS, note=note)) for _ in items]

    def _base_name(self, item: TaskItem, now: datetime, contact: bool = False) -> str:
        stamp = now.strftime("%Y%m%dT%H%M%S")
        if self._name is not None:
            text = render(
                self._name, item.contact, now, campaign=item.campaign, task=item.task, stamp=stamp
            )
        elif contact:
            text = f"{item.campaign}-{item.task}-{item.contact.id}"
        else:
            text = f"{item.campaign}-{item.task}-{stamp}"
        return safe_name(text)

    async def _letters(self, items: Sequence[TaskItem], now: datetime) -> list[TaskOutcome]:
        assert self._letter is not None
        out: list[TaskOutcome] = []
        for item in items:
            try:
                text = render(
                    self._letter, item.contact, now, campaign=item.campaign, task=item.task
                )
                path = _unique(self.folder / f"{self._base_name(item, now, contact=True)}.pdf")
            except TemplateError as exc:
                out.append(
                    TaskOutcome(
                        Outcome(Status.FAILED, "template_error", note=template_problem(exc))
                    )
                )
                continue
            try:
                await asyncio.to_thread(_write_letter, path, text)
            except OSError as exc:
                raise TaskRunError(f"letter {path}: {exc.strerror or exc}") from exc
            self.written.append(path)
            out.append(TaskOutcome(Outcome(Status.SUCCESS, note=f"letter {path.name}")))
        return out


def unknown_columns(columns: Sequence[str], custom_fields: Collection[str]) -> str | None:
    """Why ``columns`` cannot be exported (None: they can): a name that is neither a standard
    column nor a custom field the campaign's contacts have (``fields.NAME`` names the custom
    field) would come out as an empty column, which reads as "nobody has a value"."""
    return unknown_fields_problem(columns, custom_fields, "column")


def export_table(
    contacts: Sequence[Contact], columns: Sequence[str], file_format: str, delimiter: str = ";"
) -> bytes:
    """CSV or XLSX bytes of ``contacts`` (an export for download: no file, no status change)."""
    items = [TaskItem(c, "", "") for c in contacts]
    rows = [[column_value(i, c) for c in columns] for i in items]
    settings = ExportSettings(folder=".", columns=list(columns), delimiter=delimiter)
    with tempfile.TemporaryDirectory(prefix="dialerd-export-") as tmp:
        path = Path(tmp) / f"export.{file_format}"
        if file_format == "csv":
            _write_csv(path, settings, rows)
        elif file_format == "xlsx":
            _write_xlsx(path, settings, rows)
        else:
            raise ValueError(f"cannot export {file_format!r} for download (csv or xlsx)")
        return path.read_bytes()


def _unique(path: Path) -> Path:
    if not path.exists():
        return path
    for n in range(2, 10_000):
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
    raise TaskRunError(f"too many files named like {path}")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict | list):
        return str(value)
    return value


def _write_csv(path: Path, settings: ExportSettings, rows: list[list[Any]]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        with tmp.open("w", encoding="utf-8-sig", newline="") as f:
            w = csv.writer(f, delimiter=settings.delimiter)
            w.writerow(settings.columns)
            for row in rows:
                w.writerow([_cell(v) for v in row])
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_xlsx(path: Path, settings: ExportSettings, rows: list[list[Any]]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("contacts")
        ws.append(list(settings.columns))
        for row in rows:
            ws.append([_cell(v) for v in row])
        wb.save(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_letter(path: Path, text: str) -> None:
    """A plain A4 letter: the rendered text, wrapped, on as many pages as it needs."""
    tmp = path.with_name(f".{path.name}.part")
    width, height = A4
    margin, leading, size = 56.0, 14.0, 11
    try:
        canvas = Canvas(str(tmp), pagesize=A4)
        canvas.setFont("Helvetica", size)
        y = height - margin
        for paragraph in text.splitlines() or [""]:
            lines = simpleSplit(paragraph, "Helvetica", size, width - 2 * margin) or [""]
            for line in lines:
                if y < margin:
                    canvas.showPage()
                    canvas.setFont("Helvetica", size)
                    y = height - margin
                canvas.drawString(margin, y, line)
                y -= leading
        canvas.showPage()
        canvas.save()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
