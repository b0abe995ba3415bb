"""``decide(snapshot) -> int``: how many new calls a campaign starts now, per dial mode.

Every mode ends in the same clamp: never negative, never above the free lines. The simple modes
are counts an operator can check by hand; ``predictive`` is the model in
:mod:`dialerd.pacing.predictive`.
"""

from __future__ import annotations

import math

from dialerd.domain.enums import DialMode
from dialerd.pacing.predictive import predictive_count
from dialerd.pacing.snapshot import Snapshot


def decide(snapshot: Snapshot, planning_rate: float | None = None) -> int:
    """How many new calls to start now (0 <= result <= free lines).

    ``planning_rate``: see :func:`predictive_decision` (predictive only).
    """
    mode = snapshot.settings.dial_mode
    if mode is DialMode.PREVIEW:
        n = snapshot.accepted_previews
    elif mode is DialMode.PROGRESSIVE:
        n = progressive_count(snapshot)
    elif mode is DialMode.POWER:
        n = power_count(snapshot)
    else:
        n = predictive_decision(snapshot, planning_rate)
    return max(0, min(n, snapshot.free_lines))


def progressive_count(snapshot: Snapshot) -> int:
    """One call per ready agent, counting the calls already in flight against them."""
    return max(0, len(snapshot.ready) - snapshot.calls_in_flight)


def power_count(snapshot: Snapshot) -> int:
    """ready x calls_per_ready_agent + wrapup x calls_per_wrapup_agent - calls in flight."""
    st = snapshot.settings
    goal = len(snapshot.ready) * st.calls_per_ready_agent
    goal += len(snapshot.wrapup) * st.calls_per_wrapup_agent
    return max(0, math.floor(goal + 0.5) - snapshot.calls_in_flight)


def mode_used(snapshot: Snapshot) -> DialMode:
    """The mode :func:`decide` dials by for this snapshot: the campaign's, except predictive
    held to progressive where its statistics would not hold (too few agents or finished
    calls, no agent at work). An operator reads it to know why a predictive campaign dials
    one call per ready agent."""
    mode = snapshot.settings.dial_mode
    if mode is DialMode.PREDICTIVE and _predictive_held(snapshot):
        return DialMode.PROGRESSIVE
    return mode


def _predictive_held(snapshot: Snapshot) -> bool:
    st = snapshot.settings
    if snapshot.smoothing_agents < st.min_agents_predictive:
        return True
    if snapshot.estimates.samples < st.min_samples:
        return True
    return not snapshot.ready and not snapshot.wrapup and not snapshot.talking


def predictive_decision(snapshot: Snapshot, planning_rate: float | None = None) -> int:
    """Predictive, or progressive where statistics would not hold (see the module docs).

    ``planning_rate`` replaces the rate the compliance windows and the calibration give (the
    benchmark's frontier: the model's talk time against abandons at fixed rates).
    """
    floor = progressive_count(snapshot)
    st = snapshot.settings
    est = snapshot.estimates
    if _predictive_held(snapshot):
        return floor
    need = est.answer_probability * (est.live_share if st.amd_delay_s > 0 else 1.0)
    bound = int(2 * (snapshot.active_agents + 1) / max(need, 0.05)) + 5
    cap = min(snapshot.free_lines, bound)
    return predictive_count(snapshot, floor, cap, planning_rate)
