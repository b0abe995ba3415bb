r"""Exact tails of Poisson-binomial sums, batched over the pacing grid of horizons.

The predictive model (see :mod:`dialerd.pacing.predictive`) needs, on every decision and for
every horizon ``g`` of its grid, the expected excess ``E[(Y_g - c_g)^+]`` of a sum ``Y_g`` of
independent yes/no events over a whole count ``c_g``, and again after each new call it considers
placing. A dense dynamic programme over all items and all counts costs ``O(items^2 x grid)``
numpy calls and dominated the benchmark's run time. Two facts make it cheap:

* Only the part of the law beyond ``c_g`` matters, and it is the *lower* tail of the complement
  count ``Y'_g = N - Y_g`` (``N`` items, each complement event with probability ``1 - p``):
  ``E[(Y_g - c_g)^+] = E[(m_g - Y'_g)^+]`` with ``m_g = N - c_g``, which needs
  ``P(Y'_g = y)`` for ``y < m_g`` only. The sum is over positive terms, so tails far below
  ``1e-12`` keep their relative precision (no ``E[Y] - c + ...`` cancellation).
* The truncated law is the product of the items' generating polynomials modulo ``z^size``;
  multiplying them pairwise in a balanced tree takes ``log2(items)`` levels of a few batched
  numpy calls each, instead of a pass per item (numpy's cost per call, not per number, is
  what counts at these sizes).

A new call adds one to ``Y'`` unless it needs an agent (probability ``q_g``), so with ``n`` new
calls ``E[(Y_g + B - c_g)^+] = E[U_g(Binomial(n, q_g))]`` where
``U_g(j) = E[(m_g + j - Y'_g)^+]``: a table of ``U`` and one of binomial weights give the
expected excess for a whole range of ``n`` at once.

Everything here is exact up to floating-point rounding (relative error near 1e-15); the tests
compare it with brute-force enumeration.
"""

from __future__ import annotations

import math
import threading

import numpy as np
from numpy.typing import NDArray

from dialerd.pacing import _kernels
from dialerd.pacing.distributions import FloatArray

IntArray = NDArray[np.int64]

#: Above this many new calls the binomial weights are built call by call, not as one table
#: (a table is ``grid x n^2`` numbers; such long searches are rare).
TABLE_MAX_CALLS = 128


#: Scratch buffers up to this many numbers are kept for reuse (larger ones are rare and cheap
#: to allocate zeroed), at most this many of them.
_KEEP_ELEMENTS = 1 << 16
_KEEP_BUFFERS = 256


