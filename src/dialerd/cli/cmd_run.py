"""``dialerd run --config FILE``: the daemon (systemd ``Type=notify`` service).

A configuration the daemon cannot use exits 78 (EX_CONFIG) with one line per problem naming the
file and the key, before anything is started: systemd's ``RestartPreventExitStatus=78`` then
stops a restart loop on a broken file.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from dialerd.cli.errors import EX_CONFIG, CliError

DEFAULT_CONFIG = "/etc/dialerd/dialerd.toml"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "run", help="run the daemon (store, AMI links, engine, API, MQTT, metrics)"
    )
    p.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=DEFAULT_CONFIG,
        help=f"the daemon's TOML configuration (default {DEFAULT_CONFIG})",
    )
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    from dialerd.config import ConfigError, load_config
    from dialerd.daemon.app import Daemon, DaemonError
    from dialerd.daemon.logging import configure_logging

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        raise CliError(str(exc), EX_CONFIG) from None
    configure_logging(config.logging.level, config.logging.format, calls=config.logging.calls)
    # Alembic's schema check logs its set-up at INFO on every start: not the operator's business.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        await Daemon(config).run()
    except DaemonError as exc:
        raise CliError(str(exc), exc.exit_code) from None
    return 0
