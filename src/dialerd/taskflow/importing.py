"""Contact import files: read CSV/XLSX, map columns, normalise and validate every row.

Pure with respect to the store: this module turns a file into :class:`ParsedChunk` values (good
contacts + problems, in file order); ``dialerd.store.imports`` writes them.

Decisions a user should know about:

- Row numbers are the ones a spreadsheet shows: the header is row 1, the first data row row 2
  (for CSV: the record number, so a quoted cell spanning two lines is still one row). Blank rows
  are skipped and not counted.
- CSV encoding: a BOM wins (UTF-8, UTF-16); otherwise the whole file is checked for valid UTF-8.
  A file that is not, but holds at least as many valid multi-byte UTF-8 characters as invalid
  bytes, is a UTF-8 file with a few stray bytes (a row pasted from a Latin-1 source): it is read
  as UTF-8. Otherwise it is read as Windows-1252 (what Excel writes in Western Europe; a
  superset of Latin-1's printable range) or, if even that fails, Latin-1, which accepts any
  byte. In any encoding, a row with bytes the encoding cannot read, or with a NUL byte, is
  rejected naming row and column; the rest of the file is imported. NUL bytes in the first
  64 KiB refuse the file as binary (UTF-16 without a BOM is recognised and the encoding to give
  named).
  The delimiter (``,`` ``;`` tab ``|``) is sniffed with :class:`csv.Sniffer` on the first lines,
  falling back to the one most frequent in the header. Quoting is always ``"``: the sniffer's
  quote guesses go wrong on names like O'Brien.
- CSV quotes are read strictly: a quote that is never closed (a closing quote must be followed
  by the delimiter or the end of the line) rejects the row it opened in, naming row and column,
  and the next line is read as the next row, so the rows after it are kept (read leniently they
  silently became part of one cell). A properly closed quoted cell may span lines; text after a
  closing quote (``"Smith" Jr``) is still taken. A CSV cell over :data:`CSV_CELL_LIMIT` (1 MiB)
  rejects its row, not the file. Damage the encoding cannot read past (a lone UTF-16
  surrogate), or an encoding given that does not fit at all, is a file error naming the
  encoding.
- Mapping: a file column maps to a contact field (``phone``, ``first_name``, ``last_name``,
  ``company``, ``email``, ``timezone``, ``external_id``), to a custom field ``fields.<name>`` or
  to ``ignore``. Without a mapping file, headers are matched to fields by common names
  (``Phone``, ``Telefon``, ``First name``...), ``--map`` pairs override single columns, and all
  other columns become custom fields, so nothing is lost: two columns with the same name (or
  with custom field names the same in their first 64 characters) refuse the file, naming them,
  since which one is meant cannot be known; a value in a column without a name rejects its row.
  With a mapping file (a ``[columns]`` table), unmapped columns are ignored unless
  ``unmapped = "fields"``.
- Sizes: a contact field holds what its column does (``MAX_LENGTH``), a custom field value up to
  ``MAX_FIELD_VALUE`` (64 KiB) characters; a longer cell rejects its row, with its size.
- Variables are values common to the whole file (``source = "fair 2026"``); a non-empty cell of
  a column mapped to the same field wins over the variable.
- Phone numbers are normalised to E.164 with the file's default region; the time zone comes from
  the ``timezone`` column when it has a value (an IANA name, checked), otherwise from the number
  (see :meth:`dialerd.domain.phone.PhoneNormalizer.normalize` for the several-zones rule). A
  number a spreadsheet exported as a float (``4930123456.0``, ``4.93012E+09``) is rejected: its
  digits cannot be trusted. So is an XLSX number with decimals in the phone column.
- XLSX: a formula cell without a stored result (a file written by a program and never
  calculated) in a used column rejects its row, saying so, instead of reading as empty.
- Duplicates within the file (same E.164 number, or same external id: the key a CRM knows a
  contact by, which the API adds contacts idempotently by) are reported with the row that came
  first; the first row is imported, the later ones are not. Duplicates against contacts already
  in the campaign are the store's job.
"""

from __future__ import annotations

import codecs
import csv
import json
import os
import re
import tomllib
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import chain, islice
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import structlog

from dialerd.domain.contact_import import (
    CONTACT_FIELDS,
    CUSTOM_PREFIX,
    MAX_FIELD_VALUE,
    MAX_LENGTH,
    ContactRecord,
    ParsedChunk,
    ProblemKind,
    RowProblem,
)
from dialerd.domain.phone import InvalidPhone, PhoneNormalizer

log = structlog.get_logger(__name__)

__all__ = [
    "ImportFileError",
    "MappingError",
    "ColumnMapping",
    "RowPlan",
    "Table",
    "open_table",
    "build_plan",
    "parse_rows",
    "parse_table",
    "DuplicateFilter",
]

IGNORE = "ignore"
CHUNK_ROWS = 20_000
# Below this many bytes a file is parsed in-process: starting workers costs more than it saves.
PARALLEL_MIN_BYTES = 4_000_000
_DELIMITERS = ",;\t|"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,63}")

# Header spellings recognised without a mapping (lower case, spaces/dashes as underscores).
_SYNONYMS: dict[str, str] = {}
for _field, _names in {
    "phone": "phone phone_number phonenumber telephone tel number mobile telefon telefonnummer "
    "rufnummer handy msisdn",
    "first_name": "first_name firstname first given_name vorname",
    "last_name": "last_name lastname last surname family_name nachname",
    "company": "company company_name organisation organization firma unternehmen",
    "email": "email e_mail mail email_address",
    "timezone": "timezone time_zone tz zeitzone",
    "external_id": "external_id externalid id customer_id customer_number kundennummer",
}.items():
    for _name in _names.split():
        _SYNONYMS[_name] = _field


class ImportFileError(Exception):
    """The file cannot be read at all (not found, not CSV/XLSX, corrupt). One line, for users."""


class MappingError(Exception):
    """The column mapping does not fit the file or is malformed. One line, for users."""


# --------------------------------------------------------------------------------------------
# Reading files

