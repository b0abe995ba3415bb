"""``dialerd bench pacing``: dialerd's pacing policies against baselines and the oracle.

A discrete-event simulation runs the same :mod:`dialerd.pacing` code the daemon runs, fed by the
same :class:`~dialerd.pacing.SnapshotBuilder`, against drawn callees and agents, many times faster
than real time. See ``docs/pacing.md`` for the model, the baselines and the results.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dialerd.bench.pacing.policies import POLICY_NAMES, TARGET
from dialerd.bench.pacing.scenario import Scenario, ScenarioError, load_scenario

if TYPE_CHECKING:
    from dialerd.bench.pacing.runner import JobResult

#: issue 11's scenarios, which its targets are for
STANDARD = ("s1-small", "s2-large", "s3-tiny", "s4-drift", "s5-amd")
#: the abrupt changes issue 11 also asks about (never worse than progressive there), and a
#: cold list answered 5 % of the time, whose abandons come in the largest bursts
STRESS = ("s6-steps", "s7-shift", "s8-lowrate")


def scenarios_dir() -> Path:
    """``bench/scenarios`` of the working directory, else of the source checkout."""
    here = Path.cwd() / "bench" / "scenarios"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[4] / "bench" / "scenarios"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "pacing",
        help="simulate days of calling: dialerd's pacing against baselines and the oracle",
        description=__doc__,
    )
    p.add_argument(
        "--scenario",
        action="append",
        metavar="FILE",
        help="scenario TOML (repeatable; default: s1..s5, issue 11's, and s6..s8)",
    )
    p.add_argument("--seeds", type=int, default=20, help="seeds per scenario (default 20)")
    p.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    p.add_argument("--out", default="bench/results", help="directory for JSON and PNG")
    p.add_argument(
        "--policies",
        default=",".join(POLICY_NAMES),
        help=f"comma-separated subset of {', '.join(POLICY_NAMES)}; also {TARGET}<target>, "
        "predictive on a campaign whose abandonment target is <target> (a share, e.g. "
        f"{TARGET}0.005), to compare with a baseline at its own lower abandonment",
    )
    p.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument(
        "--speed",
        action="store_true",
        help="speed report instead: one day (the first seed) of one scenario (default s2-large) "
        "with every policy, wall time and predictive's cost per decision",
    )
    p.add_argument(
        "--frontier",
        nargs="?",
        const="default",
        metavar="RATES",
        help="the predictive model's curve instead: it plans at each fixed abandonment rate "
        "(comma-separated, e.g. 0,0.005,0.01; default a sweep from 0 to 4 %%) with no window "
        "and no calibration, next to the oracle, progressive and the windowed predictive",
    )
    p.add_argument(
        "--known-agents",
        action="store_true",
        help="with --frontier: the fixed-rate policies are told every busy agent's exact free "
        "time (an experiment: where that curve is the ordinary one, a better forecast of the "
        "agents cannot lift it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _load(args: argparse.Namespace) -> list[Scenario]:
    from dialerd.cli.errors import EX_DATAERR, EX_NOINPUT, CliError

    files = args.scenario or [str(scenarios_dir() / f"{n}.toml") for n in STANDARD + STRESS]
    out = []
    for f in files:
        if not Path(f).is_file():
            raise CliError(f"scenario file not found: {f}", EX_NOINPUT)
        try:
            out.append(load_scenario(f))
        except ScenarioError as exc:
            raise CliError(str(exc), EX_DATAERR) from exc
    return out


def run(args: argparse.Namespace) -> int:
    from dialerd.bench.pacing.policies import known_policy
    from dialerd.bench.pacing.report import markdown, plot, summarise, write_json
    from dialerd.cli.errors import EX_USAGE, CliError

    policies = [p.strip() for p in args.policies.split(",") if p.strip()]
    unknown = [p for p in policies if not known_policy(p)]
    if unknown:
        raise CliError(
            f"unknown policy: {', '.join(unknown)} (known: {', '.join(POLICY_NAMES)}, and "
            f"{TARGET}<target> with the target a share in (0, 1), e.g. {TARGET}0.005)",
            EX_USAGE,
        )
    if args.seeds < 1:
        raise CliError("--seeds must be at least 1", EX_USAGE)
    if args.known_agents and not args.frontier:
        raise CliError("--known-agents is a --frontier experiment: add --frontier", EX_USAGE)
    if args.speed:
        if not args.scenario:
            args.scenario = [str(scenarios_dir() / "s2-large.toml")]
        return _speed(_load(args)[0], args.first_seed, policies, args.workers, Path(args.out))
    scenarios = _load(args)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    if args.frontier:
        return _frontier(args, scenarios, seeds)
    results, wall, command, header = _simulate(args, scenarios, seeds, policies)
    summary = summarise(results)
    text = markdown(summary, header)
    sys.stdout.write(text + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": command,
        "seeds": list(seeds),
        "policies": policies,
        "scenarios": [sc.source for sc in scenarios],
        "wall_s": wall,
        "workers": args.workers,
    }
    write_json(summary, results, out / "pacing.json", meta)
    written = [out / "pacing.json"]
    if not args.no_plots:
        written += plot(summary, out)
    sys.stdout.write("Written: " + ", ".join(str(p) for p in written) + "\n")
    return 0


def _rates(text: str) -> tuple[float, ...]:
    from dialerd.bench.pacing.frontier import DEFAULT_RATES
    from dialerd.bench.pacing.policies import planning_rate
    from dialerd.cli.errors import EX_USAGE, CliError

    if text == "default":
        return DEFAULT_RATES
    rates = []
    for part in text.split(","):
        try:
            rates.append(planning_rate(part.strip()))
        except ValueError:
            raise CliError(
                f"--frontier: {part.strip()!r} is not a planning rate (a share in [0, 1), "
                "e.g. 0.005 for 0.5 %)",
                EX_USAGE,
            ) from None
    return tuple(sorted(set(rates)))


def _simulate(
    args: argparse.Namespace, scenarios: list[Scenario], seeds: range, policies: list[str]
) -> tuple[list[JobResult], float, str, str]:
    """Every (scenario, seed, policy) day in the workers: the results, the wall time, the
    command as typed and the report's header line saying both."""
    from dialerd.bench.pacing.runner import Job, ProgressBar, run_jobs

    jobs = [Job(sc, seed, pol) for sc in scenarios for seed in seeds for pol in policies]
    t0 = time.perf_counter()
    results = run_jobs(jobs, workers=args.workers, progress=ProgressBar(enabled=not args.quiet))
    wall = time.perf_counter() - t0
    command = ("dialerd bench pacing " + " ".join(shlex.quote(a) for a in sys.argv[3:])).strip()
    header = (
        f"Command: `{command}` — {len(jobs)} simulated days in {wall:.0f} s "
        f"with {args.workers} worker(s)."
    )
    return results, wall, command, header


