"""The Poisson-binomial kernels of predictive pacing against brute-force enumeration."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.pacing import poisson_binomial as pb
from dialerd.pacing.distributions import FloatArray


def brute_pmf(probs: FloatArray) -> FloatArray:
    """P(S_g = k) for every k, by enumerating every outcome of every item."""
    n, grid = probs.shape
    out = np.zeros((grid, n + 1))
    for bits in itertools.product((0, 1), repeat=n):
        chosen = np.array(bits, dtype=bool)[:, None]
        out[:, sum(bits)] += np.prod(np.where(chosen, probs, 1.0 - probs), axis=0)
    return out


def brute_excess(probs: FloatArray, start: FloatArray, q: FloatArray, n: int) -> float:
    """max_g E[(start_g + B - S_g)^+] with B ~ Binomial(n, q_g), by enumeration."""
    law = brute_pmf(probs)
    ys = np.arange(law.shape[1])
    best = 0.0
    for g in range(probs.shape[1]):
        total = 0.0
        for b in range(n + 1):
            weight = math.comb(n, b) * q[g] ** b * (1.0 - q[g]) ** (n - b)
            total += weight * float((np.maximum(start[g] + b - ys, 0.0) * law[g]).sum())
        best = max(best, total)
    return best


def probabilities(max_items: int = 7) -> st.SearchStrategy[FloatArray]:
    """Item x horizon matrices, with the exact 0s and 1s pacing produces (AMD, ring start)."""
    value = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0), st.floats(0.0, 1e-6))
    return st.tuples(st.integers(0, max_items), st.integers(1, 4)).flatmap(
        lambda shape: st.lists(
            value, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]
        ).map(lambda xs: np.array(xs, dtype=np.float64).reshape(shape))
    )


@settings(max_examples=150, deadline=None)
@given(probs=probabilities(), extra=st.integers(0, 3))
def test_lower_pmf_is_the_head_of_the_exact_law(probs: FloatArray, extra: int) -> None:
    law = brute_pmf(probs)
    for size in range(probs.shape[0] + 1 + extra):
        got = pb.lower_pmf(probs, size)
        want = np.zeros((probs.shape[1], size))
        used = min(size, law.shape[1])
        want[:, :used] = law[:, :used]
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@settings(max_examples=150, deadline=None)
@given(
    probs=probabilities(),
    data=st.data(),
    width=st.integers(0, 4),
    fractional=st.booleans(),
)
def test_shortfall_window_is_the_expected_shortfall(
    probs: FloatArray, data: st.DataObject, width: int, fractional: bool
) -> None:
    n, grid = probs.shape
    whole = data.draw(st.lists(st.integers(-4, n + 3), min_size=grid, max_size=grid))
    start = np.array(whole, dtype=np.float64)
    if fractional:
        start += np.array(data.draw(st.lists(st.floats(0.0, 0.99), min_size=grid, max_size=grid)))
    law = brute_pmf(probs)
    ys = np.arange(n + 1)
    want = np.array(
        [[float((np.maximum(s + j - ys, 0.0) * row).sum()) for j in range(width + 1)]
         for s, row in zip(start, law, strict=True)]
    )  # fmt: skip
    np.testing.assert_allclose(pb.shortfall_window(probs, start, width), want, atol=1e-13)


@settings(max_examples=80, deadline=None)
@given(probs=probabilities(6), data=st.data(), last=st.integers(0, 6))
def test_excess_curve_adds_new_calls_exactly(
    probs: FloatArray, data: st.DataObject, last: int
) -> None:
    n, grid = probs.shape
    start = np.array(
        data.draw(st.lists(st.integers(-3, n + 2), min_size=grid, max_size=grid)), dtype=float
    )
    q = np.array(
        data.draw(
            st.lists(st.one_of(st.just(0.0), st.floats(0.0, 1.0)), min_size=grid, max_size=grid)
        )
    )
    first = data.draw(st.integers(0, last))
    got = pb.excess_curve(probs, start, q, first, last)
    want = [brute_excess(probs, start, q, k) for k in range(first, last + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-14)


def test_long_searches_switch_to_call_by_call_weights_with_the_same_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(3)
    probs = rng.random((9, 5))
    start = np.array([-2.0, 0.0, 3.0, 5.0, 9.0])
    q = np.array([0.0, 0.1, 0.3, 0.6, 1.0])
    table = pb.excess_curve(probs, start, q, 2, 12)
    monkeypatch.setattr(pb, "TABLE_MAX_CALLS", 4)
    by_call = pb.excess_curve(probs, start, q, 2, 12)
    np.testing.assert_allclose(by_call, table, rtol=1e-12)
    assert by_call[-1] == pytest.approx(brute_excess(probs, start, q, 12), rel=1e-11)


def test_binomial_weights_are_the_binomial_law_including_certain_and_impossible_calls() -> None:
    q = np.array([0.0, 0.25, 1.0])
    w = pb.binomial_weights(q, 3, 6)
    for g, qg in enumerate(q):
        for i, n in enumerate(range(3, 7)):
            for j in range(7):
                want = math.comb(n, j) * qg**j * (1 - qg) ** (n - j) if j <= n else 0.0
                assert w[g, i, j] == pytest.approx(want, abs=1e-15)


def test_rare_tails_keep_their_relative_precision() -> None:
    # 40 items each adding one with probability 0.999: P(S = 0) = 1e-120 is far below any
    # cancellation error of a formula through E[S] - c, and comes out to full precision.
    law = pb.lower_pmf(np.full((40, 1), 0.999), 41)
    assert law[0, 0] == pytest.approx(1e-120, rel=1e-9)
    assert law[0, 40] == pytest.approx(0.999**40, rel=1e-12)


def test_the_kept_binomial_table_follows_the_values_of_q_not_its_identity() -> None:
    q = np.array([0.2, 0.5])
    before = pb.binomial_weights(q, 0, 3).copy()
    q[0] = 0.9  # the same array, new values
    after = pb.binomial_weights(q, 0, 3)
    assert after[0, 3, 3] == pytest.approx(0.9**3)
    assert before[0, 3, 3] == pytest.approx(0.2**3)
    np.testing.assert_array_equal(after[1], before[1])