#: Data rows as the readers give them: ``(row number, cells)``.
Rows = list[tuple[int, list[str]]]
#: One block of a file: its readable rows, and a problem for each record that could not be read
#: as a row at all (it still counts as a row of the file, a rejected one).
Block = tuple[Rows, list[RowProblem]]

#: The longest CSV cell the reader takes, in characters. Far above every field's own limit, so
#: a long cell in a used column is reported by that limit, with its size; this one only bounds
#: the memory one cell can take, and how far a quote that is never closed can run before the row
#: it opened in is reported. (``csv``'s limit is process-wide: it is raised to this, never
#: lowered.)
CSV_CELL_LIMIT = 1 << 20
# Undecodable bytes of a UTF-8 file, as the ``surrogateescape`` error handler gives them.
_SURROGATE = re.compile("[\udc80-\udcff]")
_SAMPLE = 64 * 1024


@dataclass(slots=True)
class Table:
    """An open import file: its header, and its data rows in blocks (:meth:`blocks`)."""

    header: list[str]
    format: str
    size: int
    _read: Callable[[int], Iterator[Block]]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    _closer: ExitStack = field(default_factory=ExitStack)

    def blocks(self, size: int) -> Iterator[Block]:
        """The data rows in blocks of up to ``size`` records, in file order.

        Each block also carries a problem for every record in it that could not be read as a
        row (a CSV quote that is never closed, a cell over :data:`CSV_CELL_LIMIT`), so one bad
        record costs its own row, never the rest of the file.
        """
        return self._read(size)

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_table(
    path: str | os.PathLike[str],
    *,
    sheet: str | None = None,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Table:
    """Open a CSV or XLSX file (by content, not only by name) and read its header."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            head = f.read(4)
    except FileNotFoundError:
        raise ImportFileError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImportFileError(f"{p}: is a directory") from None
    except OSError as exc:
        raise ImportFileError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if head.startswith(b"PK\x03\x04"):
        return _open_xlsx(p, size, sheet)
    if p.suffix.lower() in (".xlsx", ".xlsm", ".xls"):
        raise ImportFileError(f"{p}: not an XLSX workbook (old .xls files: save as .xlsx or CSV)")
    if sheet is not None:
        # Ignoring it would import whatever the file holds while the user meant one sheet.
        raise ImportFileError(
            f"{p}: sheet {sheet!r} was asked for, but this is a CSV file, which has no sheets: "
            "leave out --sheet (file.sheet in a mapping)"
        )
    return _open_csv(p, size, delimiter, encoding)


def _detect_encoding(p: Path) -> str:
    """The file's encoding.

    A BOM wins. Valid UTF-8 is UTF-8. A file that is not valid UTF-8 is still read as UTF-8 when
    it holds at least as many valid multi-byte UTF-8 characters as invalid bytes: a UTF-8 file
    with a few stray bytes (a row pasted from a Latin-1 source). Reading all of it as
    Windows-1252 would silently turn every 'Jürgen' into 'JÃ¼rgen'; read as UTF-8, the rows
    holding the stray bytes are rejected instead (see :func:`_open_csv`) and the rest is right.
    Otherwise Windows-1252, or Latin-1, which takes any byte.
    """
    with p.open("rb") as f:
        head = f.read(4)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while block := f.read(1 << 20):
                decoder.decode(block)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        invalid = multibyte = 0
        while block := f.read(1 << 20):
            text = decoder.decode(block)
            if not text.isascii():
                bad = len(_SURROGATE.findall(text))
                invalid += bad
                multibyte += len(text) - len(text.encode("ascii", "ignore")) - bad
        invalid += len(decoder.decode(b"", final=True))
        if multibyte and multibyte >= invalid:
            return "utf-8"
        f.seek(0)
        cp1252 = codecs.getincrementaldecoder("cp1252")()
        try:
            while block := f.read(1 << 20):
                cp1252.decode(block)
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"


def _sniff_delimiter(sample: str) -> str:
    lines = sample.splitlines()
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of the sample may be cut short
    text = "\n".join(lines[:50])
    try:
        found = csv.Sniffer().sniff(text, delimiters=_DELIMITERS).delimiter
        if found in _DELIMITERS:
            return found
    except csv.Error:
        pass
    header = lines[0] if lines else ""
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _open_csv(p: Path, size: int, delimiter: str | None, encoding: str | None) -> Table:
    given = encoding is not None
    if encoding is None:
        encoding = _detect_encoding(p)
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportFileError(f"unknown encoding {encoding!r}") from None
    stack = ExitStack()
    try:
        # ``surrogateescape``: a byte that is not text in the encoding becomes a lone surrogate
        # (U+DC80-U+DCFF), and parse_rows rejects the row holding it, naming row and column,
        # instead of the whole file failing at it. (UTF-16 damage the handler cannot carry
        # still fails the file, with the encoding named.)
        f = stack.enter_context(
            p.open("r", encoding=encoding, errors="surrogateescape", newline="")
        )
        sample = f.read(_SAMPLE)
        f.seek(0)
    except UnicodeError as exc:  # UnicodeDecodeError, and utf-16's "does not start with BOM"
        stack.close()
        raise ImportFileError(_not_text(p, encoding, exc, given)) from None
    if "\x00" in sample:
        stack.close()
        raise ImportFileError(_binary(p))
    if delimiter is None:
        delimiter = _sniff_delimiter(sample)
    elif delimiter in ("\\t", "tab"):
        delimiter = "\t"
    if len(delimiter) != 1:
        stack.close()
        raise ImportFileError(f"delimiter must be one character, got {delimiter!r}")
    if csv.field_size_limit() < CSV_CELL_LIMIT:
        csv.field_size_limit(CSV_CELL_LIMIT)
    records = _CsvRecords(p, f, delimiter, encoding, given)
    try:
        number, header = records.header()
    except ImportFileError:
        stack.close()
        raise
    for name in header:
        if "\x00" in name or _SURROGATE.search(name):
            stack.close()
            raise ImportFileError(
                f"{p}: the header (row {number}) has bytes that are not {encoding} text in "
                f"column name {_shown(name)!r}: correct the header, or give the file's encoding"
            )
    return Table(
        header=header,
        format="csv",
        size=size,
        _read=records.blocks,
        encoding=encoding,
        delimiter=delimiter,
        _closer=stack,
    )


def _not_text(p: Path, encoding: str, exc: UnicodeError, given: bool, where: str = "") -> str:
    """A decoding error as a file error that names the encoding (and, if the user gave the
    encoding, the way out)."""
    reason = exc.reason if isinstance(exc, UnicodeDecodeError) else str(exc)
    message = f"{p}: cannot be read as {encoding} text{where} ({reason})"
    if given:
        if codecs.lookup(encoding).name == "utf-16":
            message += "; UTF-16 without a byte-order mark is utf-16-le or utf-16-be"
        message += "; without an encoding given, the file's encoding is detected"
    return message


def _binary(p: Path) -> str:
    """Why a file with NUL bytes is refused: UTF-16 text without a BOM says so, with the fix."""
    with p.open("rb") as f:
        raw = f.read(_SAMPLE)
    even, odd = raw[0::2].count(0), raw[1::2].count(0)
    half = max(1, len(raw) // 2)
    # Mostly-ASCII text in UTF-16 has a zero in every other byte, and nowhere else.
    if max(even, odd) >= half // 2 and min(even, odd) <= half // 20:
        order = "le" if odd > even else "be"
        return (
            f"{p}: looks like UTF-16 text without a byte-order mark: import it with the "
            f"encoding utf-16-{order} (--encoding utf-16-{order}, file.encoding in a mapping)"
        )
    return f"{p}: binary data (NUL bytes), not a CSV text file"


def _shown(text: str, limit: int = 200) -> str:
    """A cell as a problem's value: cut short, with NUL and undecodable bytes written as
    ``\\x00``, ``\\xfc``, so the report can be stored (PostgreSQL refuses NUL) and printed."""
    text = text[:limit]
    if "\x00" not in text and not _SURROGATE.search(text):
        return text
    text = text.replace("\x00", "\\x00")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _column_label(header: Sequence[str], index: int) -> str:
    name = header[index] if index < len(header) else ""
    return name or f"column {index + 1}"


class _CsvRecords:
    """The records of a CSV text file; a record that cannot be read costs its own row only.

    The C reader runs with ``strict`` quoting over lines kept from the start of the current
    block. A quote that is never closed is then an error where it goes wrong, instead of what
    ``strict=False`` did: silently take every following line, up to the next quote, into one
    cell (or fail the whole file at the cell limit). A block with such an error is read again
    record by record (:meth:`_careful`): the failed record becomes a reported row, named by the
    row and column its quote opened in, and reading resumes on the line after the one it started
    on, so the rows after it are kept. This is the one repair that is always right for a missing
    closing quote; PostgreSQL's ``COPY`` and pandas stop the whole file there instead. A quoted
    cell that spans lines and is closed properly stays one valid cell.
    """

    def __init__(self, p: Path, f: Any, delimiter: str, encoding: str, given: bool) -> None:
        self._p = p
        self._f = f
        self._delimiter = delimiter
        self._encoding = encoding
        self._given = given
        self._header: list[str] = []
        self._lines: list[str] = []  # the file's lines from line number self._base on
        self._base = 0
        self._line = 0  # the first line no record has been read from
        self._row = 1  # the row number of the next record

    def header(self) -> tuple[int, list[str]]:
        """The first non-blank record: its row number and its cleaned-up cells."""
        while (block := self._read(1)) is not None:
            rows, problems = block
            if problems:
                bad = problems[0]
                raise ImportFileError(f"{self._p}: the header (row {bad.row}): {bad.reason}")
            number, cells = rows[0]
            if any(c.strip() for c in cells):
                self._header = _clean_header(cells)
                return number, self._header
        raise ImportFileError(f"{self._p}: the file is empty (no header row)")

    def blocks(self, size: int) -> Iterator[Block]:
        while (block := self._read(size)) is not None:
            yield block

    def _reader(self, line: int) -> Any:
        return csv.reader(
            chain.from_iterable(self._feed(line)),
            delimiter=self._delimiter,
            quotechar='"',
            doublequote=True,
            strict=True,
        )

    def _feed(self, line: int) -> Iterator[list[str]]:
        """The file's lines from ``line`` on, in lists (the C reader takes them one by one)."""
        kept = self._lines[line - self._base :]
        if kept:
            yield kept
        while True:
            try:
                more: list[str] = self._f.readlines(1 << 13)
            except UnicodeError as exc:  # UTF-16 damage surrogateescape cannot carry
                where = f" at or after line {self._base + len(self._lines) + 1}"
                raise ImportFileError(
                    _not_text(self._p, self._encoding, exc, self._given, where)
                ) from None
            if not more:
                return
            self._lines.extend(more)
            yield more

    def _read(self, size: int) -> Block | None:
        """Up to ``size`` records; ``None`` at the end of the file."""
        del self._lines[: self._line - self._base]
        self._base = self._line
        reader = self._reader(self._line)
        try:
            records = list(islice(reader, size))
        except csv.Error:
            rows, problems = self._careful(size)
        else:
            rows = list(zip(range(self._row, self._row + len(records)), records, strict=True))
            problems = []
            self._line += reader.line_num
            self._row += len(records)
        if not rows and not problems:
            return None
        return rows, problems

    def _careful(self, size: int) -> Block:
        """The block again, record by record, each unreadable record reported as its row."""
        rows: Rows = []
        problems: list[RowProblem] = []
        line, row = self._line, self._row
        reader = self._reader(line)
        while len(rows) + len(problems) < size:
            before = reader.line_num
            try:
                cells = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                start = line + before  # the line the record started on
                read = self._unreadable(start, row, exc)
                if isinstance(read, RowProblem):
                    problems.append(read)
                else:
                    rows.append((row, read))
                row += 1
                if reader.line_num - before > 1:
                    # It ran over into the lines after its own: read those again as rows.
                    line = start + 1
                    reader = self._reader(line)
                # (A record that failed on its own line leaves the reader at the next line.)
                continue
            rows.append((row, cells))
            row += 1
        self._line = line + reader.line_num
        self._row = row
        return rows, problems

    def _unreadable(self, start: int, row: int, exc: csv.Error) -> RowProblem | list[str]:
        """What to make of the record on line ``start`` that the strict reader refused.

        Only its first line is taken: if the quote opened on it were closed later, the text in
        between would be one cell, and that is exactly the reading that went wrong.
        """
        text = self._lines[start - self._base]
        body = text.rstrip("\r\n")
        cells, open_quote = _line_cells(body, self._delimiter)
        for index, (offset, length) in enumerate(cells):
            if length > CSV_CELL_LIMIT:
                return RowProblem(
                    row,
                    _column_label(self._header, index),
                    f"a cell of {length:,} characters, longer than the CSV cell limit "
                    f"({CSV_CELL_LIMIT:,})",
                    _shown(body[offset:]),
                )
        if open_quote:
            offset = cells[-1][0]
            reason = "the quote that opens this cell is never closed"
            if "field limit" in str(exc):
                reason += f" (or the quoted cell is longer than {CSV_CELL_LIMIT:,} characters)"
            reason += ": a closing quote must be followed by the delimiter or the end of the line"
            if self._header:  # a data row: the header cannot be skipped
                reason += "; the row is not imported and the next line is read as the next row"
            return RowProblem(
                row, _column_label(self._header, len(cells) - 1), reason, _shown(body[offset:])
            )
        # The quotes of the line are closed, but text follows a closing quote ("Smith" Jr):
        # read as the lenient reader always did, one line, one row.
        try:
            return next(csv.reader([text], delimiter=self._delimiter, strict=False))
        except (csv.Error, StopIteration):
            return RowProblem(row, None, f"cannot be read as CSV: {exc}", _shown(body))


def _line_cells(line: str, delimiter: str) -> tuple[list[tuple[int, int]], bool]:
    """Where each cell of one physical line starts and how long it is, as ``csv`` reads it, and
    whether the line ends inside a quoted cell. Only for the rare records the reader refused."""
    cells: list[tuple[int, int]] = []
    i, n = 0, len(line)
    while True:
        if line.startswith('"', i):
            j, length = i + 1, 0
            while True:
                k = line.find('"', j)
                if k < 0:
                    cells.append((i, length + n - j))
                    return cells, True
                length += k - j
                if line.startswith('"', k + 1):  # a doubled quote is one quote character
                    length += 1
                    j = k + 2
                    continue
                end = line.find(delimiter, k + 1)
                if end < 0:
                    cells.append((i, length + n - k - 1))
                    return cells, False
                cells.append((i, length + end - k - 1))
                i = end + 1
                break
        else:
            end = line.find(delimiter, i)
            if end < 0:
                cells.append((i, n - i))
                return cells, False
            cells.append((i, end - i))
            i = end + 1


def _first_nonblank(records: Iterator[tuple[int, list[str]]]) -> tuple[int, list[str]] | None:
    for number, cells in records:
        if any(c.strip() for c in cells):
            return number, cells
    return None


def _clean_header(cells: Sequence[str]) -> list[str]:
    return [c.strip().lstrip("\ufeff") for c in cells]


class _Fraction(str):
    """An XLSX number with decimals, as text: a fine custom field, never a phone number."""

    __slots__ = ()


class _Uncomputed(str):
    """An XLSX formula cell without a stored result; its text is the formula."""

    __slots__ = ()


class _MarkedRow(list[str]):
    """An XLSX row holding a :class:`_Fraction` or :class:`_Uncomputed` cell, so
    :func:`parse_rows` looks at its cells' types (a plain ``list`` for every other row)."""

    __slots__ = ()


_FORMULA_TAG = re.compile(rb"<(?:\w+:)?f[\s/>]")


def _open_xlsx(p: Path, size: int, sheet: str | None) -> Table:
    import zipfile

    import openpyxl

    stack = ExitStack()
    try:
        wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ImportFileError(f"{p}: not a readable XLSX workbook ({exc})") from None
    stack.callback(wb.close)
    if sheet is None:
        ws = wb.worksheets[0]
    elif sheet in wb.sheetnames:
        ws = wb[sheet]
    else:
        stack.close()
        raise ImportFileError(f"{p}: no sheet {sheet!r} (sheets: {', '.join(wb.sheetnames)})")
    formulas = None
    if _has_formulas(ws):
        # The cached results above are None for a formula never calculated (a file written by a
        # program, not saved by Excel): the formulas themselves say which cells those are.
        try:
            fwb = openpyxl.load_workbook(p, read_only=True, data_only=False)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            stack.close()
            raise ImportFileError(f"{p}: not a readable XLSX workbook ({exc})") from None
        stack.callback(fwb.close)
        formulas = fwb[ws.title]
    records = _xlsx_records(p, ws, formulas)
    header_row = _first_nonblank(records)
    if header_row is None:
        stack.close()
        raise ImportFileError(f"{p}: sheet {ws.title!r} is empty (no header row)")

    def blocks(size: int) -> Iterator[Block]:
        for rows in _chunks(records, size):
            yield rows, []

    return Table(
        header=_clean_header(header_row[1]),
        format="xlsx",
        size=size,
        _read=blocks,
        sheet=str(ws.title),
        _closer=stack,
    )


def _has_formulas(ws: Any) -> bool:
    """Whether the sheet's XML has a formula element (``True`` when that cannot be read)."""
    import zipfile

    path = getattr(ws, "_worksheet_path", None)
    archive = getattr(ws.parent, "_archive", None)
    if path is None or archive is None:
        return True
    try:
        with archive.open(path) as src:
            tail = b""
            while block := src.read(1 << 20):
                if _FORMULA_TAG.search(tail + block):
                    return True
                tail = block[-32:]
    except (KeyError, OSError, zipfile.BadZipFile):
        return True
    return False


def _xlsx_records(p: Path, ws: Any, formulas: Any = None) -> Iterator[tuple[int, list[str]]]:
    # read_only worksheets stream rows; empty rows in between are not yielded by openpyxl, so
    # the row number comes from the cells themselves. ``formulas``, the same sheet read without
    # data_only, is read in step with it.
    try:
        formula_rows = formulas.iter_rows(values_only=True) if formulas is not None else None
        for cells in ws.iter_rows():
            number = None
            values: list[str] = []
            marked = False
            for cell in cells:
                if number is None:
                    number = getattr(cell, "row", None)
                value = cell.value
                text = _cell_text(value)
                if isinstance(value, float) and not value.is_integer():
                    text, marked = _Fraction(text), True
                values.append(text)
            if formula_rows is not None:
                source = next(formula_rows, ())
                for index, formula in enumerate(source):
                    if formula is not None and index < len(values) and cells[index].value is None:
                        text = formula if isinstance(formula, str) else getattr(formula, "text", "")
                        values[index], marked = _Uncomputed(text or "="), True
            if number is None:
                continue
            yield number, _MarkedRow(values) if marked else values
    except (KeyError, ValueError, OSError) as exc:
        raise ImportFileError(f"{p}: corrupt worksheet: {exc}") from None


def _cell_text(value: object) -> str:
    """A cell as the text a user sees (phone numbers typed as numbers lose no digits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != time(0) else value.date().isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


# --------------------------------------------------------------------------------------------
# Mapping


def _check_target(target: str, where: str) -> str:
    target = target.strip()
    if target == IGNORE or target in CONTACT_FIELDS:
        return target
    if target.startswith(CUSTOM_PREFIX):
        name = target[len(CUSTOM_PREFIX) :]
        if _CUSTOM_NAME.fullmatch(name):
            return target
        raise MappingError(
            f"{where}: custom field name {name!r} must be 1-64 letters, digits, _ . - or spaces"
        )
    raise MappingError(
        f"{where}: unknown field {target!r} (expected one of {', '.join(CONTACT_FIELDS)}, "
        f"fields.<name> or {IGNORE})"
    )


def _variable_target(key: str, where: str) -> str:
    key = key.strip()
    if key == "phone":
        raise MappingError(f"{where}: phone cannot be a variable (every contact has its own)")
    if key in CONTACT_FIELDS or key.startswith(CUSTOM_PREFIX):
        return _check_target(key, where)
    return _check_target(CUSTOM_PREFIX + key, where)


def _split_pair(pair: str, what: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise MappingError(f"{what} {pair!r}: expected KEY=VALUE")
    return key.strip(), value.strip()


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """File column -> target, plus variables (target -> value for every row).

    ``auto`` (no ``[columns]`` table given): columns not named in ``columns`` are guessed from
    their headers and the rest kept as custom fields, so ``--map`` can fix one column without
    writing a whole mapping. Otherwise only ``columns`` are read (plus the rest as custom
    fields if ``unmapped = "fields"``).
    """

    columns: dict[str, str] = field(default_factory=dict)
    auto: bool = True
    variables: dict[str, str] = field(default_factory=dict)
    unmapped: str = IGNORE
    region: str | None = None
    delimiter: str | None = None
    encoding: str | None = None
    sheet: str | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> ColumnMapping:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise MappingError(f"{p}: no such mapping file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise MappingError(f"{p}: cannot read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise MappingError(f"{p}: not valid TOML: {exc}") from None
        return cls.from_dict(data, str(p))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "mapping") -> ColumnMapping:
        known = {"columns", "variables", "unmapped", "region", "file"}
        for key in data:
            if key not in known:
                raise MappingError(
                    f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})"
                )
        columns_raw = data.get("columns", {})
        if not isinstance(columns_raw, Mapping):
            raise MappingError(f'{where}: [columns] must be a table of "file column" = "field"')
        columns: dict[str, str] = {}
        for col, target in columns_raw.items():
            if not isinstance(target, str):
                raise MappingError(f"{where}: columns.{col}: expected a field name string")
            columns[str(col).strip()] = _check_target(target, f"{where}: columns.{col}")
        variables_raw = data.get("variables", {})
        if not isinstance(variables_raw, Mapping):
            raise MappingError(f"{where}: [variables] must be a table of name = value")
        variables: dict[str, str] = {}
        for key, value in variables_raw.items():
            if isinstance(value, dict | list):
                raise MappingError(f"{where}: variables.{key}: expected a single value")
            target = _variable_target(str(key), f"{where}: variables.{key}")
            variables[target] = _cell_text(value)
        unmapped = data.get("unmapped", IGNORE)
        if unmapped not in (IGNORE, "fields"):
            raise MappingError(f'{where}: unmapped must be "ignore" or "fields", got {unmapped!r}')
        file_opts = data.get("file", {})
        if not isinstance(file_opts, Mapping):
            raise MappingError(f"{where}: [file] must be a table")
        for key in file_opts:
            if key not in ("delimiter", "encoding", "sheet"):
                raise MappingError(f"{where}: file.{key}: unknown key (delimiter, encoding, sheet)")
        region = data.get("region")
        if region is not None and not isinstance(region, str):
            raise MappingError(f'{where}: region must be a string like "DE"')
        return cls(
            columns=columns,
            auto=not columns,
            variables=variables,
            unmapped=str(unmapped),
            region=region,
            delimiter=_opt_str(file_opts, "delimiter", where),
            encoding=_opt_str(file_opts, "encoding", where),
            sheet=_opt_str(file_opts, "sheet", where),
        )

    def with_pairs(self, maps: Iterable[str] = (), variables: Iterable[str] = ()) -> ColumnMapping:
        """This mapping plus ``col=field`` and ``key=value`` pairs from the command line."""
        columns = dict(self.columns)
        for pair in maps:
            col, target = _split_pair(pair, "--map")
            columns[col] = _check_target(target, f"--map {pair}")
        merged = dict(self.variables)
        for pair in variables:
            key, value = _split_pair(pair, "--var")
            merged[_variable_target(key, f"--var {pair}")] = value
        return ColumnMapping(
            columns=columns,
            auto=self.auto,
            variables=merged,
            unmapped=self.unmapped,
            region=self.region,
            delimiter=self.delimiter,
            encoding=self.encoding,
            sheet=self.sheet,
        )


def _opt_str(opts: Mapping[str, Any], key: str, where: str) -> str | None:
    value = opts.get(key)
    if value is not None and not isinstance(value, str):
        raise MappingError(f"{where}: file.{key} must be a string")
    return value


def _header_key(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


@dataclass(frozen=True, slots=True)
class RowPlan:
    """The mapping resolved against one file's header; cheap to send to worker processes."""

    header: tuple[str, ...]
    #: (cell index, header name, target) for every used column.
    columns: tuple[tuple[int, str, str], ...]
    variables: tuple[tuple[str, str], ...]
    region: str
    #: Columns without a header name whose values would have been kept (no mapping file, or
    #: ``unmapped = "fields"``): a value in one has nowhere to go, so its row is reported.
    unnamed: tuple[int, ...] = ()

    @property
    def targets(self) -> dict[str, str]:
        return {name: target for _, name, target in self.columns}


def build_plan(header: Sequence[str], mapping: ColumnMapping, region: str = "DE") -> RowPlan:
    """Resolve ``mapping`` against ``header``; raises :class:`MappingError` on any mismatch.

    No column whose data would be kept is dropped silently: two columns of the same name (or
    whose custom field names would be the same) refuse the file before anything is imported,
    since which one is meant cannot be known; a column without a name is kept in the plan
    (:attr:`RowPlan.unnamed`) so that each row with a value in it is reported.
    """
    region = (mapping.region or region).upper()
    try:
        PhoneNormalizer(region)
    except ValueError as exc:
        raise MappingError(str(exc)) from None
    positions: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, []).append(i)
    seen = {name: where[0] for name, where in positions.items()}
    duplicated = {name for name, where in positions.items() if name and len(where) > 1}
    lowered = {_header_key(n): i for i, n in enumerate(header) if n}
    explicit: dict[int, str] = {}
    for col, target in mapping.columns.items():
        if col in duplicated:
            raise MappingError(f"column {col!r} appears more than once in the file's header")
        index = seen.get(col)
        if index is None:
            index = lowered.get(_header_key(col))
        if index is None:
            available = ", ".join(repr(h) for h in header if h)
            raise MappingError(f"column {col!r} is not in the file (columns: {available})")
        explicit[index] = target
    columns = [(i, header[i], t) for i, t in sorted(explicit.items()) if t != IGNORE]
    keep_rest = mapping.auto or mapping.unmapped == "fields"
    unnamed: tuple[int, ...] = ()
    if keep_rest:
        for name in sorted(duplicated, key=lambda n: positions[n][0]):
            numbers = ", ".join(str(i + 1) for i in positions[name])
            raise MappingError(
                f"{len(positions[name])} columns are named {name!r} (columns {numbers}): give "
                "each column its own name in the header, so that no column's data is dropped"
            )
        unnamed = tuple(i for i in positions.get("", []) if i not in explicit)
    rest = [i for i, name in enumerate(header) if i not in explicit and name]
    if mapping.auto:
        guessed = []
        for i in rest:
            name = header[i]
            target = _SYNONYMS.get(_header_key(name)) or CUSTOM_PREFIX + name[:64]
            guessed.append((i, name, target))
        taken = {t: name for _, name, t in columns}
        columns = sorted(columns + _first_per_target(guessed, taken))
    elif mapping.unmapped == "fields":
        columns = sorted(columns + [(i, header[i], CUSTOM_PREFIX + header[i][:64]) for i in rest])
    targets: dict[str, str] = {}
    for _, name, target in columns:
        if target in targets:
            raise MappingError(_clash(targets[target], name, target))
        targets[target] = name
    if not any(target == "phone" for _, _, target in columns):
        available = ", ".join(repr(h) for h in header if h)
        raise MappingError(
            f"no column is mapped to phone (columns: {available}); use --map COLUMN=phone"
        )
    for target, value in mapping.variables.items():
        problem = _check_value(target, value)
        if problem is not None:
            raise MappingError(f"variable {target}: {problem}")
    return RowPlan(
        header=tuple(header),
        columns=tuple(columns),
        variables=tuple(mapping.variables.items()),
        region=region,
        unnamed=unnamed,
    )


