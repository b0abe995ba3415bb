"""The compiled kernels of predictive pacing against the numpy code they replace.

Every kernel is also run uncompiled (plain Python through the same plumbing), so these tests
say the same with or without numba installed; with numba, the compiled kernels too.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dialerd.bench.pacing.policies import make_policy
from dialerd.bench.pacing.scenario import load_scenario
from dialerd.bench.pacing.simulate import run_day
from dialerd.pacing import _kernels, predictive
from dialerd.pacing import poisson_binomial as pb
from dialerd.pacing.distributions import Empirical, Fixed, FloatArray, LogNormal
from dialerd.pacing.estimators import DEFAULT_PRIOR, OnlineEstimates, change_point_update
from dialerd.pacing.snapshot import PacingSettings, Snapshot

SCENARIOS = Path(__file__).resolve().parents[2] / "bench" / "scenarios"

PLAIN = _kernels.Kernels(
    model_rows=_kernels.model_rows,
    excess_curve=_kernels.excess_curve,
    change_point_update=_kernels.change_point_update,
)
"""The kernels as plain Python: what numba compiles, run by the interpreter."""


def brute_excess(probs: FloatArray, start: FloatArray, q: FloatArray, n: int) -> float:
    """max_g E[(start_g + B - S_g)^+], B ~ Binomial(n, q_g), S_g ~ sum of Bernoulli(probs),
    by enumerating every outcome of every item."""
    items, grid = probs.shape
    best = 0.0
    for g in range(grid):
        law = np.zeros(items + 1)
        for bits in itertools.product((0, 1), repeat=items):
            law[sum(bits)] += math.prod(
                p if b else 1.0 - p for b, p in zip(bits, probs[:, g], strict=True)
            )
        total = 0.0
        for b in range(n + 1):
            weight = math.comb(n, b) * q[g] ** b * (1.0 - q[g]) ** (n - b)
            total += weight * sum(max(start[g] + b - y, 0.0) * law[y] for y in range(items + 1))
        best = max(best, total)
    return best


def _compiled() -> _kernels.Kernels | None:
    _kernels._loaded.clear()
    return _kernels.kernels()


@pytest.fixture(params=["plain", "compiled"])
def kernels(request: pytest.FixtureRequest) -> Iterator[_kernels.Kernels]:
    """Each kernel as plain Python and, when numba is installed, compiled."""
    if request.param == "plain":
        chosen: _kernels.Kernels | None = PLAIN
    else:
        chosen = _compiled()
        if chosen is None:
            pytest.skip("numba is not installed")
    assert chosen is not None
    _kernels._loaded[:] = [chosen]
    predictive._last.clear()
    yield chosen
    _kernels._loaded.clear()
    predictive._last.clear()


def _random_cdf(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    """Strictly increasing knots and a CDF with flat stretches (empty bins) and exact 0/1."""
    xp = np.cumsum(rng.uniform(0.05, 3.0, n))
    fp = np.sort(rng.random(n))
    fp[rng.integers(0, n, n // 3)] = 0.0
    fp = np.sort(fp)
    fp[-1] = 1.0
    return xp, fp


def test_interp_grid_is_numpys_interp_bit_for_bit(kernels: _kernels.Kernels) -> None:
    interp = _kernels.interp_grid
    rng = np.random.default_rng(7)
    for _ in range(40):
        xp, fp = _random_cdf(rng, int(rng.integers(2, 60)))
        bases = np.concatenate(
            [rng.uniform(-5.0, xp[-1] + 5.0, 6), xp[rng.integers(0, xp.shape[0], 3)], [np.nan]]
        )
        offsets = np.concatenate([[0.0], np.arange(-3.0, 20.0), xp[:2] - xp[0]])
        out = np.empty((bases.shape[0], offsets.shape[0]))
        interp(bases, offsets, xp, fp, out)
        want = np.interp(bases[:, None] + offsets[None, :], xp, fp, left=0.0, right=1.0)
        np.testing.assert_array_equal(out, want)


def test_pairwise_sum_is_numpys_sum_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    for n in [*range(300), 513, 1000, 1029, 4097]:
        column = (rng.random((n, 3)) * 10.0 ** rng.uniform(-6, 6, (n, 3)))[:, -1]
        assert _kernels._pairwise_sum(np.ascontiguousarray(column)) == float(column.sum())


def _estimates(rng: np.random.Generator, wrapup_spread: bool) -> OnlineEstimates:
    est = OnlineEstimates(DEFAULT_PRIOR)
    for _ in range(int(rng.integers(0, 400))):
        if rng.random() < 0.4:
            est.record_answer(float(rng.lognormal(2.0, 0.5)))
            est.record_live(bool(rng.random() < 0.8))
        else:
            est.record_failure(float(rng.uniform(1.0, 25.0)))
        est.record_talk(float(rng.lognormal(4.5, 0.8)))
        est.record_wrapup(float(rng.uniform(5.0, 40.0)) if wrapup_spread else 15.0)
    return est


def _snapshots(rng: np.random.Generator, count: int) -> Iterator[Snapshot]:
    for i in range(count):
        amd = 0.0 if i % 3 else float(rng.uniform(1.0, 4.0))
        settings = PacingSettings(amd_delay_s=amd, ring_timeout_s=float(rng.integers(15, 30)))
        est = _estimates(rng, wrapup_spread=bool(i % 2)).estimates()
        talking = list(rng.lognormal(4.0, 1.2, int(rng.integers(0, 40))))
        if i % 5 == 0:
            talking += [0.0, 5e5]  # just answered; past every recorded talk time (the tail)
        yield Snapshot(
            settings=settings,
            estimates=est,
            free_lines=100,
            ready=tuple(rng.random(int(rng.integers(0, 5)))),
            talking=tuple(float(t) for t in talking),
            wrapup=tuple(float(w) for w in rng.uniform(0.0, 30.0, int(rng.integers(0, 6)))),
            ringing=tuple(float(r) for r in rng.uniform(0.0, 30.0, int(rng.integers(0, 25)))),
            screening=tuple(rng.uniform(0.0, amd, int(rng.integers(0, 4)))) if amd else (),
            queued=tuple(rng.random(int(rng.integers(0, 3)))),
        )


def test_model_rows_are_build_models_numpy_rows_bit_for_bit(kernels: _kernels.Kernels) -> None:
    rng = np.random.default_rng(5)
    tails = 0
    for snap in _snapshots(rng, 60):
        fast = predictive.build_model(snap)
        slow = predictive._build_model_numpy(snap, predictive._static(snap))
        assert predictive._static(snap).compiled is not None  # the kernel did the work
        assert len(fast.blocks) == len(slow.blocks)
        for a, b in zip(fast.blocks, slow.blocks, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fast.c, slow.c)
        assert fast.expected_need == slow.expected_need
        np.testing.assert_array_equal(fast.q, slow.q)
        tails += 5e5 in snap.talking
    assert tails  # the exponential tail of conditional_cdf was exercised


def test_other_distribution_shapes_and_unsorted_knots_stay_with_numpy(
    kernels: _kernels.Kernels,
) -> None:
    rng = np.random.default_rng(2)
    snap = next(_snapshots(rng, 1))
    shapes = dataclasses.replace(snap.estimates, talk=LogNormal(120.0, 60.0), wrapup=Fixed(15.0))
    flat = Empirical(np.array([0.0, 10.0, 10.0, 50.0]), np.array([0.0, 0.5, 0.6, 1.0]), 20.0)
    repeated = dataclasses.replace(snap.estimates, talk=flat)
    for est in (shapes, repeated):
        other = dataclasses.replace(snap, estimates=est)
        fast = predictive.build_model(other)
        slow = predictive._build_model_numpy(other, predictive._static(other))
        for a, b in zip(fast.blocks, slow.blocks, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(fast.c, slow.c)


def test_excess_kernel_is_the_exact_excess(kernels: _kernels.Kernels) -> None:
    rng = np.random.default_rng(9)
    for _ in range(60):
        n, grid = int(rng.integers(0, 7)), int(rng.integers(1, 4))
        probs = rng.random((n, grid)) ** 3
        probs[rng.random((n, grid)) < 0.2] = 1.0
        start = rng.integers(-3, n + 3, grid).astype(np.float64)
        if rng.random() < 0.3:
            start += rng.random(grid)
        q = np.where(rng.random(grid) < 0.2, 0.0, rng.random(grid))
        last = int(rng.integers(0, 6))
        first = int(rng.integers(0, last + 1))
        got = kernels.excess_curve(probs, start, q, first, last)
        want = [brute_excess(probs, start, q, k) for k in range(first, last + 1)]
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)


def test_excess_kernel_matches_the_numpy_kernels_on_pacing_sizes(
    kernels: _kernels.Kernels, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(4)
    for case in range(12):
        n, grid = int(rng.integers(1, 70)), 26
        complement = rng.random((n, grid)) ** rng.uniform(0.2, 4.0)
        start = np.sort(rng.integers(-5, n // 2 + 2, grid).astype(np.float64))[::-1].copy()
        if case % 3 == 0:
            start += 0.25
        q = np.linspace(0.0, rng.uniform(0.1, 0.5), grid)
        first, last = [(0, 8), (9, 25), (0, 3), (5, 140)][case % 4]
        got = kernels.excess_curve(complement, start, q, first, last)
        monkeypatch.setattr(_kernels, "ENABLED", False)
        want = pb.excess_curve(complement, start, q, first, last)
        monkeypatch.setattr(_kernels, "ENABLED", True)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)
        # far tails keep their relative precision (no cancellation in either)
        assert np.all((got == 0.0) == (want == 0.0))


def test_rare_tails_keep_their_relative_precision_in_the_kernel(kernels: _kernels.Kernels) -> None:
    # 40 items each adding one to S with probability 0.999: E[(1 - S)^+] = P(S = 0) = 1e-120
    got = kernels.excess_curve(np.full((40, 1), 0.999), np.array([1.0]), np.zeros(1), 0, 0)
    assert got[0] == pytest.approx(1e-120, rel=1e-9)
    assert math.isfinite(float(got[0]))


def test_change_point_update_is_numpys_bit_for_bit(kernels: _kernels.Kernels) -> None:
    # through the filling of every run length, their merging at the cap, a certain prior
    # (a share of 1) and a rise, the answer-rate estimator's state stays numpy's to the bit
    rng = np.random.default_rng(5)
    outcomes = np.concatenate([np.ones(20), rng.random(300) < 0.1, rng.random(200) < 0.5])
    cap = 200  # past 128, where numpy's sums go pairwise
    states = []
    for update in (change_point_update, kernels.change_point_update):
        post, succ, fail, grown = np.zeros(cap), np.zeros(cap), np.zeros(cap), np.zeros(cap)
        post[0], succ[0], fail[0] = 1.0, 10.0, 0.0
        runs, value, trace = 1, 1.0, []
        for x in outcomes:
            runs, value = update(post, succ, fail, grown, runs, float(x), 5e-4, 0.99, value)
            trace.append(value)
        states.append((runs, np.array(trace), post.copy(), succ.copy(), fail.copy()))
    (r1, t1, *a1), (r2, t2, *a2) = states
    assert r1 == r2 == cap
    np.testing.assert_array_equal(t1, t2)
    for x, y in zip(a1, a2, strict=True):
        np.testing.assert_array_equal(x, y)
    assert 0.3 < t1[-1] < 0.7  # and it is an estimate: the last 200 outcomes were 50 %


@pytest.mark.parametrize("name", ["s2-large", "s5-amd"])
def test_a_day_decides_the_same_with_and_without_the_kernels(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if _compiled() is None:
        pytest.skip("numba is not installed: both runs would be numpy's")
    scenario = dataclasses.replace(load_scenario(SCENARIOS / f"{name}.toml"), hours=0.75)

    def counts() -> list[int]:
        policy = make_policy("predictive", scenario)
        seen: list[int] = []
        decide = policy.decide

        def recording(snapshot: Snapshot, now: float) -> int:
            seen.append(decide(snapshot, now))
            return seen[-1]

        policy.decide = recording  # type: ignore[method-assign]
        run_day(scenario, 1, policy)
        predictive._last.clear()
        return seen

    compiled = counts()
    monkeypatch.setattr(_kernels, "ENABLED", False)
    assert counts() == compiled
    assert sum(compiled) > 0
