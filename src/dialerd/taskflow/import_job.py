"""One contact import from a file to the store: open, map, parse (in workers), write.

The one entry point the CLI, the API, the drop folder and the benchmark share, so all of them
import through the same code path. Parsing is blocking work (file reading, phone numbers,
possibly in worker processes); a producer task drives it from a thread up to two chunks ahead of
the database, so parsing overlaps the inserts and an event loop that also serves the API or
dials stays responsive while a big file is imported.

Worker processes are started with ``spawn``, which re-imports the main module: a script that
imports big files must keep its top level behind ``if __name__ == "__main__":`` (the
``dialerd`` command does).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path
from typing import Any

from dialerd.domain.clock import Clock
from dialerd.domain.contact_import import ImportMode, ImportReport, ImportRequest, ParsedChunk
from dialerd.store.imports import StoreLike, import_contacts
from dialerd.taskflow.importing import (
    ColumnMapping,
    ImportFileError,
    auto_workers,
    build_plan,
    open_table,
    parse_table,
)

__all__ = ["import_file"]

_END = object()
#: Parsed chunks waiting for the database at most (each up to 20,000 rows).
_AHEAD = 2


async def import_file(
    store: StoreLike,
    path: str | os.PathLike[str],
    *,
    campaign: str,
    mapping: ColumnMapping | None = None,
    mode: ImportMode = ImportMode.APPEND,
    list_name: str | None = None,
    task: str | None = None,
    actor: str = "unknown",
    region: str = "DE",
    workers: int | None = None,
    clock: Clock | None = None,
    refuse_empty: bool = False,
) -> ImportReport:
    """Import ``path`` into ``campaign``; see ``dialerd.store.imports`` for the transaction.

    Raises ``ImportFileError``/``MappingError`` (from ``dialerd.taskflow.importing``) before
    anything is written when the file cannot be opened or the mapping does not fit its header,
    and with ``refuse_empty`` when it has no data rows (the API; the CLI records such an import
    and exits 65).
    ``list_name`` ``None`` uses the file's name without extension, so importing the same file
    again with ``replace`` replaces what it imported before.
    """
    mapping = mapping or ColumnMapping()
    p = Path(path)
    table = await asyncio.to_thread(
        open_table, p, sheet=mapping.sheet, delimiter=mapping.delimiter, encoding=mapping.encoding
    )
    try:
        plan = build_plan(table.header, mapping, region)
        if workers is None:
            workers = auto_workers(table.size)
        details: dict[str, Any] = {
            "workers": workers,
            "format": table.format,
            "encoding": table.encoding,
            "delimiter": table.delimiter,
            "sheet": table.sheet,
            "bytes": table.size,
            "region": plan.region,
            "columns": {name: target for _, name, target in plan.columns},
            "variables": dict(plan.variables),
        }
        request = ImportRequest(
            campaign=campaign,
            file_name=p.name,
            mode=mode,
            list_name=list_name if list_name is not None else p.stem,
            task=task,
            actor=actor,
            details={k: v for k, v in details.items() if v is not None},
        )
        chunks: Iterator[ParsedChunk] = parse_table(table, plan, workers=workers)
        if refuse_empty:
            # Before the store is touched: a header-only file imports nothing (and in replace
            # mode would empty the list), so the caller is told instead.
            first = await asyncio.to_thread(_next_or_error, chunks)
            if first is _END:
                await asyncio.to_thread(_close, chunks)
                raise ImportFileError(f"{p.name}: no data rows (only a header)")
            chunks = _again(first, chunks)
        return await _pipeline(store, request, chunks, clock)
    finally:
        await asyncio.to_thread(table.close)


async def _pipeline(
    store: StoreLike, request: ImportRequest, chunks: Iterator[ParsedChunk], clock: Clock | None
) -> ImportReport:
    """Parse ahead in a thread (and its worker processes) while the store inserts.

    The producer never raises: a parsing error travels through the queue and is raised inside
    the import, so the import's transaction is rolled back and the failure recorded.
    """
    queue: asyncio.Queue[object] = asyncio.Queue(maxsize=_AHEAD)
    failure: Exception | None = None
    report: ImportReport | None = None
    async with asyncio.TaskGroup() as tg:
        producer = tg.create_task(_produce(chunks, queue), name="import-parse")
        try:
            report = await import_contacts(store, request, _consume(queue), clock=clock)
        except Exception as exc:  # re-raised below, unwrapped from the task group
            failure = exc
        finally:
            producer.cancel()
    if failure is not None:
        raise failure
    assert report is not None
    return report


async def _produce(chunks: Iterator[ParsedChunk], queue: asyncio.Queue[object]) -> None:
    loop = asyncio.get_running_loop()
    try:
        while True:
            pending = loop.run_in_executor(None, _next_or_error, chunks)
            try:
                item = await asyncio.shield(pending)
            except asyncio.CancelledError:
                await pending  # the thread must leave the generator before it is closed
                raise
            await queue.put(item)
            if item is _END or isinstance(item, BaseException):
                return
    finally:
        # Closing the generator shuts its worker pool down; that may wait, so not on the loop.
        await loop.run_in_executor(None, _close, chunks)


async def _consume(queue: asyncio.Queue[object]) -> AsyncGenerator[ParsedChunk, None]:
    while True:
        item = await queue.get()
        if item is _END:
            return
        if isinstance(item, BaseException):
            raise item
        assert isinstance(item, ParsedChunk)
        yield item


def _next_or_error(chunks: Iterator[ParsedChunk]) -> object:
    try:
        return next(chunks, _END)
    except Exception as exc:  # handed to the importing task, which raises it
        return exc


def _again(first: object, rest: Iterator[ParsedChunk]) -> Iterator[ParsedChunk]:
    """``rest`` with ``first`` (already taken from it) in front; closing closes ``rest``."""
    try:
        if isinstance(first, BaseException):
            raise first
        yield first  # type: ignore[misc]
        yield from rest
    finally:
        _close(rest)


def _close(chunks: Iterator[ParsedChunk]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