def _first_per_target(
    columns: list[tuple[int, str, str]], taken: dict[str, str]
) -> list[tuple[int, str, str]]:
    """Guessed targets: the first column wins a field, later ones become custom fields.

    ``taken`` maps the targets already used to their columns; a custom field that is taken too
    (two headers alike in their first 64 characters) is an error, not a dropped column.
    """
    out: list[tuple[int, str, str]] = []
    for i, name, target in columns:
        if target in taken:
            target = CUSTOM_PREFIX + name[:64]
            if target in taken:
                raise MappingError(_clash(taken[target], name, target))
        taken[target] = name
        out.append((i, name, target))
    return out


def _clash(first: str, second: str, target: str) -> str:
    if target.startswith(CUSTOM_PREFIX) and max(len(first), len(second)) > 64:
        return (
            f"columns {first!r} and {second!r} would both be custom field {target!r} (a custom "
            "field name keeps the first 64 characters of the header): shorten one of the "
            "headers, or map one of the columns with --map COLUMN=FIELD"
        )
    return f"columns {first!r} and {second!r} are both mapped to {target}"


# --------------------------------------------------------------------------------------------
# Rows

_ZONES: dict[str, str] | None = None


def _canonical_zone(name: str) -> str | None:
    global _ZONES
    if _ZONES is None:
        _ZONES = {z.lower(): z for z in zoneinfo.available_timezones()}
        _ZONES.setdefault("utc", "UTC")
    return _ZONES.get(name.lower())


