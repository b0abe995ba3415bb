"""How far the predictive model's abandonment forecasts are from what the campaign measures.

The model's expected abandons are a lower bound by construction (``max_h E[.]`` is at most
``E[max_h .]``; calls placed in later decisions compete for the same agents) and the estimates
it is fed lag the campaign. Measured on the bench, the ratio of abandons seen to abandons planned
is stable for a given campaign (about 3 on 50 agents, about 2 on small teams) but differs
between campaigns. So rather than a fixed correction factor, pacing learns the ratio online:

    calibration = (A + K0 * W0) / (P + W0)

where ``P`` sums, over the live answers seen, the abandonment rate that was planned when their
call was placed, and ``A`` counts the abandons among them (both forget with a half-life counted
in live answers; ``K0``/``W0`` is the prior). The planning rate is then the rate the compliance
windows allow divided by this ratio. Pure state, fed by :class:`~dialerd.pacing.SnapshotBuilder`.
"""

from __future__ import annotations

from collections.abc import Hashable

#: The ratio before the campaign has shown its own. It weighs most where few abandons are
#: planned: on 50 agents the measured ratio soon holds about 7 planned abandons (a half-life of
#: 600 live answers at a planning rate near 1 %) and the prior a fifth of the weight; a 5-agent
#: team has about 240 live answers a day and the prior outweighs its own all day. So it is the
#: small teams' value: with answers paired at the start of their second
#: (``predictive.PAIRING_LAG_S``), abandons seen per abandon planned at fixed planning rates were
#: 1.1-1.3 on s3-tiny and 1.5-1.8 on s1-small (1.9 s2-large). On s3-tiny (80 seeds, no pair
#: guard) 2.3 gave 0.8451 of the oracle's talk time, 2.0 0.8463, 1.6 0.8492, 1.3 0.8505, with 3-5
#: days of 80 over 3 % in an hour; the pair guard (``predictive.pair_count``) holds 1.6 at none.
PRIOR_RATIO = 1.6
#: Weight of the prior, in planned abandons.
PRIOR_WEIGHT = 2.0
#: Half-life of the measured ratio, in live answers.
HALF_LIFE = 600.0
#: Bounds on the ratio: a run of bad luck must not stop a campaign, nor good luck let it loose.
LOW, HIGH = 0.5, 8.0


class Calibration:
    """Planned against measured abandons of one campaign's live answers."""

    def __init__(
        self,
        prior_ratio: float | None = None,
        prior_weight: float | None = None,
        half_life: float | None = None,
    ) -> None:
        prior_ratio = PRIOR_RATIO if prior_ratio is None else prior_ratio
        prior_weight = PRIOR_WEIGHT if prior_weight is None else prior_weight
        half_life = HALF_LIFE if half_life is None else half_life
        self._prior_a = prior_ratio * prior_weight
        self._prior_p = prior_weight
        self._decay = 2.0 ** (-1.0 / half_life)
        self.planned = 0.0
        self.abandoned = 0.0
        self.plan_rate = 0.0
        """The planning rate of the latest decision; calls placed now carry it."""
        self._calls: dict[Hashable, float] = {}

    def placed(self, call: Hashable) -> None:
        self._calls[call] = self.plan_rate

    def live_answer(self, call: Hashable, abandoned: bool) -> None:
        """A placed call reached a live person: connected or abandoned."""
        plan = self._calls.pop(call, None)
        if plan is None:
            return
        self.planned = self.planned * self._decay + plan
        self.abandoned = self.abandoned * self._decay + (1.0 if abandoned else 0.0)

    def forget(self, call: Hashable) -> None:
        """The call ended without a live answer (unanswered, machine)."""
        self._calls.pop(call, None)

    @property
    def ratio(self) -> float:
        value = (self.abandoned + self._prior_a) / (self.planned + self._prior_p)
        return min(max(value, LOW), HIGH)
