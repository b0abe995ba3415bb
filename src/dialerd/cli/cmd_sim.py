"""``dialerd sim``: run the simulated Asterisk (AMI over TCP) until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from dataclasses import replace
from typing import Any

from dialerd.cli.errors import EX_UNAVAILABLE, EX_USAGE, CliError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sim", help="run the simulated Asterisk (AMI server) for tests, demo and benchmarks"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5038, help="AMI port (default 5038)")
    p.add_argument("--seed", type=int, default=0, help="seed of the callee/agent models")
    p.add_argument(
        "--speed", type=float, default=1.0, help="clock speed-up (1 = real time, 10 = 10x faster)"
    )
    p.add_argument("--username", default="dialer", help="AMI user (default dialer)")
    p.add_argument("--secret", default="dialerpass", help="AMI secret (default dialerpass)")
    p.add_argument(
        "--member-timeout",
        type=float,
        default=None,
        help="seconds a queue member rings (queues.conf timeout, default 15)",
    )
    p.add_argument(
        "--queues",
        default=None,
        help="comma-separated queues that exist, as in queues.conf (default: any queue a client"
        " names exists); a QueueAdd to another is refused as by Asterisk",
    )
    p.add_argument("--answer", type=float, default=None, help="answer share for E.164 numbers")
    p.add_argument("--machine", type=float, default=None, help="machine share of answers")
    p.set_defaults(func=run)


async def run(args: argparse.Namespace) -> int:
    from dialerd.domain.clock import Clock, ScaledClock, SystemClock
    from dialerd.sim import SimAsterisk, SimModel

    if args.speed <= 0:
        raise CliError("--speed must be positive", EX_USAGE)
    if not 0 <= args.port <= 65535:
        raise CliError("--port must be within 0..65535", EX_USAGE)
    clock: Clock = SystemClock() if args.speed == 1.0 else ScaledClock(args.speed)
    model = SimModel()
    try:
        if args.member_timeout is not None:
            model = replace(model, queue=replace(model.queue, member_timeout=args.member_timeout))
        if args.queues is not None:
            names = frozenset(q.strip() for q in args.queues.split(",") if q.strip())
            if not names:
                raise CliError("--queues needs at least one queue name", EX_USAGE)
            model = replace(model, queue=replace(model.queue, queues=names))
        if args.answer is not None or args.machine is not None:
            callee = model.callee
            if args.answer is not None:
                callee = replace(callee, answer=args.answer)
            if args.machine is not None:
                callee = replace(callee, machine=args.machine)
            model = replace(model, callee=callee)
    except ValueError as exc:
        raise CliError(str(exc), EX_USAGE) from exc
    sim = SimAsterisk(
        host=args.host,
        port=args.port,
        clock=clock,
        seed=args.seed,
        username=args.username,
        secret=args.secret,
        model=model,
    )
    try:
        await sim.start()
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror}", EX_UNAVAILABLE
        ) from exc
    sys.stdout.write(
        f"dialerd sim: AMI on {args.host}:{sim.port} (seed {args.seed}, speed {args.speed:g})\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await sim.stop()
    return 0