def _check_value(target: str, value: str) -> str | None:
    """Why ``value`` is not acceptable for ``target`` (``None`` if it is)."""
    limit = MAX_FIELD_VALUE if target.startswith(CUSTOM_PREFIX) else MAX_LENGTH.get(target)
    if limit is not None and len(value) > limit:
        return f"longer than {limit:,} characters ({len(value):,})"
    if target == "email" and value and not _EMAIL.fullmatch(value):
        return "not a valid e-mail address"
    if target == "timezone" and value and _canonical_zone(value) is None:
        return f"unknown time zone {value!r} (expected an IANA name like Europe/Berlin)"
    return None


_NORMALIZERS: dict[str, PhoneNormalizer] = {}


def _normalizer(region: str) -> PhoneNormalizer:
    n = _NORMALIZERS.get(region)
    if n is None:
        n = _NORMALIZERS[region] = PhoneNormalizer(region)
    return n


# Contact attributes in ParsedContact order after ``phone``; the slot of each in a row's list.
_SLOTS = ("first_name", "last_name", "company", "email", "timezone", "external_id")
_SLOT = {name: i for i, name in enumerate(_SLOTS)}
_TZ_SLOT = _SLOT["timezone"]
_PLAIN, _EMAIL_CHECK, _ZONE_CHECK = 0, 1, 2
_ZONE_HINT = "(expected an IANA name like Europe/Berlin)"
_UNNAMED = (
    "a value in a column without a name in the header row: name the column (or delete it), so "
    "its values are not lost"
)


