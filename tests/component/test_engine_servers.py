"""One campaign over two Asterisk servers, through real TCP against two simulators, in
accelerated time (see test_engine_runner): calls go where the campaign's agents are, each
server's calls are decided for that server's agents, and the agents of a server whose AMI
link is lost do not count in pacing until it is back.

Each agent is in the queues of one Asterisk: a call placed on one server is answered and
connected there, to its agents only.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from test_engine_runner import (
    DEAD_PEER,
    MONDAY_10_UTC,
    SPEED,
    Rig,
    live,
    make_spec,
    no_answer,
    rig_at,
    until,
)
from test_engine_shared_team import _history

from dialerd.ami import AsteriskServer, ServerConfig, ServerUpdate
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.enums import CallResult
from dialerd.engine import AgentView, AttemptFinished, CallProgressed, Engine, EngineSettings
from dialerd.sim import SimAsterisk


@dataclass
class TwoServers:
    rig: Rig
    west_sim: SimAsterisk
    servers: dict[str, AsteriskServer]
    engine: Engine

    def placed_on(self, server: str, after: int = 0) -> int:
        """Calls the engine placed on ``server`` (of those dialed after the first ``after``)."""
        dialed = [e for e in self.rig.events if isinstance(e, CallProgressed)]
        dialed = [e for e in dialed if e.phase == "dialing"][after:]
        return sum(1 for e in dialed if e.server == server)

    def dialed(self) -> int:
        return sum(
            1 for e in self.rig.events if isinstance(e, CallProgressed) and e.phase == "dialing"
        )

    def results(self, after: int = 0) -> list[CallResult]:
        done = [e for e in self.rig.events if isinstance(e, AttemptFinished)]
        return [e.result for e in done[after:]]


@asynccontextmanager
async def two_servers(
    tmp_path: Path,
    spec: CampaignSpec | None = None,
    per_server: int = 2,
    *,
    logged_in: int | None = None,
    speed: float = SPEED,
    history: bool = True,
) -> AsyncIterator[TwoServers]:
    """``per_server`` agents on each server (a0.. on east, then west), the first
    ``logged_in`` of them (default all) logged in and ready; the campaign ``spec`` with a
    finished history (enough samples for predictive; its 40 contacts do not answer), by
    default progressive."""
    async with rig_at(tmp_path, MONDAY_10_UTC, speed=speed) as rig:
        west_sim = SimAsterisk(clock=rig.clock, seed=4)
        await west_sim.start()
        servers = {
            name: AsteriskServer(
                ServerConfig(
                    name=name,
                    port=port,
                    username="dialer",
                    secret="dialerpass",
                    dead_peer_timeout=DEAD_PEER,
                    action_timeout=DEAD_PEER / 2,
                    backoff_max=2.0,
                ),
                clock=rig.clock,
            )
            for name, port in (("east", rig.sim.port), ("west", west_sim.port))
        }
        for s in servers.values():
            s.start()
        try:
            await until(lambda: all(s.ready for s in servers.values()))
            # progressive: one call per ready agent; a 3 s wrap-up limit keeps agents cycling
            if spec is None:
                await rig.campaign(make_spec(ring_timeout="60s", wrapup={"limit": "3s"}))
            elif history:
                await _history(rig, await rig.campaign(spec), 100)
            else:
                await rig.campaign(spec)
            names = [f"a{i}" for i in range(2 * per_server)]
            where = {}
            for i, name in enumerate(names):
                await rig.agent(name, f"Local/agent-{i + 1}@sim-agents", ("camp",))
                where[name] = "east" if i < per_server else "west"
            settings = EngineSettings(tick_seconds=1.0, holder="two-servers", agent_servers=where)
            engine = Engine(rig.store, servers, rig.clock, settings)
            engine.add_listener(rig.events.append)
            task = asyncio.create_task(engine.run())
            try:
                await until(lambda: bool(engine.status().campaigns))
                first = names[: len(names) if logged_in is None else logged_in]
                for name in first:
                    await engine.agent_login(name)
                await until(
                    lambda: (
                        [a.state for a in engine.status().agents][: len(first)]
                        == ["ready"] * len(first)
                    )
                )
                yield TwoServers(rig, west_sim, servers, engine)
            finally:
                await asyncio.wait_for(engine.stop(0), 10)
                await asyncio.wait_for(task, 10)
        finally:
            for s in servers.values():
                await asyncio.wait_for(s.close(), 10)
            await asyncio.wait_for(west_sim.stop(), 10)


def _agents_of(t: TwoServers, server: str) -> list[AgentView]:
    return [a for a in t.engine.status().agents if a.server == server]


async def test_calls_go_to_the_server_whose_agents_are_ready(tmp_path: Path) -> None:
    """Two agents on each server, both links up: the calls are shared between the servers by
    their ready agents, none is abandoned (all on the first server, two answers found no
    agent there while the other server's agents waited)."""
    async with two_servers(tmp_path) as t:
        (camp,) = await t.rig.store.list_campaigns()
        await t.rig.contacts(camp, live(24))
        await until(lambda: t.dialed() >= 4)
        assert (t.placed_on("east"), t.placed_on("west")) == (2, 2)
        await until(lambda: len(t.results()) >= 12, limit=30)
        results = t.results()
        assert CallResult.ABANDONED not in results
        assert t.placed_on("west") >= 4


async def test_agents_of_a_lost_server_do_not_count_in_pacing_until_it_is_back(
    tmp_path: Path,
) -> None:
    """The AMI link to one server is lost while its two agents were last seen ready. They keep
    that state (not known since the loss), but no call can be offered to them: counted ready,
    progressive placed a call for each of them on the other server, whose two agents could take
    two calls, so two answers of every round were abandoned. Now the healthy server dials for
    its own agents, without abandons; once the link is back and its agents resynchronised,
    the other server is dialed again."""
    async with two_servers(tmp_path) as t:
        rig = t.rig
        t.west_sim.set_dead(True)
        await t.west_sim.drop_connections()
        await until(lambda: t.engine.status().links["west"] != "ready")
        # the link's state is its own; the engine hears of the loss through its event pump
        await until(lambda: all(a.unknown_since for a in _agents_of(t, "west")))
        west_view = _agents_of(t, "west")
        assert [(a.state, a.unknown_since is not None) for a in west_view] == [("ready", True)] * 2
        (camp,) = await rig.store.list_campaigns()
        await rig.contacts(camp, live(60))
        most = 0
        for _ in range(90):
            await rig.wait_clock(1)
            (view,) = t.engine.status().campaigns
            most = max(most, view.calls_in_flight - view.awaiting_disposition)
        results = t.results()
        assert t.placed_on("west") == 0
        assert results.count(CallResult.CONNECTED) >= 6  # dialing went on for east's agents
        assert CallResult.ABANDONED not in results
        assert most <= 2  # one call per ready agent of east, never one for west's
        # the link is back: west's agents count again once resynchronised, and are dialed for
        before, finished = t.dialed(), len(results)
        t.west_sim.set_dead(False)
        await until(lambda: t.engine.status().links["west"] == "ready", limit=30)
        await until(lambda: t.placed_on("west", after=before) >= 2, limit=30)
        await until(lambda: len(t.results()) >= finished + 8, limit=30)
        assert CallResult.ABANDONED not in t.results(after=finished)


async def test_a_lost_link_counts_its_agents_out_before_the_engine_has_heard_of_it(
    tmp_path: Path,
) -> None:
    """The link to west is lost, and the news of it (the link's state change, behind the
    engine's event pump) has not reached the campaign yet, as on a loaded machine. A pacing
    decision in between took west's two agents as ready (the campaign had not heard) but
    could place calls on east only (its link is the one up): four calls for east's two agents,
    and two answers of the round abandoned. Now a server whose link is not up counts for
    nobody at once; its agents count again once the campaign has their resync."""
    async with two_servers(tmp_path) as t:
        route = t.engine._route
        heard = asyncio.Event()

        async def late_route(server: str, update: ServerUpdate) -> None:
            if server == "west":
                await heard.wait()  # the engine's pump is behind (the machine is loaded)
            await route(server, update)

        t.engine._route = late_route  # type: ignore[method-assign]
        t.west_sim.set_dead(True)
        await t.west_sim.drop_connections()
        await until(lambda: not t.servers["west"].ready)
        (camp,) = await t.rig.store.list_campaigns()
        await t.rig.contacts(camp, live(20))
        await until(lambda: t.dialed() >= 2)
        await t.rig.wait_clock(8)  # answered after 2 s, abandoned 2 s later with no agent
        assert (t.placed_on("east"), t.placed_on("west")) == (2, 0)
        assert CallResult.ABANDONED not in t.results()
        heard.set()
        await until(lambda: len(t.results()) >= 4, limit=30)
        assert CallResult.ABANDONED not in t.results()


async def test_a_campaign_split_over_two_servers_counts_one_servers_team_for_predictive(
    tmp_path: Path,
) -> None:
    """Six agents, three on each server, a predictive campaign with the minimum of 5: an answer
    is connected on the server its call was placed on, so the answers even out over three
    agents, not six. The campaign is progressive (one call per ready agent: six in flight
    with nobody answering); counted as one team of six it dialed ahead (19 in flight)."""
    spec = make_spec(dial={"mode": "predictive"}, ring_timeout="25s")
    async with two_servers(tmp_path, spec, per_server=3) as t:
        (camp,) = await t.rig.store.list_campaigns()
        await t.rig.contacts(camp, no_answer(60))
        await until(lambda: t.dialed() >= 6)
        await t.rig.wait_clock(5)
        (view,) = t.engine.status().campaigns
        decision = view.last_decision
        assert decision is not None
        assert (decision.ready, decision.team) == (6, 3)
        assert view.calls_in_flight == 6
        assert (t.placed_on("east"), t.placed_on("west")) == (3, 3)


async def test_a_ready_agent_on_one_server_makes_no_call_on_the_other(tmp_path: Path) -> None:
    """Power dialing (1.5 calls per ready agent): east's two agents are talking when west's
    two log in. Decided for the campaign as one, west's ready agents made three calls and one
    went to east (the calls were spread in proportion to the active agents on each server),
    where both agents were busy for 20 s: answered after 2 s, it was abandoned. Decided per
    server, west's agents make their calls on west and east, with nobody ready or in wrap-up
    there, gets none."""
    spec = make_spec(
        dial={"mode": "power", "calls_per_ready_agent": 1.5},
        ring_timeout="60s",
        wrapup={"limit": "3s"},
    )
    async with two_servers(tmp_path, spec, logged_in=2, speed=4.0, history=False) as t:
        rig = t.rig
        (camp,) = await rig.store.list_campaigns()
        await rig.contacts(camp, live(30))
        # east: three calls for two agents; two talk (20 s), the third is abandoned
        talking = ["talking"] * 2
        await until(lambda: [a.state for a in t.engine.status().agents][:2] == talking, limit=15)
        await until(lambda: CallResult.ABANDONED in t.results(), limit=15)
        assert t.placed_on("east") == 3
        before = t.dialed()
        for name in ("a2", "a3"):
            await t.engine.agent_login(name)
        await until(lambda: t.placed_on("west", after=before) >= 3, limit=15)
        await rig.wait_clock(2)
        assert [a.state for a in t.engine.status().agents][:2] == talking
        assert t.placed_on("east", after=before) == 0


async def test_predictive_plans_each_servers_calls_for_that_servers_agents(
    tmp_path: Path,
) -> None:
    """Five agents on each server, predictive (minimum 5): east's five are talking (20 s
    calls just connected) and west's five ready when contacts come in. One decision for all
    ten planned calls for west's five ready agents and spread those beyond five evenly over
    both servers, so about a third went to east, where nobody is free for 20 s: abandoned
    when answered. Decided per server, east's snapshot holds its five busy agents and gets
    no call; west's calls are planned for west's agents."""
    # max_calls_per_day: the history's contacts (called yesterday, within 24 h) stay undialed
    dial = {"mode": "predictive", "max_calls_per_day": 1}
    spec = make_spec(dial=dial, ring_timeout="25s", wrapup={"limit": "3s"})
    async with two_servers(tmp_path, spec, per_server=5, logged_in=5, speed=4.0) as t:
        rig = t.rig
        (camp,) = await rig.store.list_campaigns()
        await rig.contacts(camp, live(5))
        talking = ["talking"] * 5
        await until(lambda: [a.state for a in t.engine.status().agents][:5] == talking, limit=15)
        for name in ("a5", "a6", "a7", "a8", "a9"):
            await t.engine.agent_login(name)
        await until(lambda: [a.state for a in t.engine.status().agents][5:] == ["ready"] * 5)
        before = t.dialed()
        await rig.contacts(camp, no_answer(60))
        await until(lambda: t.placed_on("west", after=before) >= 8, limit=15)
        await rig.wait_clock(2)
        assert [a.state for a in t.engine.status().agents][:5] == talking
        assert t.placed_on("east", after=before) == 0
        (view,) = t.engine.status().campaigns
        decision = view.last_decision
        assert decision is not None
        assert [(p.server, p.talking, p.team) for p in decision.servers] == [
            ("east", 5, 5),
            ("west", decision.servers[1].talking, 5),
        ]
