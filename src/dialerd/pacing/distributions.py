"""Duration distributions the pacing model conditions on.

Pacing needs more than means: whether a talking agent frees up in the next 20 s depends on how
long the call has lasted already, and whether a ringing call will still be answered depends on
how long it has rung. Every distribution therefore offers a vectorised CDF, from which the model
derives conditional probabilities. Three shapes cover what campaigns show: a fixed duration
(a wrap-up timer), a lognormal (the classic shape of talk and ring times) and an empirical CDF
learnt online from the campaign's own attempts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

_SQRT2 = math.sqrt(2.0)


def erf(x: FloatArray) -> FloatArray:
    """Vectorised error function (Abramowitz-Stegun 7.1.26, |error| < 1.5e-7).

    numpy has no erf and scipy is not a dependency; this accuracy is far below the noise of any
    estimate the model feeds it.
    """
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    result: FloatArray = sign * (1.0 - poly * np.exp(-a * a))
    return result


def normal_cdf(x: FloatArray) -> FloatArray:
    result: FloatArray = 0.5 * (1.0 + erf(x / _SQRT2))
    return result


class Distribution(Protocol):
    """A non-negative duration in seconds."""

    @property
    def mean(self) -> float: ...

    def cdf(self, x: FloatArray) -> FloatArray:
        """P(duration <= x), elementwise."""
        ...


@dataclass(frozen=True, slots=True)
class Fixed:
    value: float

    @property
    def mean(self) -> float:
        return self.value

    def cdf(self, x: FloatArray) -> FloatArray:
        return (np.asarray(x, dtype=np.float64) >= self.value).astype(np.float64)


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Lognormal given by its own mean and standard deviation (not those of the log)."""

    mean_s: float
    sd_s: float

    @property
    def mean(self) -> float:
        return self.mean_s

    @property
    def log_params(self) -> tuple[float, float]:
        var = math.log1p((self.sd_s / self.mean_s) ** 2)
        return math.log(self.mean_s) - var / 2.0, math.sqrt(var)

    def cdf(self, x: FloatArray) -> FloatArray:
        mu, sigma = self.log_params
        xa = np.maximum(np.asarray(x, dtype=np.float64), 1e-12)
        if sigma <= 0.0:
            return (xa >= self.mean_s).astype(np.float64)
        return normal_cdf((np.log(xa) - mu) / sigma)


@dataclass(frozen=True, slots=True, eq=False)
class Empirical:
    """Piecewise-linear CDF through ``(points[i], probs[i])``; 0 before, 1 after."""

    points: FloatArray
    probs: FloatArray
    mean_s: float

    @property
    def mean(self) -> float:
        return self.mean_s

    def cdf(self, x: FloatArray) -> FloatArray:
        result: FloatArray = np.interp(x, self.points, self.probs, left=0.0, right=1.0)
        return result


def conditional_cdf(dist: Distribution, elapsed: FloatArray, more: FloatArray) -> FloatArray:
    """P(duration <= elapsed + more | duration > elapsed), broadcasting ``elapsed`` x ``more``.

    Past the end of what the distribution knows (survival ~ 0) the remaining time is taken as
    exponential with the distribution's mean: an agent far beyond every recorded talk time is
    neither certain to hang up now nor never.
    """
    e = np.asarray(elapsed, dtype=np.float64)
    f_e = dist.cdf(e)
    f_x = dist.cdf(e + more)
    surv = 1.0 - f_e
    with np.errstate(divide="ignore", invalid="ignore"):
        cond = np.where(surv > 1e-6, (f_x - f_e) / np.maximum(surv, 1e-12), 0.0)
    tail = 1.0 - np.exp(-np.maximum(more, 0.0) / max(dist.mean, 1e-3))
    out: FloatArray = np.clip(np.where(surv > 1e-6, cond, tail), 0.0, 1.0)
    return out