def _json_object(values: dict[str, str]) -> str:
    """``json.dumps(values)`` for a flat dict of strings, byte for byte, at a third of the cost
    (the C string escaper, without building an encoder per call)."""
    esc = _escape
    if len(values) == 1:
        [(k, v)] = values.items()
        return "{" + esc(k) + ": " + esc(v) + "}"
    return "{" + ", ".join([esc(k) + ": " + esc(v) for k, v in values.items()]) + "}"


_escape: Callable[[str], str] = json.encoder.encode_basestring_ascii


def parse_rows(
    plan: RowPlan, rows: Sequence[tuple[int, list[str]]]
) -> tuple[list[ContactRecord], list[RowProblem], int]:
    """Validate and normalise rows: ``(contacts, problems, non-blank rows)``.

    A row with several problems reports each of them (one :class:`RowProblem` per column), so a
    user fixes the file in one pass. Runs in worker processes: module-level and picklable.
    Written for speed (it runs a million times per big import): per-column work is decided
    once per call, not per cell.
    """
    normalizer = _normalizer(plan.region)
    width = len(plan.header)
    phone_index, phone_col = -1, ""
    # (cell index, header, slot or -1 for a custom field, custom name, length limit, check)
    columns: list[tuple[int, str, int, str, int, int]] = []
    for index, name, target in plan.columns:
        if target == "phone":
            phone_index, phone_col = index, name
        elif target.startswith(CUSTOM_PREFIX):
            key = target[len(CUSTOM_PREFIX) :]
            columns.append((index, name, -1, key, MAX_FIELD_VALUE, _PLAIN))
        else:
            check = {"email": _EMAIL_CHECK, "timezone": _ZONE_CHECK}.get(target, _PLAIN)
            columns.append((index, name, _SLOT[target], "", MAX_LENGTH[target], check))
    base_slots: list[str | None] = [None] * len(_SLOTS)
    base_custom: dict[str, str] = {}
    for target, value in plan.variables:
        if target.startswith(CUSTOM_PREFIX):
            base_custom[target[len(CUSTOM_PREFIX) :]] = value
        elif target == "timezone":
            base_slots[_TZ_SLOT] = _canonical_zone(value)
        else:
            base_slots[_SLOT[target]] = value
    contacts: list[ContactRecord] = []
    problems: list[RowProblem] = []
    append = contacts.append
    counted = 0
    unnamed = plan.unnamed
    for number, cells in rows:
        joined = "".join(cells)
        if not joined.strip():
            continue  # blank row
        counted += 1
        # Not text: a NUL byte (PostgreSQL cannot store it), or bytes the file's encoding cannot
        # read (see _open_csv). Their cells are reported, and nothing else of the row.
        if "\x00" in joined or (not joined.isascii() and _SURROGATE.search(joined)):
            problems.extend(_not_text_cells(plan.header, number, cells))
            continue
        if type(cells) is not list:  # an XLSX row with cells to look at closer
            marked = _marked_cells(plan, number, cells)
            if marked:
                problems.extend(marked)
                continue
        n = len(cells)
        bad: list[RowProblem] | None = None
        if n > width and "".join(cells[width:]).strip():
            bad = [RowProblem(number, None, f"{n} cells but the header has {width} columns")]
        for index in unnamed:
            if index < n and cells[index].strip():
                value = cells[index].strip()[:200]
                bad = (bad or []) + [RowProblem(number, f"column {index + 1}", _UNNAMED, value)]
        slots = base_slots.copy()
        custom = base_custom.copy()
        for index, name, slot, key, limit, check in columns:
            if index >= n:
                continue
            cell = cells[index].strip()
            if not cell:
                continue
            reason = None
            if len(cell) > limit:
                reason = f"longer than {limit:,} characters ({len(cell):,})"
            elif check == _EMAIL_CHECK:
                if not _EMAIL.fullmatch(cell):
                    reason = "not a valid e-mail address"
            elif check == _ZONE_CHECK:
                zone = _canonical_zone(cell)
                if zone is None:
                    reason = (
                        f"unknown time zone {cell!r} (expected an IANA name like Europe/Berlin)"
                    )
                cell = zone or cell
            if reason is not None:
                if bad is None:
                    bad = []
                bad.append(RowProblem(number, name, reason, cell[:200]))
            elif slot < 0:
                custom[key] = cell
            else:
                slots[slot] = cell
        phone_raw = cells[phone_index].strip() if phone_index < n else ""
        phone = ""
        zone_from_number: str | None = None
        if not phone_raw:
            bad = (bad or []) + [RowProblem(number, phone_col, "missing phone number")]
        else:
            try:
                phone, zone_from_number = normalizer.normalize(phone_raw)
            except InvalidPhone as exc:
                reason = f"unusable phone number: {exc}"
                bad = (bad or []) + [RowProblem(number, phone_col, reason, phone_raw[:200])]
        if bad is not None:
            problems.extend(bad)
            continue
        first, last, company, email, zone, external = slots
        fields_json = _json_object(custom) if custom else "{}"
        zone = zone or zone_from_number
        append((number, phone, first, last, company, email, zone, external, fields_json))
    return contacts, problems, counted


