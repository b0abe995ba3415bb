"""``dialerd import``: contacts from a CSV or XLSX file into a campaign.

Every import is one transaction: it is imported completely (good rows; bad and duplicate rows
reported) or, if it fails, not at all. Exit status: 0 when at least one contact was imported;
65 (EX_DATAERR) when nothing could be imported (every row bad or a duplicate, or no data rows);
66 (EX_NOINPUT) when the file cannot be read or the campaign/task does not exist; 64 (EX_USAGE)
for a mapping that does not fit the file; the store's codes otherwise (``dialerd.cli.db``: 78
for an unmigrated database, 69 for an unreachable one).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from dialerd.cli.db import actor, add_db_option, open_store, store_error
from dialerd.cli.errors import (
    EX_DATAERR,
    EX_NOINPUT,
    EX_SOFTWARE,
    EX_USAGE,
    CliError,
)
from dialerd.daemon.logging import configure_logging
from dialerd.domain.contact_import import ImportMode, ImportReport
from dialerd.store.errors import NotFound, StoreError
from dialerd.taskflow.import_job import import_file
from dialerd.taskflow.importing import ColumnMapping, ImportFileError, MappingError

SHOW_DEFAULT = 20
JSON_PROBLEMS = 1000


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "import",
        help="import contacts from a CSV or XLSX file",
        description=(
            "Import contacts into a campaign. Each import is one transaction: a failed import "
            "changes nothing. Bad rows and duplicates are reported (row, column, reason) and "
            "skipped; the good rows are imported."
        ),
    )
    p.add_argument("--campaign", required=True, help="campaign name")
    p.add_argument("--file", required=True, type=Path, help="CSV or XLSX file")
    p.add_argument("--mapping", type=Path, help="column mapping TOML (see config/imports/)")
    p.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help="map a file column to phone, first_name, last_name, company, email, timezone, "
        "external_id, fields.NAME or ignore (repeatable; adds to --mapping)",
    )
    p.add_argument(
        "--var",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="value for every contact of the file, e.g. source=fair2026 (repeatable)",
    )
    p.add_argument("--mode", choices=[m.value for m in ImportMode], default="append")
    p.add_argument("--list", dest="list_name", help="contact list name (default: file name)")
    p.add_argument("--task", help="task the contacts enter (default: the campaign's first)")
    p.add_argument("--region", help="default region for numbers without +country (DE)")
    p.add_argument("--delimiter", help="CSV delimiter (default: sniffed)")
    p.add_argument("--encoding", help="CSV encoding (default: detected)")
    p.add_argument("--sheet", help="XLSX sheet (default: the first)")
    p.add_argument("--actor", help="who imports, for the history (default: login name)")
    p.add_argument("--workers", type=int, help="parser processes (default: 2 for big files)")
    p.add_argument("--report", type=Path, help="write every problem row to this CSV file")
    p.add_argument("--show", type=int, default=SHOW_DEFAULT, help="problems to print (20)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    add_db_option(p)
    p.set_defaults(func=run)


def _mapping(args: argparse.Namespace) -> ColumnMapping:
    mapping = ColumnMapping.from_toml(args.mapping) if args.mapping else ColumnMapping()
    mapping = mapping.with_pairs(args.map, args.var)
    overrides = {
        "delimiter": args.delimiter,
        "encoding": args.encoding,
        "sheet": args.sheet,
        "region": args.region,
    }
    if any(v is not None for v in overrides.values()):
        mapping = ColumnMapping(
            columns=mapping.columns,
            auto=mapping.auto,
            variables=mapping.variables,
            unmapped=mapping.unmapped,
            region=args.region or mapping.region,
            delimiter=args.delimiter or mapping.delimiter,
            encoding=args.encoding or mapping.encoding,
            sheet=args.sheet or mapping.sheet,
        )
    return mapping


async def run(args: argparse.Namespace) -> int:
    # stdout carries the result (possibly JSON); log lines, warnings only, go to stderr.
    configure_logging(level="warning", fmt="console", stream=sys.stderr)
    try:
        mapping = _mapping(args)
    except MappingError as exc:
        raise CliError(str(exc), EX_USAGE) from None
    async with open_store(args) as store:
        try:
            report = await import_file(
                store,
                args.file,
                campaign=args.campaign,
                mapping=mapping,
                mode=ImportMode(args.mode),
                list_name=args.list_name,
                task=args.task,
                actor=actor(args),
                region=args.region or "DE",
                workers=args.workers,
            )
        except ImportFileError as exc:
            raise CliError(str(exc), EX_NOINPUT) from None
        except MappingError as exc:
            raise CliError(f"{args.file}: {exc}", EX_USAGE) from None
        except NotFound:
            raise  # open_store words it like every other command
        except StoreError as exc:
            error = store_error(exc)
            raise CliError(
                f"import failed, nothing was imported: {error}", error.exit_code
            ) from None
        except Exception as exc:
            raise CliError(
                "import failed and was rolled back, nothing was imported: "
                f"{type(exc).__name__}: {exc}",
                EX_SOFTWARE,
            ) from None
    report_path = _write_problems(report, args.report) if report.problems else None
    if args.json:
        data = report.as_dict(max_problems=JSON_PROBLEMS)
        data["problems_file"] = str(report_path) if report_path else None
        data["transaction"] = "one transaction per import"
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(_text(report, report_path, max(0, args.show)))
    if report.imported == 0:
        if not args.json:
            sys.stderr.write(f"dialerd: error: {_nothing_reason(report)}\n")
        return EX_DATAERR
    return 0


def _nothing_reason(report: ImportReport) -> str:
    if report.rows == 0:
        return f"nothing imported: {report.file_name} has no data rows"
    return (
        f"nothing imported: all {report.rows} rows were rejected ({report.rejected}) "
        f"or duplicates ({report.duplicates})"
    )


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def _text(report: ImportReport, report_path: Path | None, show: int) -> str:
    lines = [
        f"import #{report.import_id}: {report.file_name} -> campaign {report.campaign!r}, "
        f"list {report.list_name!r}, task {report.task!r}, mode {report.mode} "
        f"(one transaction, committed)",
        f"  rows {report.rows:,}: imported {report.imported:,}, rejected {report.rejected:,}, "
        f"duplicates {report.duplicates:,}; replaced {report.replaced:,} untouched contacts; "
        f"{report.seconds:.1f} s",
    ]
    if report.problems:
        shown = report.problems[:show]
        where = f"; all of them in {report_path}" if report_path else ""
        lines.append(f"  problems (first {len(shown)} of {len(report.problems):,}{where}):")
        for p in shown:
            column = f", column {p.column!r}" if p.column else ""
            value = f" [{p.value}]" if p.value else ""
            lines.append(f"    row {p.row}{column}: {p.reason}{value}")
    return "\n".join(lines) + "\n"


def _write_problems(report: ImportReport, path: Path | None) -> Path | None:
    """All problem rows as CSV; next to nothing important: ``--report`` or the temp dir."""
    if path is None:
        stem = Path(report.file_name).stem
        path = Path(tempfile.gettempdir()) / f"dialerd-import-{report.import_id}-{stem}.csv"
    try:
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(["row", "column", "kind", "reason", "value"])
            for p in report.problems:
                w.writerow([p.row, p.column or "", str(p.kind), p.reason, p.value or ""])
    except OSError as exc:
        sys.stderr.write(f"dialerd: warning: cannot write the problem report {path}: {exc}\n")
        return None
    return path
