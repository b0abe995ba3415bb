"""``dialerd version``."""

from __future__ import annotations

import argparse
from typing import Any

import dialerd


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("version", help="print the version")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    sys.stdout.write(f"dialerd {dialerd.__version__}\n")
    return 0