def _frontier(args: argparse.Namespace, scenarios: list[Scenario], seeds: range) -> int:
    """The model's talk-against-abandons curve at fixed planning rates (see ``frontier``)."""
    import json

    from dialerd.bench.pacing import frontier

    rates = _rates(args.frontier)
    policies = frontier.policy_names(rates, known_agents=args.known_agents)
    results, wall, command, header = _simulate(args, scenarios, seeds, policies)
    summary = frontier.summarise(results)
    if args.known_agents:
        header += (
            " The fixed-rate policies are told every busy agent's exact free time "
            "(`+known-agents`); the windowed predictive is not."
        )
    sys.stdout.write(frontier.markdown(summary, header) + "\n")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pacing-frontier.json"
    meta = {
        "command": command,
        "seeds": list(seeds),
        "rates": list(rates),
        "known_agents": args.known_agents,
        "wall_s": wall,
    }
    path.write_text(json.dumps({"meta": meta, "summary": summary}, indent=1) + "\n")
    written = [path]
    if not args.no_plots:
        png = frontier.plot(summary, out)
        written += [png] if png else []
    sys.stdout.write("Written: " + ", ".join(str(p) for p in written) + "\n")
    return 0


def _speed(scenario: Scenario, seed: int, policies: list[str], workers: int, out: Path) -> int:
    """Issue #11's speed figures: the wall time of one day with every policy (each policy a
    job for the worker processes) and predictive's cost per decision, next to the load."""
    import json
    import os

    import numpy as np

    from dialerd.bench.pacing.runner import Job, run_jobs

    jobs = [Job(scenario, seed, pol) for pol in policies]
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    results = run_jobs(jobs, workers=workers)
    wall = time.perf_counter() - t0
    load_after = os.getloadavg()
    processes = min(workers, len(jobs)) if workers > 1 and len(jobs) > 1 else 1
    lines = [
        f"Speed: {scenario.name}, seed {seed}, {scenario.hours:g} h, {scenario.agents} agents. "
        f"One day with {len(jobs)} policies: {wall:.2f} s wall time in {processes} "
        f"process(es). Load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        "",
        "| policy | decisions | day (s, in its process) |",
        "|---|---|---|",
    ]
    report: dict[str, Any] = {
        "scenario": scenario.source,
        "seed": seed,
        "wall_s": wall,
        "processes": processes,
        "loadavg_before": load_before[0],
        "loadavg_after": load_after[0],
        "policies": {},
    }
    costs: list[str] = []
    for r in results:
        lines.append(f"| {r.policy} | {r.decisions} | {r.wall_s:.2f} |")
        entry: dict[str, Any] = {"wall_s": r.wall_s, "decisions": r.decisions}
        if r.decide_s:
            ms = np.asarray(r.decide_s) * 1e3
            entry["decide_ms"] = {
                q: float(np.percentile(ms, v)) for q, v in (("p50", 50), ("p99", 99))
            } | {"mean": float(ms.mean()), "max": float(ms.max()), "count": int(ms.size)}
            d = entry["decide_ms"]
            costs.append(
                f"{r.policy} decision: p50 {d['p50']:.3f} ms, p99 {d['p99']:.3f} ms, mean "
                f"{d['mean']:.3f} ms, max {d['max']:.2f} ms over {d['count']} decisions."
            )
        report["policies"][r.policy] = entry
    sys.stdout.write("\n".join([*lines, "", *costs]) + "\n")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "pacing-speed.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(f"Written: {path}\n")
    return 0
