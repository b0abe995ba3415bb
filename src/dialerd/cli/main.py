"""The ``dialerd`` command line.

Each subcommand lives in its own module ``dialerd.cli.cmd_<name>`` exposing
``register(subparsers)``; the module registers its parser and sets ``func`` (sync or async,
taking the parsed ``argparse.Namespace`` and returning an exit code). Discovery keeps this file
free of merge conflicts as commands are added.

Errors a user can cause raise :class:`CliError`: one clear line on stderr, no traceback, and a
non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import pkgutil
import sys
from collections.abc import Sequence

import dialerd
from dialerd.cli.errors import EX_SOFTWARE, CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dialerd", description="Predictive dialer for Asterisk (AMI)."
    )
    parser.add_argument("--version", action="version", version=f"dialerd {dialerd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    import dialerd.cli as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"dialerd.cli.{info.name}")
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        result = func(args)
        if inspect.isawaitable(result):
            result = asyncio.run(result)  # type: ignore[arg-type]
        return int(result or 0)
    except CliError as exc:
        sys.stderr.write(f"dialerd: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # noqa: BLE001 - last line of defence: one line, no traceback
        sys.stderr.write(f"dialerd: internal error: {type(exc).__name__}: {exc}\n")
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
