"""The export task: contacts to a CSV or XLSX file, or one PDF letter per contact.

Files are written beside their final name and renamed into place, so a reader of the folder
(a mail-merge job, an FTP pick-up) never sees half a file. A batch that cannot be written at
all (folder missing, disk full) is a :class:`TaskRunError`: the contacts stay open and are
exported on a later run. A letter whose template needs a field the contact lacks fails that
contact alone, with the template's reason.

The same tables are exported on demand (the API download, ``dialerd export``), of any number
of contacts: :func:`csv_chunks` and :func:`write_export` take the contacts page by page (see
``Store.contact_pages``) and write each page as it comes, so memory holds one page however
large the export is. :class:`CsvTable` and :class:`XlsxTable` are the one definition of the
file formats, for the task and the downloads alike.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import unicodedata
from collections.abc import AsyncIterable, AsyncIterator, Collection, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from jinja2 import Template, TemplateError
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from reportlab.lib.pagesizes import A4
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen.canvas import Canvas

from dialerd.domain.clock import iso_utc
from dialerd.domain.enums import Status, TaskType
from dialerd.domain.model import Contact, Task
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


def contact_value(contact: Contact, column: str) -> Any:
    """The value of one export column (a standard column or ``fields.NAME``) of a contact."""
    is_custom, name = split_field(column)
    if is_custom:
        return contact.fields.get(name)
    value: Any = getattr(contact, name, None)
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
        contacts = [i.contact for i in items]
        writer = _write_csv if self.format == "csv" else _write_xlsx
        try:
            await asyncio.to_thread(writer, path, self.settings, contacts)
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


def download_columns(task: Task, requested: str | None) -> list[str]:
    """The columns of an export on demand of ``task``'s contacts: ``requested``
    (comma-separated) if given, else the task's own ``columns`` when it is an export task, else
    the default export columns. Empty: no column was named."""
    if requested:
        return [c.strip() for c in requested.split(",") if c.strip()]
    if task.type is TaskType.EXPORT and isinstance(task.settings.get("columns"), list):
        return [str(c) for c in task.settings["columns"]]
    return ExportSettings().columns


def unknown_columns(columns: Sequence[str], custom_fields: Collection[str]) -> str | None:
    """Why ``columns`` cannot be exported (None: they can): a name that is neither a standard
    column nor a custom field the campaign's contacts have (``fields.NAME`` names the custom
    field) would come out as an empty column, which reads as "nobody has a value"."""
    return unknown_fields_problem(columns, custom_fields, "column")


#: What a spreadsheet takes for the start of a formula in a CSV cell (OWASP "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain number (``-5``, ``+49301234567``, ``0.5``): no formula a spreadsheet could run.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:[.,][0-9]+)?")


def escape_formula(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet shows as text: a string that begins with ``=``,
    ``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (OWASP's advice), so
    ``=HYPERLINK(...)`` or ``@SUM(...)`` from an imported list or a web form is not calculated
    (or run) on the reader's machine. A plain number (``-5``, an E.164 ``+4930...``) is no
    formula and stays as it is, so numbers and phone numbers read back unchanged."""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


class CsvTable:
    """An export as CSV, piece by piece: :meth:`head` (byte order mark and header line), then
    :meth:`rows` per batch of contacts. The pieces joined are, byte for byte, the file the
    export task writes: UTF-8 with BOM (Excel reads the accents right), ``\\r\\n`` line ends,
    fields quoted where they hold the delimiter, a quote or a line break. ``escape_formulas``:
    values a spreadsheet would take for a formula get a leading ``'`` (:func:`escape_formula`)."""

    def __init__(
        self, columns: Sequence[str], delimiter: str = ";", *, escape_formulas: bool = True
    ) -> None:
        self.columns = list(columns)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, delimiter=delimiter)
        self._escape = escape_formulas

    def _take(self) -> str:
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text

    def head(self) -> bytes:
        self._writer.writerow(self.columns)
        return self._take().encode("utf-8-sig")

    def rows(self, contacts: Sequence[Contact]) -> bytes:
        for contact in contacts:
            cells = [_cell(contact_value(contact, c)) for c in self.columns]
            if self._escape:
                cells = [escape_formula(v) for v in cells]
            self._writer.writerow(cells)
        return self._take().encode("utf-8")


