"""``dialerd bench <name>``: the benchmarks of :mod:`dialerd.bench`.

Every module or subpackage of ``dialerd.bench`` that exposes ``register(sub)`` becomes one
``dialerd bench <name>``, discovered like the subcommands themselves, so adding a benchmark never
touches this file. ``dialerd bench all`` runs each of them with its defaults.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
from typing import Any

import dialerd.bench as bench_pkg


def _modules() -> list[Any]:
    found = []
    for info in sorted(pkgutil.iter_modules(bench_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"dialerd.bench.{info.name}")
        if callable(getattr(module, "register", None)):
            found.append(module)
    return found


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark")
    bench_sub = p.add_subparsers(dest="bench", metavar="NAME")
    bench_sub.required = True
    parsers: dict[str, argparse.ArgumentParser] = {}
    for module in _modules():
        before = set(bench_sub.choices)
        module.register(bench_sub)
        for name in set(bench_sub.choices) - before:
            parsers[name] = bench_sub.choices[name]
    p_all = bench_sub.add_parser("all", help="run every benchmark with its defaults")
    p_all.set_defaults(func=lambda args: _run_all(parsers))


async def _run_all(parsers: dict[str, argparse.ArgumentParser]) -> int:
    worst = 0
    for name in sorted(parsers):
        args = parsers[name].parse_args([])
        result = args.func(args)
        if inspect.isawaitable(result):
            result = await result
        worst = max(worst, int(result or 0))
    return worst
