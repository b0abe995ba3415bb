"""``dialerd demo``: the daemon dialing a simulated Asterisk, with a live console view.

See :mod:`dialerd.daemon.demo` for what is simulated and what is real.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from dialerd.cli.errors import EX_CONFIG, EX_USAGE, CliError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo",
        help="run the daemon against a simulated Asterisk with a live console view",
        description=(
            "Start a simulated Asterisk and the dialerd daemon in one process on a fresh SQLite "
            "store under ./var/demo/, import sample contacts into a predictive campaign, log in "
            "simulated agents and show what happens. Ctrl-C stops it (calls in progress are "
            "drained) and prints a summary."
        ),
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="stop by itself after this many real minutes (default: run until Ctrl-C)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=10.0,
        help="clock speed-up of the simulator and the engine (default 10)",
    )
    p.add_argument("--agents", type=int, default=10, help="simulated agents (default 10)")
    p.add_argument("--contacts", type=int, default=3000, help="contacts to import (default 3000)")
    p.add_argument(
        "--port",
        type=int,
        default=8080,
        help="API and /metrics port on 127.0.0.1 (default 8080; 0 = any free port)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the simulation (default 1)")
    p.add_argument(
        "--dir",
        type=Path,
        default=Path("var/demo"),
        help="working directory for the store, contacts and log (default ./var/demo)",
    )
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    from dialerd.config import ConfigError
    from dialerd.daemon.app import DaemonError
    from dialerd.daemon.demo import DemoOptions, run_demo

    if args.minutes is not None and args.minutes <= 0:
        raise CliError("--minutes must be positive", EX_USAGE)
    if not 0 < args.speed <= 1000:
        raise CliError("--speed must be within (0, 1000]", EX_USAGE)
    if not 1 <= args.agents <= 1000:
        raise CliError("--agents must be within 1..1000", EX_USAGE)
    if not 1 <= args.contacts <= 1_000_000:
        raise CliError("--contacts must be within 1..1000000", EX_USAGE)
    if not 0 <= args.port <= 65535:
        raise CliError("--port must be within 0..65535", EX_USAGE)
    options = DemoOptions(
        minutes=args.minutes,
        speed=args.speed,
        agents=args.agents,
        contacts=args.contacts,
        port=args.port,
        seed=args.seed,
        workdir=args.dir,
    )
    try:
        await run_demo(options, sys.stdout)
    except ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    except DaemonError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    return 0
