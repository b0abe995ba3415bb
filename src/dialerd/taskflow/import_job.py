"""One contact import from a file to the store: open, map, parse (in workers), write.

The one entry point the CLI, the API and the benchmark share, so all of them import through the
same code path. Parsing is blocking work (file reading, phone numbers in worker processes); it is
driven from a thread, one chunk at a time, so an event loop that also serves the API or dials
stays responsive while a big file is imported.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from dialerd.domain.clock import Clock
from dialerd.domain.contact_import import ImportMode, ImportReport, ImportRequest, ParsedChunk
from dialerd.store.imports import StoreLike, import_contacts
from dialerd.taskflow.importing import ColumnMapping, build_plan, open_table, parse_table

__all__ = ["import_file"]

_END = object()


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
) -> ImportReport:
    """Import ``path`` into ``campaign``; see ``dialerd.store.imports`` for the transaction.

    Raises ``ImportFileError``/``MappingError`` (from ``dialerd.taskflow.importing``) before
    anything is written when the file cannot be opened or the mapping does not fit its header.
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
        details: dict[str, Any] = {
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
        stream = _threaded(parse_table(table, plan, workers=workers))
        async with aclosing(stream):
            return await import_contacts(store, request, stream, clock=clock)
    finally:
        await asyncio.to_thread(table.close)


async def _threaded(chunks: Iterator[ParsedChunk]) -> AsyncGenerator[ParsedChunk, None]:
    try:
        while True:
            chunk = await asyncio.to_thread(next, chunks, _END)
            if chunk is _END:
                return
            assert isinstance(chunk, ParsedChunk)
            yield chunk
    finally:
        # Closing the generator shuts its worker pool down; that may wait, so not on the loop.
        await asyncio.to_thread(_close, chunks)


def _close(chunks: Iterator[ParsedChunk]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