#: Rows of one XLSX sheet (Excel's limit) less the header: a larger sheet does not open.
XLSX_MAX_CONTACTS = 1_048_575


class XlsxTable:
    """An export as XLSX, batch by batch: openpyxl's write-only workbook keeps the rows in a
    temporary file (strings inline), not in memory; :meth:`save` writes the workbook."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self._book = Workbook(write_only=True)
        self._sheet = self._book.create_sheet("contacts")
        self._sheet.append(self.columns)
        self._count = 0

    def add(self, contacts: Sequence[Contact]) -> None:
        """Raises ``ValueError`` past :data:`XLSX_MAX_CONTACTS` (Excel would not open it)."""
        self._count += len(contacts)
        if self._count > XLSX_MAX_CONTACTS:
            raise ValueError(
                f"more than {XLSX_MAX_CONTACTS:,} contacts do not fit an XLSX sheet "
                "(Excel's limit): export them as CSV"
            )
        for contact in contacts:
            self._sheet.append([self._text(_cell(contact_value(contact, c))) for c in self.columns])

    def _text(self, value: Any) -> Any:
        """A stored value is data: openpyxl would write a string that begins with ``=`` as a
        formula, which a spreadsheet then calculates (a name ``=1+1`` read as 2, or a crafted
        ``=HYPERLINK(...)`` from an imported list run on the reader's machine)."""
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(self._sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    def save(self, path: Path) -> None:
        self._book.save(path)

    def discard(self) -> None:
        """Drop an unfinished workbook: openpyxl would keep its temporary file until the
        process ends (in the daemon: a file per failed export)."""
        writer = self._sheet._writer
        if writer is None or self._sheet.closed:
            return
        self._sheet.close()
        writer.cleanup()


async def csv_chunks(
    pages: AsyncIterable[Sequence[Contact]],
    columns: Sequence[str],
    delimiter: str = ";",
    *,
    escape_formulas: bool = True,
) -> AsyncIterator[bytes]:
    """The CSV export of ``pages`` (batches of contacts, in file order) as it is made: the
    header, then one piece per page. Formatting runs in a worker thread, so a large export
    does not hold up the event loop (the daemon paces calls on it)."""
    table = CsvTable(columns, delimiter, escape_formulas=escape_formulas)
    yield table.head()
    async for page in pages:
        yield await asyncio.to_thread(table.rows, page)


async def write_export(
    path: Path,
    pages: AsyncIterable[Sequence[Contact]],
    columns: Sequence[str],
    file_format: str,
    delimiter: str = ";",
    *,
    escape_formulas: bool = True,
) -> int:
    """Write the export of ``pages`` to ``path``, one page at a time (memory: one page), as
    ``.NAME.part`` beside it renamed into place at the end: a reader never sees half a file,
    and a failure (the store, the disk, ``ValueError``: too many contacts for XLSX) leaves no
    file. Returns the number of contacts."""
    if file_format not in ("csv", "xlsx"):
        raise ValueError(f"cannot export {file_format!r} to a file here (csv or xlsx)")
    tmp = path.with_name(f".{path.name}.part")
    count = 0
    try:
        if file_format == "csv":
            table = CsvTable(columns, delimiter, escape_formulas=escape_formulas)
            with tmp.open("wb") as f:

                def put(contacts: Sequence[Contact]) -> None:
                    f.write(table.rows(contacts))

                await asyncio.to_thread(f.write, table.head())
                async for page in pages:
                    await asyncio.to_thread(put, page)
                    count += len(page)
        else:
            book = await asyncio.to_thread(XlsxTable, columns)
            try:
                async for page in pages:
                    await asyncio.to_thread(book.add, page)
                    count += len(page)
                await asyncio.to_thread(book.save, tmp)
            except BaseException:
                await asyncio.to_thread(book.discard)
                raise
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return count


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


def _write_csv(path: Path, settings: ExportSettings, contacts: Sequence[Contact]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    try:
        table = CsvTable(
            settings.columns, settings.delimiter, escape_formulas=settings.escape_formulas
        )
        with tmp.open("wb") as f:
            f.write(table.head())
            f.write(table.rows(contacts))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_xlsx(path: Path, settings: ExportSettings, contacts: Sequence[Contact]) -> None:
    tmp = path.with_name(f".{path.name}.part")
    table = XlsxTable(settings.columns)
    try:
        table.add(contacts)
        table.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        table.discard()
        raise
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
