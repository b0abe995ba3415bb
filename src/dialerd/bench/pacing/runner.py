"""Runs every (scenario, seed, policy) day, in worker processes, and collects the results."""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dialerd.bench.pacing.policies import make_policy
from dialerd.bench.pacing.scenario import Scenario
from dialerd.bench.pacing.simulate import DayResult, run_day, run_oracle


@dataclass(frozen=True)
class Job:
    scenario: Scenario
    seed: int
    policy: str


@dataclass
class JobResult:
    scenario: str
    seed: int
    policy: str
    metrics: dict[str, float]
    hourly_live: list[int]
    hourly_abandoned: list[int]
    wall_s: float
    decide_s: list[float]
    decisions: int


def run_job(job: Job) -> JobResult:
    t0 = time.perf_counter()
    res: DayResult
    if job.policy == "oracle":
        res = run_oracle(job.scenario, job.seed)
    else:
        policy = make_policy(job.policy, job.scenario)
        res = run_day(job.scenario, job.seed, policy, timed=job.policy == "predictive")
    wall = time.perf_counter() - t0
    return JobResult(
        scenario=job.scenario.name,
        seed=job.seed,
        policy=job.policy,
        metrics=res.metrics(),
        hourly_live=res.hourly_live,
        hourly_abandoned=res.hourly_abandoned,
        wall_s=wall,
        decide_s=res.decide_s,
        decisions=res.decisions,
    )


def _cost(job: Job) -> float:
    """Rough relative cost, so the slowest jobs start first and the workers finish together."""
    weight = 8.0 if job.policy.startswith("predictive") else 1.0
    if job.policy == "oracle":
        weight = 0.1
    return weight * job.scenario.hours * (job.scenario.agents + 20)


def run_jobs(
    jobs: Iterable[Job],
    workers: int = 2,
    progress: Callable[[int, int, JobResult], None] | None = None,
) -> list[JobResult]:
    ordered = sorted(jobs, key=_cost, reverse=True)
    out: list[JobResult] = []
    total = len(ordered)
    if workers <= 1 or total <= 1:
        for job in ordered:
            r = run_job(job)
            out.append(r)
            if progress:
                progress(len(out), total, r)
    else:
        ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        with ctx.Pool(workers) as pool:
            for r in pool.imap_unordered(run_job, ordered, chunksize=1):
                out.append(r)
                if progress:
                    progress(len(out), total, r)
    out.sort(key=lambda r: (r.scenario, r.policy, r.seed))
    return out


class ProgressBar:
    """A one-line progress bar on stderr (only when stderr is a terminal or forced)."""

    def __init__(self, stream: Any = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = enabled if enabled is not None else True
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int, r: JobResult) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(total, 1))
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (total - done) if done else 0.0
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
            f"{elapsed:5.0f}s eta {eta:4.0f}s  {r.scenario} {r.policy} seed {r.seed}   "
        )
        if done == total:
            self.stream.write("\n")
        self.stream.flush()
