r"""Compiled kernels of the predictive model's per-decision work (optional: numba).

A predictive decision on 50 agents turns ~60 items x 26 horizons into the expected-abandons
curve. In numpy that is ~100 calls on small arrays, and numpy's fixed cost per call (not the
arithmetic) made a decision cost ~0.4 ms; compiled, the model and its curve take ~35 us
(s2-large on the 2-core bench machine). numba is an optional extra (``dialerd[fast]``):
without it, or with :data:`ENABLED` set to False, :mod:`dialerd.pacing.predictive` and
:mod:`dialerd.pacing.poisson_binomial` use their numpy code, and the decisions are the same
(the tests and the benchmark check both).

The functions here are plain, typed Python (so they also run, slowly, uncompiled: the tests
compare them with the numpy code without needing numba); :func:`kernels` compiles them on
first use, with numba's on-disk cache: a process pays ~0.4 s once (importing numba, loading the
cached code), the first one after an install or an edit of this file ~5 s (compiling). Calling
:func:`kernels` at start-up keeps that wait off the first decision.

* :func:`model_rows` is ``build_model``'s arithmetic, operation for operation (its rows are
  bit-identical to the numpy code's: the same IEEE operations in the same order, and numpy's
  ``interp`` formula for the learnt CDFs).
* :func:`excess_curve` is ``poisson_binomial.excess_curve`` by a direct dynamic programme
  (one pass per item over the truncated law, all horizons at once) instead of numpy's product
  tree: exact up to rounding like it (sums of positive terms, relative error ~1e-15), not
  bit-identical to it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Use the compiled kernels when numba is installed (tests switch it off to run the numpy code).
ENABLED = True


def increasing(xp: FloatArray) -> bool:
    """Whether the knots are strictly increasing (what :func:`interp_grid` assumes)."""
    for i in range(1, xp.shape[0]):
        if not xp[i - 1] < xp[i]:
            return False
    return bool(xp.shape[0] >= 2)


def interp_grid(
    bases: FloatArray, offsets: FloatArray, xp: FloatArray, fp: FloatArray, out: FloatArray
) -> None:
    """``out[i, g] = np.interp(bases[i] + offsets[g], xp, fp, left=0, right=1)``.

    For strictly increasing ``xp``, numpy's formula step for step (so that the result is
    bit-identical): the bin ``j`` with ``xp[j] <= x < xp[j + 1]``, ``fp[j]`` at a knot, else
    ``slope * (x - xp[j]) + fp[j]`` with numpy's quotient for the slope. Along a row ``x``
    increases (pacing's offsets are a grid), so the bin is found by walking on from the
    previous one, and its slope is reused while ``x`` stays in it. One call per table: numba
    passes arrays to a helper at a cost per call.
    """
    n = xp.shape[0]
    for i in range(bases.shape[0]):
        base = bases[i]
        j = -1
        slope_of = -1  # the bin whose slope is in ``slope``
        slope = 0.0
        for g in range(offsets.shape[0]):
            x = base + offsets[g]
            if x != x:  # NaN
                out[i, g] = x
                continue
            if x < xp[0]:
                out[i, g] = 0.0
                continue
            if x > xp[n - 1]:
                out[i, g] = 1.0
                continue
            if j >= 0 and xp[j] <= x:
                while j + 1 < n and xp[j + 1] <= x:
                    j += 1
            else:
                # bisection without a branch to mispredict: the bin is in [j, j + size)
                j, size = 0, n
                while size > 1:
                    half = size >> 1
                    j = j + half if xp[j + half] <= x else j
                    size -= half
            if j == n - 1 or xp[j] == x:
                out[i, g] = fp[j]
                continue
            if slope_of != j:
                slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
                slope_of = j
            value = slope * (x - xp[j]) + fp[j]
            if value != value:
                value = slope * (x - xp[j + 1]) + fp[j + 1]
                if value != value and fp[j] == fp[j + 1]:
                    value = fp[j]
            out[i, g] = value


def _clip01(x: float) -> float:
    """``np.minimum(np.maximum(x, 0), 1)`` (NaN stays NaN, as in numpy)."""
    if x < 0.0:
        x = 0.0
    if x > 1.0:
        x = 1.0
    return x


def _block_sum(a: FloatArray, lo: int, n: int) -> float:
    """numpy's sum of ``a[lo : lo + n]`` for ``n <= 128``: 8 partial sums, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return float(res)


def _pairwise_sum(a: FloatArray) -> float:
    """``a.sum()`` as numpy computes it (pairwise above 128 terms), so bit for bit the same.

    numpy halves a long sum recursively (at a multiple of 8); the recursion is unrolled here
    onto an explicit stack (numba compiles no recursion through helpers).
    """
    n = a.shape[0]
    if n <= 128:
        return _block_sum(a, 0, n)
    los = np.zeros(64, dtype=np.int64)
    ns = np.zeros(64, dtype=np.int64)
    stage = np.zeros(64, dtype=np.int64)  # 0: split, 1: left done, 2: both done
    lefts = np.zeros(64)
    los[0], ns[0] = 0, n
    depth = 0
    value = 0.0
    while depth >= 0:
        lo, m = los[depth], ns[depth]
        if m <= 128:
            value = _block_sum(a, lo, m)
            depth -= 1
            continue
        half = m // 2
        half -= half % 8
        if stage[depth] == 0:
            stage[depth] = 1
            los[depth + 1], ns[depth + 1], stage[depth + 1] = lo, half, 0
            depth += 1
        elif stage[depth] == 1:
            lefts[depth] = value
            stage[depth] = 2
            los[depth + 1], ns[depth + 1], stage[depth + 1] = lo + half, m - half, 0
            depth += 1
        else:
            value = lefts[depth] + value
            depth -= 1
    return value


def model_rows(
    times: FloatArray,
    n_talk: int,
    n_screen: int,
    n_ring: int,
    tails: FloatArray,
    talk_x: FloatArray,
    talk_f: FloatArray,
    answer_x: FloatArray,
    answer_f: FloatArray,
    failure_x: FloatArray,
    failure_f: FloatArray,
    axes: FloatArray,
    wraps: FloatArray,
    ready: int,
    queued: int,
    amd: float,
    p: float,
    need: float,
) -> tuple[FloatArray, FloatArray, float, int]:
    """``build_model``'s rows, ``c`` and expected answers, for learnt (piecewise-linear) CDFs.

    ``times``: the snapshot's talking, screening, ringing and wrap-up times, one after the
    other (``n_*`` of each, wrap-up the rest). ``*_x``, ``*_f``: the knots of the talk,
    answer-delay and failure-delay CDFs. ``axes``: the grid, the grid less the AMD delay (at
    least 0) and the reach (grid + connect limit). ``wraps``: the wrap-up points.
    ``tails[w]``: the exponential tail that ``conditional_cdf`` gives an agent past the end of
    the talk distribution (read only when there is one: with none passed, such a snapshot
    returns status 1 and the caller passes them). Status 2: knots not strictly increasing
    (the caller uses numpy). Status 0: done; the operations are numpy's, in numpy's order.
    """
    grid = axes[0]
    shifted = axes[1]
    reach = axes[2]
    n_grid = grid.shape[0]
    n_wraps = wraps.shape[0]
    talking = times[:n_talk]
    screening = times[n_talk : n_talk + n_screen]
    ringing = times[n_talk + n_screen : n_talk + n_screen + n_ring]
    wrapup = times[n_talk + n_screen + n_ring :]
    if not (increasing(talk_x) and increasing(answer_x) and increasing(failure_x)):
        return np.empty((0, n_grid)), np.empty(0), 0.0, 2
    zero = np.zeros(1)

    # --- agents: P(free by h + L | talk so far), averaged over the wrap-up points ----------
    avail = np.empty((n_talk, n_grid))
    if n_talk:
        f_x = np.empty((n_talk, n_grid))
        more = np.empty(n_grid)
        f_e = np.empty((n_talk, 1))
        interp_grid(talking, zero, talk_x, talk_f, f_e)
        for w in range(n_wraps):
            for g in range(n_grid):
                more[g] = reach[g] - wraps[w]
            interp_grid(talking, more, talk_x, talk_f, f_x)
            for i in range(n_talk):
                surv = 1.0 - f_e[i, 0]
                if surv > 1e-6:
                    for g in range(n_grid):
                        v = _clip01((f_x[i, g] - f_e[i, 0]) / surv)
                        avail[i, g] = v if w == 0 else avail[i, g] + v
                else:
                    if tails.shape[0] == 0:
                        return np.empty((0, n_grid)), np.empty(0), 0.0, 1
                    for g in range(n_grid):
                        v = _clip01(tails[w, g])
                        avail[i, g] = v if w == 0 else avail[i, g] + v
        if n_wraps > 1:
            for i in range(n_talk):
                for g in range(n_grid):
                    avail[i, g] /= n_wraps
    # sure to be free by the first horizon: certain; not free by the last: dropped
    eps = 1e-6
    n_sure = 0
    n_unsure = 0
    keep = np.zeros(n_talk, dtype=np.bool_)
    for i in range(n_talk):
        if avail[i, 0] > 1.0 - eps:
            n_sure += 1
        elif avail[i, n_grid - 1] > eps:
            keep[i] = True
            n_unsure += 1
    rows = np.empty((n_unsure + n_screen + n_ring, n_grid))
    k = 0
    for i in range(n_talk):
        if keep[i]:
            for g in range(n_grid):
                rows[k, g] = 1.0 - avail[i, g]
            k += 1

    # --- answers needing an agent by h ------------------------------------------------------
    expected_need = float(queued)
    for s in range(n_screen):
        back = amd - screening[s]
        for g in range(n_grid):
            rows[k, g] = need * (1.0 if back <= grid[g] else 0.0)
        k += 1
    if n_screen:
        expected_need += need * n_screen
    if n_ring:
        f_r = np.empty((n_ring, 1))
        f_fail = np.empty((n_ring, 1))
        f_rx = np.empty((n_ring, n_grid))
        interp_grid(ringing, zero, answer_x, answer_f, f_r)
        interp_grid(ringing, zero, failure_x, failure_f, f_fail)
        interp_grid(ringing, shifted, answer_x, answer_f, f_rx)
        last = np.empty(n_ring)
        scale = need * p
        for s in range(n_ring):
            s_d = 1.0 - f_r[s, 0]
            if s_d < 1e-9:
                s_d = 1e-9
            s_f = 1.0 - f_fail[s, 0]
            denom = p * s_d + (1.0 - p) * s_f
            if denom < 1e-12:
                denom = 1e-12
            factor = scale / denom
            for g in range(n_grid):
                v = (f_rx[s, g] - f_r[s, 0]) * factor
                rows[k, g] = 0.0 if amd > 0.0 and grid[g] < amd else v
            last[s] = rows[k, n_grid - 1]
            k += 1
        expected_need += _pairwise_sum(last)

    # --- free agents for sure by each horizon: ready, wrap-ups ending by then, sure talkers -
    c = np.empty(n_grid)
    for g in range(n_grid):
        ends = 0
        for x in range(wrapup.shape[0]):
            if wrapup[x] <= reach[g]:
                ends += 1
        certain = float(ready)
        certain += ends
        certain += n_sure
        c[g] = certain + (n_unsure - queued)
    return rows, c, expected_need, 0


def excess_curve(
    complement: FloatArray, start: FloatArray, q: FloatArray, first: int, last: int
) -> FloatArray:
    """``max_g E[(start_g + B_n - S_g)^+]`` for ``n = first..last`` (see poisson_binomial).

    ``S_g`` sums Bernoulli(``complement[i, g]``); ``B_n ~ Binomial(n, q_g)``. Only
    ``P(S_g = y)`` for ``y < top = max(start) + last + 1`` matters; it is built item by item
    (the usual recurrence, truncated at ``top``), then turned into
    ``T_g(x) = E[(x - S_g)^+] = sum_{m < x} P(S_g <= m)`` at the whole points needed, linear in
    between for a fractional ``start``; the binomial law of the new calls by its recurrence.
    """
    n_items = complement.shape[0]
    n_grid = complement.shape[1]
    width = last
    base_max = -(2**62)
    fractional = False
    for g in range(n_grid):
        b = math.floor(start[g])
        base_max = max(base_max, int(b))
        if start[g] - b != 0.0:
            fractional = True
    points = width + 1 + (1 if fractional else 0)
    top = base_max + points - 1
    window = np.zeros((n_grid, width + 1))
    if top > 0:
        # P(S_g = y) for y < size: the law has n_items + 1 values, only the head is needed
        size = min(top, n_items + 1)
        pmf = np.zeros((size, n_grid))
        for g in range(n_grid):
            pmf[0, g] = 1.0
        hit = np.empty(n_grid)
        miss = np.empty(n_grid)
        for i in range(n_items):
            for g in range(n_grid):
                hit[g] = complement[i, g]
                miss[g] = 1.0 - complement[i, g]
            for y in range(min(i + 1, size - 1), 0, -1):
                for g in range(n_grid):
                    pmf[y, g] = pmf[y, g] * miss[g] + pmf[y - 1, g] * hit[g]
            for g in range(n_grid):
                pmf[0, g] *= miss[g]
        values = np.empty(points)
        for g in range(n_grid):
            b = math.floor(start[g])
            lo = int(b)
            # T(x) for x = lo .. lo + points - 1, walking x from 1 (T = 0 for x <= 0)
            below = 0.0  # P(S <= x - 1)
            t = 0.0  # T(x)
            x = 1
            for jj in range(points):
                z = lo + jj
                while x <= z:
                    if x - 1 < size:
                        below += pmf[x - 1, g]
                    t += below
                    x += 1
                values[jj] = t if z > 0 else 0.0
            if fractional:
                frac = start[g] - b
                for jj in range(width + 1):
                    window[g, jj] = values[jj] + frac * (values[jj + 1] - values[jj])
            else:
                for jj in range(width + 1):
                    window[g, jj] = values[jj]
    out = np.full(last - first + 1, -np.inf)
    law = np.zeros(last + 1)
    for g in range(n_grid):
        qg = q[g]
        mg = 1.0 - qg
        law[0] = 1.0
        for jj in range(1, last + 1):
            law[jj] = 0.0
        for n in range(last + 1):
            if n:
                # one more call: P(B_n = j) = P(B_{n-1} = j) (1 - q) + P(B_{n-1} = j - 1) q
                for jj in range(n, 0, -1):
                    law[jj] = law[jj] * mg + law[jj - 1] * qg
                law[0] *= mg
            if n >= first:
                total = 0.0
                for jj in range(n + 1):
                    total += law[jj] * window[g, jj]
                if total > out[n - first] or total != total:  # NaN spreads, as in np.max
                    out[n - first] = total
    return out


def change_point_update(
    post: FloatArray,
    succ: FloatArray,
    fail: FloatArray,
    grown: FloatArray,
    runs: int,
    x: float,
    hazard: float,
    decay: float,
    start: float,
) -> tuple[int, float]:
    """:func:`dialerd.pacing.estimators.change_point_update` (see there), in loops: the same
    operations in the same order, numpy's sums included, so the state is bit for bit the same.
    It runs on every finished attempt, where numpy's ~15 calls cost ~10 us."""
    m = runs
    cap = post.shape[0]
    for i in range(m):
        hit = succ[i] if x > 0.5 else fail[i]
        grown[i] = post[i] * ((hit + 0.5) / ((succ[i] + fail[i]) + 1.0))
    changed = _pairwise_sum(grown[:m]) * hazard
    for i in range(m):
        grown[i] *= 1.0 - hazard
    if m == cap:
        keep = cap - 1 if grown[cap - 1] >= grown[cap - 2] else cap - 2
        last_post = grown[cap - 2] + grown[cap - 1]
        last_succ = succ[keep] * decay + x
        last_fail = fail[keep] * decay + (1.0 - x)
        for i in range(cap - 2, 0, -1):
            post[i] = grown[i - 1]
            succ[i] = succ[i - 1] * decay + x
            fail[i] = fail[i - 1] * decay + (1.0 - x)
        post[cap - 1] = last_post
        succ[cap - 1] = last_succ
        fail[cap - 1] = last_fail
    else:
        for i in range(m, 0, -1):
            post[i] = grown[i - 1]
            succ[i] = succ[i - 1] * decay + x
            fail[i] = fail[i - 1] * decay + (1.0 - x)
        m += 1
    post[0] = changed
    succ[0] = 2.0 * start
    fail[0] = 2.0 * (1.0 - start)
    total = _pairwise_sum(post[:m])
    for i in range(m):
        post[i] /= total
    for i in range(m):
        grown[i] = post[i] * (succ[i] / (succ[i] + fail[i]))
    return m, _pairwise_sum(grown[:m])


@dataclass(frozen=True, slots=True)
class Kernels:
    """The compiled versions of this module's kernels."""

    model_rows: Callable[..., tuple[FloatArray, FloatArray, float, int]]
    excess_curve: Callable[[FloatArray, FloatArray, FloatArray, int, int], FloatArray]
    change_point_update: Callable[..., tuple[int, float]]


_loaded: list[Kernels | None] = []
_background: list[threading.Thread] = []


def kernels() -> Kernels | None:
    """The compiled kernels, or None (numba not installed, or :data:`ENABLED` is False).

    While :func:`load_in_background` is still loading them, None too: the numpy code makes
    the same decisions, so the daemon's first decisions never wait for a compiler.
    """
    if not ENABLED:
        return None
    if not _loaded:
        if _background and _background[0].is_alive():
            return None
        _loaded.append(_compile())
    return _loaded[0]


def load_in_background() -> None:
    """Load (or compile, ~5 s after an install) the kernels in a thread, off the event loop."""
    if not ENABLED or _loaded or _background:
        return

    def load() -> None:
        compiled = _compile()
        if not _loaded:
            _loaded.append(compiled)

    thread = threading.Thread(target=load, name="dialerd-pacing-kernels", daemon=True)
    _background.append(thread)
    thread.start()


def _compile() -> Kernels | None:
    try:
        import numba  # optional, and ~0.2 s to import: only when pacing first runs
        import numba.extending
    except ImportError:
        return None
    try:
        jit: Any = numba.njit(cache=True, nogil=True)
        # helpers are compiled into their callers (they stay plain functions for Python)
        for helper in (increasing, interp_grid, _clip01, _block_sum, _pairwise_sum):
            numba.extending.register_jitable(helper)
        compiled = Kernels(
            model_rows=cast(Any, jit(model_rows)),
            excess_curve=cast(Any, jit(excess_curve)),
            change_point_update=cast(Any, jit(change_point_update)),
        )
        _warm_up(compiled)
    except Exception:  # a numba that cannot compile them: numpy does the work
        return None
    return compiled


def _warm_up(k: Kernels) -> None:
    """Compile (or load from numba's cache) now, with the argument types pacing passes, so a
    numba that cannot compile them is found here and not in the middle of a decision."""
    xp = np.array([0.0, 1.0, 2.0])
    fp = np.array([0.0, 0.5, 1.0])
    axes = np.zeros((3, 2))
    k.model_rows(
        np.array([0.5]), 1, 0, 0, np.zeros((0, 1)), xp, fp, xp, fp, xp, fp, axes,
        np.array([1.0]), 0, 0, 0.0, 0.5, 1.0,
    )  # fmt: skip
    k.excess_curve(np.full((1, 2), 0.5), np.ones(2), np.zeros(2), 0, 1)
    k.change_point_update(np.ones(2), np.ones(2), np.ones(2), np.zeros(2), 1, 1.0, 0.1, 0.9, 0.5)