def _not_text_cells(header: Sequence[str], number: int, cells: list[str]) -> list[RowProblem]:
    out = []
    for index, cell in enumerate(cells):
        if "\x00" in cell:
            reason = "has a NUL byte, which is not text (binary data in the file?)"
        elif _SURROGATE.search(cell):
            reason = (
                "has bytes that are not text in the file's encoding (shown as \\x..), while the "
                "rest of the file is: correct them, or save the file in one encoding (UTF-8), "
                "and import this row again"
            )
        else:
            continue
        out.append(RowProblem(number, _column_label(header, index), reason, _shown(cell)))
    return out


def _marked_cells(plan: RowPlan, number: int, cells: list[str]) -> list[RowProblem]:
    """Problems of an XLSX row's typed cells in the columns the plan uses."""
    out = []
    for index, name, target in plan.columns:
        cell = cells[index] if index < len(cells) else ""
        if type(cell) is _Uncomputed:
            reason = (
                "a formula without a stored result (the file was written by a program and never "
                "calculated): open the file in Excel or LibreOffice and save it, then import it "
                "again"
            )
            out.append(RowProblem(number, name, reason, cell[:200]))
        elif type(cell) is _Fraction and target == "phone":
            reason = (
                "a number with decimals, not a phone number: format the column as text and "
                "type the numbers again"
            )
            out.append(RowProblem(number, name, reason, cell[:200]))
    return out


