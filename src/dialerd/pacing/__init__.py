"""dialerd.pacing: PURE pacing. A :class:`Snapshot` in; how many calls to place now, and how long
they ring, out.

No I/O, no clock reads, deterministic. The engine and the benchmark build snapshots with
:class:`SnapshotBuilder` and call :func:`decide` (how many calls) and :func:`ring_timeout` (how
long they ring). The one side effect is optional: :func:`load_pacing_kernels` loads the
compiled kernels (numba, ``dialerd[fast]``) in a thread at daemon start; decisions are the same
with or without them.
"""

from dialerd.pacing._kernels import load_in_background as load_pacing_kernels
from dialerd.pacing.builder import Part, SnapshotBuilder, WindowSpec
from dialerd.pacing.distributions import Distribution, Empirical, Fixed, LogNormal
from dialerd.pacing.estimators import DistributionEstimator, OnlineEstimates, RateEstimator
from dialerd.pacing.modes import (
    decide,
    mode_used,
    power_count,
    predictive_decision,
    progressive_count,
)
from dialerd.pacing.predictive import allowed_rate
from dialerd.pacing.ring import ring_timeout
from dialerd.pacing.snapshot import AbandonmentWindow, Estimates, PacingSettings, Snapshot

__all__ = [
    "AbandonmentWindow",
    "Distribution",
    "DistributionEstimator",
    "Empirical",
    "Estimates",
    "Fixed",
    "LogNormal",
    "OnlineEstimates",
    "PacingSettings",
    "Part",
    "RateEstimator",
    "Snapshot",
    "SnapshotBuilder",
    "WindowSpec",
    "allowed_rate",
    "decide",
    "load_pacing_kernels",
    "mode_used",
    "power_count",
    "predictive_decision",
    "progressive_count",
    "ring_timeout",
]
