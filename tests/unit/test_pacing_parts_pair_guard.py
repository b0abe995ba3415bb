"""The pair guard of a campaign decided server by server: a window near its limit takes the
abandons it can take once for the whole campaign, not once per server.

Each server's part guarding one abandon of its own let one abandon on each of two servers
break a window that could take one. The parts now share what the window can take, and each
holds its expected abandons beyond its share within the guard's bound, so the campaign's
expected abandons beyond what the window can take stay within the bound one server keeps.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dialerd.domain.enums import DialMode
from dialerd.pacing import (
    AbandonmentWindow,
    Estimates,
    Fixed,
    LogNormal,
    PacingSettings,
    Snapshot,
    decide,
    mode_used,
    predictive,
    progressive_count,
)
from dialerd.pacing import poisson_binomial as pb

LEARNT = Estimates(
    answer_probability=0.3,
    live_share=1.0,
    answer_delay=LogNormal(8.0, 4.0),
    failure_delay=LogNormal(20.0, 8.0),
    talk=LogNormal(120.0, 72.0),
    wrapup=Fixed(15.0),
    samples=500,
    answered_samples=150,
)
SETTINGS = PacingSettings(dial_mode=DialMode.PREDICTIVE, min_agents_predictive=1)
TARGET = SETTINGS.abandonment_target


class Server:
    """One server's agents and calls: seconds of wrap-up left, seconds talked, seconds rung."""

    def __init__(
        self, ready: int, wrapup: list[float], talking: list[float], ringing: list[float]
    ) -> None:
        self.ready = ready
        self.wrapup = wrapup
        self.talking = talking
        self.ringing = ringing

    @property
    def active(self) -> int:
        return self.ready + len(self.wrapup) + len(self.talking)

    def snapshot(self, window: AbandonmentWindow, campaign_agents: int | None) -> Snapshot:
        return Snapshot(
            settings=SETTINGS,
            estimates=LEARNT,
            free_lines=200,
            ready=(5.0,) * self.ready,
            wrapup=tuple(self.wrapup),
            talking=tuple(self.talking),
            ringing=tuple(self.ringing),
            windows=(window,),
            campaign_agents=campaign_agents,
        )


servers = st.builds(
    Server,
    ready=st.integers(0, 3),
    wrapup=st.lists(st.floats(0.0, 20.0), max_size=3),
    talking=st.lists(st.floats(0.0, 400.0), max_size=4),
    ringing=st.lists(st.floats(0.0, 20.0), max_size=3),
)


def _window(parts: list[Server], live: int, seconds_left: float, spare: float) -> AbandonmentWindow:
    """An hour with ``live`` live answers and as many abandons as leave it a budget
    ``B = t (l + R) - b`` of ``spare`` plus the fraction the counts leave (whole abandons)."""
    agents = sum(p.active for p in parts)
    cycle = LEARNT.talk.mean + LEARNT.wrapup.mean
    remaining = seconds_left * predictive.THROUGHPUT * max(agents, 1) / cycle
    abandoned = math.floor(TARGET * (live + remaining) - spare)
    assume(abandoned >= 0)
    return AbandonmentWindow("hour", live, abandoned, seconds_left)


def _beyond(s: Snapshot, n: int, allowance: float) -> float:
    """``max_h E[(Y_h - c_h - allowance)^+]`` of the snapshot's model with ``n`` new calls:
    its expected abandons beyond ``allowance``."""
    m = predictive.build_model(s)
    rows = predictive._rows(m)
    curve = pb.excess_curve(1.0 - rows, rows.shape[0] - m.c - allowance, m.q, n, n)
    return float(curve[0])


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(servers, min_size=2, max_size=4),
    live=st.integers(20, 120),
    seconds_left=st.floats(120.0, 1800.0),
    spare=st.floats(0.0, 3.0),
)
def test_servers_near_a_windows_limit_together_spend_no_more_than_it_can_take(
    parts: list[Server], live: int, seconds_left: float, spare: float
) -> None:
    """For any split of a campaign over two to four servers, with its window near the limit:
    the abandons the parts' pair guards let through add up to no more than the window can
    take (``max(B, 1)``: one, as for one server, once less than one is left), and each part
    that places more than its progressive minimum expects no more abandons beyond its own
    allowance than ``PAIR_SHARE x alpha`` of its live answers. So the campaign's expected
    abandons beyond what the window can take, at most the sum over the parts, are within
    ``PAIR_SHARE x alpha`` of its live answers, as one server's are."""
    agents = sum(p.active for p in parts)
    assume(agents > 0)
    window = _window(parts, live, seconds_left, spare)
    snaps = [p.snapshot(window, agents) for p in parts]
    budget = predictive._campaign_budget(snaps[0])
    assume(budget >= 0.0)
    guarded = [s for s in snaps if predictive.remaining_budget(s) < predictive.PAIR_BUDGET]
    allowances = [predictive.pair_allowance(s) for s in guarded]
    assert sum(allowances) <= max(budget, 1.0) + 1e-9
    alpha = predictive.planning_rate(snaps[0])
    assert alpha is not None
    spent = 0.0
    bound = 0.0
    for s in snaps:
        n = decide(s)
        if mode_used(s) is not DialMode.PREDICTIVE or n <= progressive_count(s):
            continue  # the calls in flight only: no decision can take them back
        m = predictive.build_model(s)
        if m.n_items > predictive.EXACT_MAX_ITEMS:
            continue
        if s not in guarded:
            continue  # its share of the window takes two more: no pair guard, as one server
        # its share of what the window can take, by active agents; at most one abandon
        allowance = min(1.0, s.active_agents / agents * max(budget, 1.0))
        spent += _beyond(s, n, allowance)
        bound += predictive.PAIR_SHARE * alpha * m.expected_live(n)
    assert spent <= bound + 1e-9


def test_two_servers_near_the_limit_do_not_each_risk_the_windows_last_abandon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two servers of five agents, four ready and one whose wrap-up ends in 4 s, and an hour
    with 40 live answers, 2 abandons and 1.5 more it can take: one more, not two. Each server
    guarding one abandon of its own (as one server on its own does) let two through, one on
    each server; sharing it, each counts abandons beyond its half and places one call fewer.
    Where each server's share of the window takes two more, nothing changes."""
    server = Server(ready=4, wrapup=[4.0], talking=[], ringing=[])
    part = server.snapshot(AbandonmentWindow("hour", 40, 2, 1200.0), 2 * server.active)
    budget = predictive._campaign_budget(part)
    assert 1.0 < budget < predictive.PAIR_BUDGET
    assert predictive.pair_allowance(part) == 0.5 * budget
    assert predictive.pair_allowance(server.snapshot(part.windows[0], None)) == 1.0

    def count(s: Snapshot, own_abandon: bool) -> int:
        with monkeypatch.context() as m:
            if own_abandon:
                m.setattr(predictive, "pair_allowance", lambda _s: 1.0)
            return decide(s)

    n = count(part, own_abandon=False)
    alpha = predictive.planning_rate(part)
    assert alpha is not None
    live = predictive.build_model(part).expected_live(n)
    assert _beyond(part, n, 0.5 * budget) <= predictive.PAIR_SHARE * alpha * live + 1e-12
    assert progressive_count(part) <= n < count(part, own_abandon=True)
    roomy = server.snapshot(AbandonmentWindow("hour", 80, 0, 1200.0), 2 * server.active)
    assert predictive.remaining_budget(roomy) >= predictive.PAIR_BUDGET
    assert count(roomy, own_abandon=False) == count(roomy, own_abandon=True)