class DuplicateFilter:
    """Drops later rows whose number, or external id, was already seen in this file, reporting
    each one.

    The external id is the key a CRM knows a contact by (the API adds contacts idempotently by
    it), so two rows with the same one are the same contact twice, as with the same number.
    """

    def __init__(self, phone_column: str | None, external_id_column: str | None = None) -> None:
        self._first: dict[str, int] = {}
        self._first_external: dict[str, int] = {}
        self._column = phone_column
        self._external_column = external_id_column

    def __call__(
        self, contacts: list[ContactRecord], problems: list[RowProblem]
    ) -> list[ContactRecord]:
        kept: list[ContactRecord] = []
        keep = kept.append
        first = self._first
        first_external = self._first_external
        for c in contacts:
            row, phone, external = c[0], c[1], c[7]
            earlier = first.get(phone)
            if earlier is not None:
                problems.append(_duplicate(row, self._column, earlier, "number", phone))
                continue
            if external is not None:
                earlier = first_external.get(external)
                if earlier is not None:
                    column = self._external_column
                    problems.append(_duplicate(row, column, earlier, "external id", external))
                    continue
                first_external[external] = row
            first[phone] = row
            keep(c)
        return kept


def _duplicate(row: int, column: str | None, earlier: int, what: str, value: str) -> RowProblem:
    return RowProblem(
        row,
        column,
        f"duplicate of row {earlier} (same {what} {value})",
        value,
        ProblemKind.DUPLICATE,
    )


