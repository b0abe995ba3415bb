"""Pacing estimates seeded from a campaign's own finished attempts.

A restarted daemon (or a campaign enabled again) would otherwise start from generic priors and
stay progressive until predictive pacing has its minimum number of samples; the campaign's
recent attempts are the best prior there is (PACING-NOTES: "start from the campaign's history").
Attempts are replayed oldest first, so the estimators' recency weighting favours the latest.
"""

from __future__ import annotations

from collections.abc import Iterable

from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt
from dialerd.pacing import OnlineEstimates

_UNANSWERED = frozenset(
    {
        CallResult.BUSY,
        CallResult.NO_ANSWER,
        CallResult.CONGESTION,
        CallResult.INVALID_NUMBER,
    }
)


def seed_estimates(estimates: OnlineEstimates, attempts: Iterable[Attempt]) -> int:
    """Feed finished attempts into ``estimates``; returns how many were used.

    Attempts without a usable timeline (never originated, outcome lost) teach nothing and are
    skipped.
    """
    used = 0
    for a in attempts:
        if a.result is None or a.originated_at is None or a.result is CallResult.FAILED_UNKNOWN:
            continue
        if a.answered_at is not None:
            estimates.record_answer(max(0.0, (a.answered_at - a.originated_at).total_seconds()))
            if a.result is CallResult.MACHINE:
                estimates.record_live(False)
            elif a.result.live_answer:
                estimates.record_live(True)
            if (
                a.result is CallResult.CONNECTED
                and a.connected_at is not None
                and a.hungup_at is not None
            ):
                estimates.record_talk(max(0.0, (a.hungup_at - a.connected_at).total_seconds()))
            used += 1
        elif a.result in _UNANSWERED and a.hungup_at is not None:
            estimates.record_failure(max(0.0, (a.hungup_at - a.originated_at).total_seconds()))
            used += 1
    return used
