"""``dialerd dnc add NUMBER | import FILE | remove NUMBER | check NUMBER``: do-not-call list.

Numbers are normalised to E.164 (``--region`` for numbers written without ``+``), so the same
number written two ways is one entry. Without ``--campaign`` an entry is global (all
campaigns). A number on the list is never leased for dialing; open contacts in call tasks with
that number are closed as ``failed`` / ``$dnc`` when it is added, and the campaign's taskflow
rules for ``$dnc`` move them on.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Any

from dialerd.cli.db import actor, add_db_option, add_json_option, open_store, write_json
from dialerd.cli.errors import EX_DATAERR, EX_NOINPUT, EX_USAGE, CliError
from dialerd.domain.changes import DncAdded
from dialerd.domain.clock import SystemClock

PHONE_HEADERS = {"phone", "number", "telefon", "telephone", "msisdn", "e164"}
SHOW_PROBLEMS = 20


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("dnc", help="do-not-call list")
    dsub = p.add_subparsers(dest="dnc_command", metavar="ACTION")
    dsub.required = True
    specs = (
        ("add", "add a number", run_add, "NUMBER"),
        ("remove", "remove a number", run_remove, "NUMBER"),
        ("check", "is a number on the list? (exit 0 yes, 1 no)", run_check, "NUMBER"),
        ("import", "add the numbers of a file (one per line, or a CSV column)", run_import, "FILE"),
    )
    for name, help_text, func, metavar in specs:
        q = dsub.add_parser(name, help=help_text)
        q.add_argument("value", metavar=metavar)
        q.add_argument("--campaign", help="only for this campaign (default: global)")
        q.add_argument(
            "--region", default="DE", help="region for numbers without +country (default DE)"
        )
        if name in ("add", "import"):
            q.add_argument("--note", help="why the number is on the list")
            q.add_argument("--actor", help="who adds it, for the history (default: login name)")
        add_db_option(q)
        add_json_option(q)
        q.set_defaults(func=func)


def _normalise(raw: str, region: str) -> str:
    from dialerd.domain.phone import InvalidPhone, normalize_phone

    try:
        return normalize_phone(raw.strip(), region)
    except InvalidPhone as exc:
        raise CliError(f"{raw!r} is not a valid phone number: {exc}", EX_DATAERR) from None
    except ValueError as exc:  # unknown region
        raise CliError(str(exc), EX_USAGE) from None


async def _campaign_id(store: Any, name: str | None) -> int | None:
    if name is None:
        return None
    return int((await store.get_campaign(name)).id)


async def run_add(args: argparse.Namespace) -> int:
    from dialerd.taskflow.manual import add_dnc  # the store, only when it runs

    number = _normalise(args.value, args.region)
    async with open_store(args) as store:
        cid = await _campaign_id(store, args.campaign)
        done = await add_dnc(
            store, [number], actor(args), SystemClock().now(), campaign_id=cid, note=args.note
        )
    scope = f"campaign {args.campaign}" if args.campaign else "all campaigns"
    if args.json:
        write_json(
            {
                "number": number,
                "added": bool(done.added),
                "scope": scope,
                "contacts_closed": done.closed,
                "in_call": list(done.in_call),
            }
        )
    else:
        state = "added to" if done.added else "already on"
        sys.stdout.write(f"{number} {state} the do-not-call list ({scope})\n")
        _tell_in_call(done.in_call)
    return 0


def _tell_in_call(in_call: tuple[int, ...]) -> None:
    """A number listed during its call is taken all the same: say so, so that nobody
    wonders why the call goes on."""
    if in_call:
        ids = ", ".join(str(i) for i in in_call)
        sys.stderr.write(
            f"contact(s) {ids} in a call right now: closed as failed/$dnc, the call goes on "
            "and its outcome does not reopen them\n"
        )


async def run_remove(args: argparse.Namespace) -> int:
    number = _normalise(args.value, args.region)
    async with open_store(args) as store:
        cid = await _campaign_id(store, args.campaign)
        removed = await store.remove_dnc(number, cid)
    if args.json:
        write_json({"number": number, "removed": removed})
    elif removed:
        sys.stdout.write(f"{number} removed from the do-not-call list\n")
    else:
        raise CliError(f"{number} is not on that do-not-call list", EX_NOINPUT)
    return 0


async def run_check(args: argparse.Namespace) -> int:
    number = _normalise(args.value, args.region)
    async with open_store(args) as store:
        cid = await _campaign_id(store, args.campaign)
        listed = await store.is_dnc(number, cid)
    if args.json:
        write_json({"number": number, "listed": listed})
    else:
        sys.stdout.write(f"{number} is {'ON' if listed else 'not on'} the do-not-call list\n")
    return 0 if listed else 1


def read_numbers(text: str) -> list[tuple[int, str]]:
    """``(line number, raw value)`` of a plain list or a CSV (column phone/number/..., else
    the first); blank lines and ``#`` comments are skipped, a header line is recognised."""
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    column = 0
    start = 0
    if rows:
        header = [h.strip().lower() for h in rows[0]]
        for i, h in enumerate(header):
            if h in PHONE_HEADERS:
                column, start = i, 1
                break
    out = []
    for lineno, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        out.append((lineno, row[column] if column < len(row) else ""))
    return out


def _read(path: Path) -> str:
    # A command line reads its input before the event loop has other work: blocking is fine.
    return path.read_text(encoding="utf-8-sig")


async def run_import(args: argparse.Namespace) -> int:
    from dialerd.domain.phone import InvalidPhone, PhoneNormalizer
    from dialerd.taskflow.manual import add_dnc

    path = Path(args.value)
    try:
        text = _read(path)
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}", EX_NOINPUT) from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not UTF-8 text", EX_DATAERR) from None
    try:
        normalizer = PhoneNormalizer(args.region)
    except ValueError as exc:
        raise CliError(str(exc), EX_USAGE) from None
    numbers: list[str] = []
    problems: list[dict[str, Any]] = []
    for lineno, raw in read_numbers(text):
        try:
            numbers.append(normalizer.normalize(raw)[0])
        except InvalidPhone as exc:
            problems.append({"line": lineno, "value": raw, "reason": str(exc)})
    done = DncAdded(0)
    if numbers:
        async with open_store(args) as store:
            cid = await _campaign_id(store, args.campaign)
            done = await add_dnc(
                store, numbers, actor(args), SystemClock().now(), campaign_id=cid, note=args.note
            )
    added = done.added
    result = {
        "file": str(path),
        "numbers": len(numbers),
        "added": added,
        "already_listed": len(set(numbers)) - added,
        "contacts_closed": done.closed,
        "in_call": list(done.in_call),
        "rejected": problems,
    }
    if args.json:
        write_json(result)
    else:
        for p in problems[:SHOW_PROBLEMS]:
            sys.stderr.write(f"{path}:{p['line']}: {p['value']!r}: {p['reason']}\n")
        if len(problems) > SHOW_PROBLEMS:
            sys.stderr.write(f"{path}: ... and {len(problems) - SHOW_PROBLEMS} more rejected\n")
        sys.stdout.write(
            f"{path}: {added} number(s) added, {result['already_listed']} already listed, "
            f"{len(problems)} rejected\n"
        )
        _tell_in_call(done.in_call)
    if not numbers and problems:
        return EX_DATAERR
    return 0