def _chunks(
    rows: Iterator[tuple[int, list[str]]], size: int
) -> Iterator[list[tuple[int, list[str]]]]:
    chunk: list[tuple[int, list[str]]] = []
    for record in rows:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def auto_workers(size: int) -> int:
    """Parser processes for a file of ``size`` bytes: two for big files when a core is free.

    Parsing in workers takes about 20% more CPU in total (rows and results are pickled across
    processes) for up to twice the speed, which only pays when another core is idle: on a busy
    host (load average above CPUs - 1) the file is parsed in-process.
    """
    cpus = os.cpu_count() or 1
    if size < PARALLEL_MIN_BYTES or cpus < 2:
        return 0
    return 2 if os.getloadavg()[0] <= cpus - 1 else 0


def parse_table(
    table: Table,
    plan: RowPlan,
    *,
    workers: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[ParsedChunk]:
    """Parse the table into chunks in file order, duplicates within the file removed.

    ``workers`` ``None`` lets :func:`auto_workers` decide; ``0`` or ``1`` parses in this
    process, ``2`` or more in that many worker processes. Workers are
    started with ``spawn``: forking a process that runs threads (aiosqlite's) is unsafe.
    """
    if workers is None:
        workers = auto_workers(table.size)
    phone_col = next((name for _, name, t in plan.columns if t == "phone"), None)
    external_col = next((name for _, name, t in plan.columns if t == "external_id"), None)
    dedup = DuplicateFilter(phone_col, external_col)
    # ``unread``: the records the reader could not read as rows, one problem (and row) each.
    if workers <= 1:
        for rows, unread in table.blocks(chunk_rows):
            contacts, problems, counted = parse_rows(plan, rows)
            yield _finish(dedup, contacts, problems + unread, counted + len(unread))
        return
    Parsed = tuple[list[ContactRecord], list[RowProblem], int]
    pending: list[tuple[Future[Parsed], list[RowProblem]]] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        try:
            for rows, unread in table.blocks(chunk_rows):
                pending.append((pool.submit(parse_rows, plan, rows), unread))
                if len(pending) > workers * 2:
                    yield _finish_pending(dedup, *pending.pop(0))
            while pending:
                yield _finish_pending(dedup, *pending.pop(0))
        finally:
            for fut, _ in pending:
                fut.cancel()


def _finish_pending(
    dedup: DuplicateFilter,
    fut: Future[tuple[list[ContactRecord], list[RowProblem], int]],
    unread: list[RowProblem],
) -> ParsedChunk:
    contacts, problems, counted = fut.result()
    return _finish(dedup, contacts, problems + unread, counted + len(unread))


def _finish(
    dedup: DuplicateFilter,
    contacts: list[ContactRecord],
    problems: list[RowProblem],
    counted: int,
) -> ParsedChunk:
    kept = dedup(contacts, problems)
    problems.sort(key=lambda p: p.row)
    return ParsedChunk(kept, problems, counted)
