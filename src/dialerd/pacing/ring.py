"""How long a call placed now rings before dialerd gives up on it.

Every mode rings the campaign's ``ring_timeout`` (25 s by default), except predictive once its
model holds: a call still ringing after the campaign's ``min_ring`` (15 s by default, the legal
minimum ring in the US and the UK) is rarely answered at all, and when it is, the answer comes
at a moment no decision planned for, most often with every agent busy: an abandon. Ending it
there frees the line for a fresh call whose answer the model can place, and takes that
unplanned risk out of every later decision. Measured on the bench (6 seeds, talk time over
the oracle's): s3-tiny 0.828 -> 0.841, s1-small 0.874 -> 0.882, s2-large 0.954 -> 0.955, with
fewer abandons in the worst hour.

The ring is only shortened when the campaign's own answer delays say so: a call still ringing
at ``min_ring`` must keep less than ``RELEASE_SHARE`` of a fresh call's answer chance (about
0.07 when answers come after 8 s on average, 0.3 when they come after 12 s: such a campaign
keeps the full timeout). Once shortened, later answers are no longer seen, so the campaign keeps
the short ring until its estimates are reset (a new list with slow answerers is a new campaign
history).
"""

from __future__ import annotations

import numpy as np

from dialerd.domain.enums import DialMode
from dialerd.pacing.snapshot import Estimates, PacingSettings, Snapshot

#: A call still ringing at ``min_ring`` is given up there when its chance of being answered
#: later is below this share of a fresh call's.
RELEASE_SHARE = 0.2


_last: list[tuple[Estimates, PacingSettings, float]] = []


def ring_timeout(snapshot: Snapshot) -> float:
    """Seconds the calls placed on this snapshot ring before they are given up as no-answer."""
    st = snapshot.settings
    full = st.ring_timeout_s
    shortest = st.min_ring_s
    if st.dial_mode is not DialMode.PREDICTIVE or shortest >= full:
        return full
    est = snapshot.estimates
    # the estimates in a snapshot are refreshed every few seconds, the decisions come faster
    if _last and _last[0][0] is est and _last[0][1] is st:
        return _last[0][2]
    ring = _ring(st, est, full, shortest)
    _last[:] = [(est, st, ring)]
    return ring


def _ring(st: PacingSettings, est: Estimates, full: float, shortest: float) -> float:
    if est.samples < st.min_samples:
        return full  # too few finished attempts to know the campaign's answer delays
    p = min(max(est.answer_probability, 0.0), 1.0)
    if p <= 0.0:
        return shortest
    at = np.array([shortest])
    answered_later = p * (1.0 - float(est.answer_delay.cdf(at)[0]))
    failing_later = (1.0 - p) * (1.0 - float(est.failure_delay.cdf(at)[0]))
    still_ringing = answered_later + failing_later
    if still_ringing <= 1e-12:
        return shortest
    return shortest if answered_later / still_ringing < RELEASE_SHARE * p else full