class _Scratch(threading.local):
    """Per-thread reusable buffers: their padding stays zero, so no call pays for a memset."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[int, int], FloatArray] = {}


_scratch = _Scratch()


def lower_pmf(probs: FloatArray, size: int) -> FloatArray:
    """``P(S_g = k)`` for ``k < size``, ``S_g`` the sum of Bernoulli(``probs[i, g]``) over i.

    ``probs`` has one row per item and one column per horizon; the result is ``(grid, size)``.
    """
    grid = probs.shape[1]
    out = np.zeros((grid, size))
    if size <= 0:
        return out
    first, second = _halves(probs, size)
    # the last product, truncated: P(S = k) = sum_t P(S_1 = t) P(S_2 = k - t)
    for t in range(min(first.shape[0], size)):
        m = min(second.shape[0], size - t)
        out[:, t : t + m] += first[t][:, None] * second[:m].T
    return out


def _halves(probs: FloatArray, size: int) -> tuple[FloatArray, FloatArray]:
    """The truncated generating polynomials of two halves of the items, ``(coefficient, grid)``.

    Pairs of polynomials are multiplied level by level, all pairs and horizons in one batch;
    an odd one out waits for the next level. The caller does the last product itself (often
    it needs only a few of its values).
    """
    n_items, grid = probs.shape
    if n_items == 0:
        one = np.ones((1, grid))
        return one, one
    cur = np.empty((2, n_items * grid))
    items = cur.reshape(2, n_items, grid)
    np.subtract(1.0, probs, out=items[0])
    items[1] = probs
    k = n_items
    buffers = _scratch.buffers
    while k > 2:
        length = cur.shape[0]
        half = k // 2
        width = half * grid
        key = (length, width)
        buf = buffers.get(key)
        if buf is None:
            buf = np.zeros((length, 2 * length, width))
            if buf.size <= _KEEP_ELEMENTS:
                if len(buffers) >= _KEEP_BUFFERS:
                    buffers.clear()
                buffers[key] = buf
        # Row i of the outer product, shifted right by i (the zero half of each padded row
        # absorbs the shift), summed over i: the coefficients of the pairwise products.
        # (einsum's loop beats broadcasting np.multiply into the strided buffer)
        np.einsum("iw,jw->ijw", cur[:, :width], cur[:, width : 2 * width], out=buf[:, :length])
        out_len = min(2 * length - 1, size)
        diagonals = buf.reshape(2 * length * length, width)[: length * (2 * length - 1)]
        diagonals = diagonals.reshape(length, 2 * length - 1, width)[:, :out_len]
        if k % 2:
            nxt = np.empty((out_len, width + grid))
            diagonals.sum(axis=0, out=nxt[:, :width])
            kept = min(length, out_len)
            nxt[:kept, width:] = cur[:kept, 2 * width :]
            nxt[kept:, width:] = 0.0
            cur = nxt
        else:
            cur = diagonals.sum(axis=0)
        k = half + k % 2
    if k == 1:
        return cur, np.ones((1, grid))
    return cur[:, :grid], cur[:, grid:]


def shortfall_window(probs: FloatArray, start: FloatArray, width: int) -> FloatArray:
    """``U[g, j] = E[(start_g + j - S_g)^+]`` for ``j = 0..width`` (``S_g`` as in lower_pmf).

    ``E[(z - S)^+] = sum_{y < z} (z - y) P(S = y)``, so only ``P(S = y)`` for
    ``y < max(start) + width`` is needed. With ``S = S_1 + S_2`` (two halves of the items),
    ``E[(z - S)^+] = sum_t P(S_1 = t) T_2(z - t)`` where ``T_2(x) = E[(x - S_2)^+]``: the last
    product is evaluated at the ``width + 1`` wanted points only. Between whole ``z`` the
    function is linear (S takes whole values), which covers a ``start`` that is not whole.
    """
    grid = probs.shape[1]
    base = np.floor(start)
    frac = start - base
    fractional = bool(frac.any())
    points = width + 1 + (1 if fractional else 0)
    top = int(base.max()) + points - 1
    if top <= 0:
        return np.zeros((grid, width + 1))
    first, second = _halves(probs, top)
    n_first = min(first.shape[0], top)
    # T_2(x) for x = -top - pad .. top sits in row x + top + pad (0 for x <= 0), pad rows
    # enough that T_2(base_g + j - t) never needs an index below 0 (c_h may exceed N).
    low = int(base.min()) - (n_first - 1)
    pad = max(0, -low - top)
    zero = top + pad
    table = np.zeros((zero + top + 1, grid))
    used = min(second.shape[0], top)
    below = np.add.accumulate(second[:used], axis=0)  # P(S_2 <= y)
    np.add.accumulate(below, axis=0, out=table[zero + 1 : zero + 1 + used])
    if used < top:
        # past the last coefficient no more mass comes: T_2 grows by P(S_2 <= used - 1)
        rest = table[zero + 1 + used :]
        np.multiply(_steps(top - used)[:, None], below[-1], out=rest)
        rest += table[zero + used]
    offsets = (base.astype(np.int64) + zero) * grid
    gathered = table.ravel()[_window_index(points, n_first, grid) + offsets]
    out: FloatArray = np.einsum("jtg,tg->gj", gathered, first[:n_first])
    if fractional:
        out = out[:, :-1] + frac[:, None] * (out[:, 1:] - out[:, :-1])
    return out


_WINDOW_INDEX: dict[tuple[int, int, int], IntArray] = {}
_STEPS: list[FloatArray] = [np.arange(1.0, 257.0)]


def _window_index(points: int, n_first: int, grid: int) -> IntArray:
    """``(j - t) * grid + g`` for ``j < points``, ``t < n_first``, ``g < grid``."""
    key = (points, n_first, grid)
    hit = _WINDOW_INDEX.get(key)
    if hit is None:
        j = np.arange(points)[:, None, None]
        t = np.arange(n_first)[None, :, None]
        hit = (j - t) * grid + np.arange(grid)[None, None, :]
        if len(_WINDOW_INDEX) >= _KEEP_BUFFERS:
            _WINDOW_INDEX.clear()
        _WINDOW_INDEX[key] = hit
    return hit


def _steps(n: int) -> FloatArray:
    """``1.0, 2.0, ..., n``."""
    if _STEPS[0].shape[0] < n:
        _STEPS[0] = np.arange(1.0, n + 1.0)
    return _STEPS[0][:n]


def binomial_weights(q: FloatArray, first: int, last: int) -> FloatArray:
    """``W[g, i, j] = P(Binomial(first + i, q_g) = j)`` for ``j = 0..last`` (0 where j > n).

    Powers and exact binomial coefficients rather than logarithms: ``q`` is 0 on part of the
    grid (no new call is answered before the AMD delay), where ``0 ** 0 = 1`` is what is meant.
    The last table is kept: ``q`` changes only with the estimates.
    """
    key = (q.tobytes(), first, last)
    entry = _weights_cache[0]  # one read: a tuple, never half replaced
    if entry is not None and entry[0] == key:
        return entry[1]
    choose, miss = _choose_table(first, last)
    js = _arange(last + 1)[None, :]
    hit_pow = q[:, None] ** js
    miss_pow = (1.0 - q)[:, None] ** js
    out: FloatArray = choose * hit_pow[:, None, :] * miss_pow[:, miss]
    _weights_cache[0] = (key, out)
    return out


_weights_cache: list[tuple[tuple[bytes, int, int], FloatArray] | None] = [None]
_CHOOSE: dict[tuple[int, int], tuple[FloatArray, IntArray]] = {}
_ARANGE: list[IntArray] = [np.arange(0)]


def _arange(n: int) -> IntArray:
    if _ARANGE[0].shape[0] < n:
        _ARANGE[0] = np.arange(max(n, 256))
    return _ARANGE[0][:n]


def _choose_table(first: int, last: int) -> tuple[FloatArray, IntArray]:
    """``C[i, k] = C(first + i, k)`` (0 for k > n) as floats, and ``max(first + i - k, 0)``."""
    key = (first, last)
    hit = _CHOOSE.get(key)
    if hit is None:
        ns = range(first, last + 1)
        choose = np.array([[float(math.comb(n, k)) for k in range(last + 1)] for n in ns])
        miss = np.maximum(np.arange(first, last + 1)[:, None] - np.arange(last + 1)[None, :], 0)
        if len(_CHOOSE) > 64:
            _CHOOSE.clear()
        hit = _CHOOSE[key] = (choose.reshape(len(ns), last + 1), miss)
    return hit


def excess_curve(
    complement: FloatArray, start: FloatArray, q: FloatArray, first: int, last: int
) -> FloatArray:
    """``max_g E[(start_g + B_n - S_g)^+]`` for ``n = first..last``, ``B_n ~ Binomial(n, q_g)``.

    ``S_g`` sums Bernoulli(``complement[i, g]``). In pacing terms: ``complement`` holds each
    item's chance of *not* adding to the answers-minus-agents count, ``start = N - c`` and ``q``
    a new call's chance of needing an agent; the result is ``EA(n)``, the model's expected
    abandons (the largest over the horizons) with ``n`` new calls.

    With numba installed this runs as one compiled kernel (:mod:`dialerd.pacing._kernels`),
    else in numpy below; both are exact up to rounding.
    """
    kernels = _kernels.kernels()
    if kernels is not None:
        return kernels.excess_curve(
            np.ascontiguousarray(complement, dtype=np.float64),
            np.ascontiguousarray(start, dtype=np.float64),
            np.ascontiguousarray(q, dtype=np.float64),
            int(first),
            int(last),
        )
    window = shortfall_window(complement, start, last)
    if last <= TABLE_MAX_CALLS:
        weights = binomial_weights(q, first, last)
        per_horizon = np.matmul(weights, window[:, :, None])
        out: FloatArray = per_horizon.max(axis=0)[:, 0]
        return out
    grid = q.shape[0]
    row = np.zeros((grid, last + 1))
    row[:, 0] = 1.0
    values = np.empty(last - first + 1)
    miss = 1.0 - q
    for n in range(last + 1):
        if n:
            # one more call: P(B_n = j) = P(B_{n-1} = j) (1 - q) + P(B_{n-1} = j - 1) q
            row[:, 1 : n + 1] = row[:, 1 : n + 1] * miss[:, None] + row[:, :n] * q[:, None]
            row[:, 0] *= miss
        if n >= first:
            values[n - first] = float((row[:, : n + 1] * window[:, : n + 1]).sum(axis=1).max())
    return values
