"""predictive's exact search decides as the dense dynamic programme it replaced."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dialerd.pacing import predictive
from dialerd.pacing.distributions import FloatArray


def dense_search(
    items: list[FloatArray],
    c: FloatArray,
    q: FloatArray,
    alpha: float,
    expected_need: float,
    q_total: float,
    live_of_need: float,
    limit: int,
) -> int:
    """The original search: the whole law of Y_h, then one new call at a time."""
    size = len(items) + limit + 2
    dist = np.zeros((c.shape[0], size))
    dist[:, 0] = 1.0
    for k, row in enumerate(items):
        shifted = dist[:, : k + 1] * row[:, None]
        dist[:, : k + 1] *= (1.0 - row)[:, None]
        dist[:, 1 : k + 2] += shifted
    excess = np.maximum(np.arange(size)[None, :] - c[:, None], 0.0)
    top = len(items)
    ea_prev = float((dist[:, : top + 1] * excess[:, : top + 1]).sum(axis=1).max())
    el_prev = expected_need * live_of_need
    for n in range(1, limit + 1):
        shifted = dist[:, : top + 1] * q[:, None]
        dist[:, : top + 1] *= (1.0 - q)[:, None]
        dist[:, 1 : top + 2] += shifted
        top += 1
        ea = float((dist[:, : top + 1] * excess[:, : top + 1]).sum(axis=1).max())
        el = (expected_need + n * q_total) * live_of_need
        if not predictive._accept(ea, ea_prev, el, el_prev, alpha):
            return n - 1
        ea_prev, el_prev = ea, el
    return limit


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_items=st.integers(0, 30),
    grid=st.integers(1, 8),
    agents=st.integers(0, 12),
    alpha=st.one_of(st.just(0.0), st.floats(0.0, 0.05)),
    limit=st.integers(0, 40),
    one_block=st.booleans(),
)
def test_exact_search_matches_the_dense_programme(
    seed: int,
    n_items: int,
    grid: int,
    agents: int,
    alpha: float,
    limit: int,
    one_block: bool,
) -> None:
    rng = np.random.default_rng(seed)
    block = rng.random((n_items, grid)) ** rng.uniform(0.3, 4.0)
    block[rng.random(block.shape) < 0.2] = 0.0
    c = np.sort(rng.integers(0, agents + 1, size=grid)).astype(np.float64)
    q = np.sort(rng.random(grid) * 0.6)
    q[: rng.integers(0, grid)] = 0.0
    rows = block if one_block else np.asfortranarray(block)  # any layout of the same rows
    args = (c, q, alpha, float(block[:, -1].sum()), float(q[-1]), 1.0, limit)
    assert predictive._search_exact(rows, *args) == dense_search(list(block), *args)
