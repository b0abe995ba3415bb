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
import os
import pkgutil
import sys
import traceback
from collections.abc import Sequence

import dialerd
from dialerd.cli.errors import EX_SOFTWARE, CliError


def _command_modules() -> list[str]:
    import dialerd.cli as pkg

    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("cmd_"))


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Build the parser; with ``only``, import just that command's module.

    Command modules pull in heavy libraries (SQLAlchemy, FastAPI, matplotlib); importing all of
    them for every invocation made each start cost seconds, which systemd, scripts and the test
    suite all pay. ``dialerd --help`` and unknown commands still load everything.
    """
    parser = argparse.ArgumentParser(
        prog="dialerd", description="Predictive dialer for Asterisk (AMI)."
    )
    parser.add_argument("--version", action="version", version=f"dialerd {dialerd.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    names = _command_modules()
    if only is not None and only in names:
        names = [only]
    for name in names:
        module = importlib.import_module(f"dialerd.cli.{name}")
        module.register(sub)
    return parser


def _requested_module(argv: Sequence[str]) -> str | None:
    for arg in argv:
        if not arg.startswith("-"):
            return "cmd_" + arg.replace("-", "_")
        return None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_requested_module(args_list))
    args = parser.parse_args(args_list)
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
    except Exception as exc:  # last line of defence: one line, traceback only on request
        if os.environ.get("DIALERD_DEBUG"):
            traceback.print_exc()
        sys.stderr.write(f"dialerd: internal error: {type(exc).__name__}: {exc}\n")
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
