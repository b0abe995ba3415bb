"""``dialerd export CAMPAIGN TASK``: a task's contacts to a CSV or XLSX file (changes nothing).

The same table as the API download (``GET .../tasks/{task}/export``): the same columns (the
export task's own, the default ones, or ``--columns``; an unknown name is refused naming the
valid ones), the same bytes. Any number of contacts: they are read a page at a time and written
as they come, so memory holds one page. The file appears whole or not at all (written as
``.NAME.part`` and renamed); ``--output -`` streams a CSV to standard output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dialerd.cli.db import add_db_option, open_store
from dialerd.cli.errors import EX_CANTCREAT, EX_NOINPUT, EX_USAGE, CliError
from dialerd.domain.enums import Status

#: Contacts read per page (each page its own read).
PAGE = 1000


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "export", help="a task's contacts to a CSV or XLSX file (changes nothing)"
    )
    p.add_argument("campaign", metavar="CAMPAIGN")
    p.add_argument("task", metavar="TASK")
    p.add_argument(
        "--format",
        dest="file_format",
        choices=["csv", "xlsx"],
        help="default: from the --output name, else csv",
    )
    p.add_argument("--status", choices=[s.value for s in Status], help="only contacts with it")
    p.add_argument(
        "--columns", metavar="A,B,fields.X", help="default: the task's columns (export task)"
    )
    p.add_argument(
        "--output",
        "-o",
        metavar="FILE",
        help="default: CAMPAIGN-TASK.FORMAT here; '-': standard output (csv)",
    )
    p.add_argument(
        "--no-escape-formulas",
        dest="escape_formulas",
        action="store_false",
        help="csv: write values that begin with =, +, -, @ as they are (default: a leading ' "
        "so a spreadsheet does not calculate them)",
    )
    add_db_option(p)
    p.set_defaults(func=run)


def _format(args: argparse.Namespace) -> str:
    if args.file_format:
        return str(args.file_format)
    suffix = Path(args.output).suffix.lower() if args.output and args.output != "-" else ""
    return "xlsx" if suffix == ".xlsx" else "csv"


async def run(args: argparse.Namespace) -> int:
    from dialerd.domain.selection import ContactSelection, split_field
    from dialerd.taskflow.tasks.export import (
        csv_chunks,
        download_columns,
        unknown_columns,
        write_export,
    )

    file_format = _format(args)
    if args.output == "-" and file_format != "csv":
        raise CliError("--output -: only csv goes to standard output", EX_USAGE)
    async with open_store(args) as store:
        campaign = await store.get_campaign(args.campaign)
        task = next((t for t in await store.tasks(campaign.id) if t.name == args.task), None)
        if task is None:
            raise CliError(f"campaign {campaign.name!r} has no task {args.task!r}", EX_NOINPUT)
        columns = download_columns(task, args.columns)
        if not columns:
            raise CliError("--columns must name at least one column", EX_USAGE)
        if any(split_field(c)[0] for c in columns):
            problem = unknown_columns(columns, await store.custom_field_names(campaign.id))
            if problem is not None:
                raise CliError(f"--columns: {problem}", EX_USAGE)
        status = Status(args.status) if args.status else None
        pages = store.contact_pages(
            campaign.id, ContactSelection(task=task.name, status=status), size=PAGE
        )
        if args.output == "-":
            out = sys.stdout.buffer
            async for chunk in csv_chunks(pages, columns, escape_formulas=args.escape_formulas):
                out.write(chunk)
            out.flush()
            return 0
        target = Path(args.output or f"{campaign.name}-{task.name}.{file_format}")
        try:
            count = await write_export(
                target, pages, columns, file_format, escape_formulas=args.escape_formulas
            )
        except OSError as exc:
            raise CliError(f"{target}: {exc.strerror or exc}", EX_CANTCREAT) from None
        except ValueError as exc:  # more contacts than an XLSX sheet holds
            raise CliError(str(exc), EX_USAGE) from None
    sys.stderr.write(f"{count} contact(s) written to {target}\n")
    return 0
