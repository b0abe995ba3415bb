"""dialerd.ami over TCP against the simulated Asterisk (dialerd.sim): outcomes, agents, faults.

Simulator and adapter share one ScaledClock, so a 20 s call takes 2 s of real time; every time in
these tests is in clock seconds unless it says "real".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import structlog

from dialerd.ami import (
    AgentChange,
    AmiActionFailed,
    AmiActionTimeout,
    AmiAlreadyOriginated,
    AmiLinkLost,
    AmiNotReady,
    AsteriskRegistry,
    AsteriskServer,
    CallOutcome,
    CallPhase,
    CallProgress,
    LinkState,
    OriginateRequest,
    ServerConfig,
    ServerUpdate,
)
from dialerd.domain.clock import ScaledClock
from dialerd.domain.enums import AgentState, CallResult

try:
    from dialerd.sim import QueueConfig, SimModel
    from dialerd.sim.server import SimAsterisk
except ImportError as exc:  # pragma: no cover - only while dialerd.sim is being written
    pytest.skip(f"dialerd.sim is not importable: {exc}", allow_module_level=True)

SPEED = 10.0
QUEUE = "dialer-q1"
AGENT1 = "Local/agent-1@sim-agents"


class Recorder:
    """Collects a server's updates; lets a test wait for one that matches."""

    def __init__(self, server: AsteriskServer) -> None:
        self.updates: list[ServerUpdate] = []
        self._changed = asyncio.Event()
        server.add_listener(self._on)

    def _on(self, update: ServerUpdate) -> None:
        self.updates.append(update)
        self._changed.set()

    async def wait_for(
        self, pred: Callable[[list[ServerUpdate]], bool], real_seconds: float = 10.0
    ) -> None:
        async with asyncio.timeout(real_seconds):
            while not pred(self.updates):
                self._changed.clear()
                await self._changed.wait()

    def outcomes(self) -> dict[str, CallOutcome]:
        return {u.attempt_id: u for u in self.updates if isinstance(u, CallOutcome)}

    def agent_states(self, interface: str) -> list[AgentState]:
        return [
            u.status.state
            for u in self.updates
            if isinstance(u, AgentChange) and u.status.interface == interface
        ]


def _config(port: int, **kw: object) -> ServerConfig:
    base: dict[str, object] = {
        "name": "pbx1",
        "port": port,
        "username": "dialer",
        "secret": "dialerpass",
        "action_timeout": 20.0,
        "dead_peer_timeout": 30.0,
        "wrapup_seconds": 3.0,
        "backoff_initial": 0.5,
        "backoff_max": 5.0,
    }
    base.update(kw)
    return ServerConfig(**base)  # type: ignore[arg-type]


@asynccontextmanager
async def _running(
    **kw: object,
) -> AsyncIterator[tuple[SimAsterisk, AsteriskServer, Recorder, ScaledClock]]:
    clock = ScaledClock(SPEED)
    async with SimAsterisk(clock=clock, seed=1) as sim:
        cfg = _config(sim.port, **kw)
        server = AsteriskServer(cfg, clock=clock)
        rec = Recorder(server)
        async with server:
            yield sim, server, rec, clock


def _request(attempt: str, number: str, **kw: object) -> OriginateRequest:
    context = str(kw.pop("context", "dialer-connect"))
    timeout = float(kw.pop("timeout", 15.0))  # type: ignore[arg-type]
    variables = {"DIALER_ATTEMPT": attempt, **kw.pop("variables", {})}  # type: ignore[dict-item]
    return OriginateRequest(
        attempt_id=attempt,
        channel=f"Local/{number}@sim-callees",
        context=context,
        timeout=timeout,
        caller_id='"Dialer" <0212345678>',
        variables=variables,
    )


async def test_each_outcome_over_tcp() -> None:
    async with _running() as (sim, server, rec, _):
        await server.link.wait_ready(timeout=50)
        fast = {"DIALER_CONNECT_TIMEOUT": "2"}
        requests = [
            _request("busy", "555020001"),
            _request("noanswer", "555030001", timeout=5.0),
            _request("congestion", "555040001"),
            _request("invalid", "555060001"),
            _request("noroute", "12345"),
            _request("machine", "555050001", context="dialer-connect-amd", variables=fast),
            _request("abandoned", "555010001", variables=fast),
        ]
        for r in requests:
            await server.originate(r)
        await rec.wait_for(lambda _: len(rec.outcomes()) == len(requests), real_seconds=15)
        results = {k: v.result for k, v in rec.outcomes().items()}
        assert results == {
            "busy": CallResult.BUSY,
            "noanswer": CallResult.NO_ANSWER,
            "congestion": CallResult.CONGESTION,
            "invalid": CallResult.INVALID_NUMBER,
            "noroute": CallResult.INVALID_NUMBER,
            "machine": CallResult.MACHINE,
            "abandoned": CallResult.ABANDONED,
        }
        assert server.calls.open_count == 0
        assert len(sim.originate_action_ids) == len(requests)
        # An attempt is dialed at most once, ever.
        with pytest.raises(AmiAlreadyOriginated):
            await server.originate(requests[0])
        assert len(sim.originate_action_ids) == len(requests)


async def test_connected_call_moves_the_agent_through_ringing_talking_wrapup() -> None:
    async with _running() as (_, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        assert server.agents.get(AGENT1).state is AgentState.READY  # type: ignore[union-attr]
        await server.originate(_request("c1", "555010001"))
        await rec.wait_for(lambda _: "c1" in rec.outcomes(), real_seconds=15)
        outcome = rec.outcomes()["c1"]
        assert outcome.result is CallResult.CONNECTED
        assert outcome.agent == AGENT1
        assert outcome.connect_seconds is not None and outcome.connect_seconds < 3
        assert outcome.talk_seconds is not None and outcome.talk_seconds > 10
        phases = [u.phase for u in rec.updates if isinstance(u, CallProgress)]
        assert phases[-1] is CallPhase.CONNECTED
        # Wrap-up is dialerd's own timer (3 s here): it ends without any AMI event.
        await rec.wait_for(
            lambda _: rec.agent_states(AGENT1)[-1:] == [AgentState.READY], real_seconds=5
        )
        assert rec.agent_states(AGENT1) == [
            AgentState.READY,
            AgentState.RINGING,
            AgentState.TALKING,
            AgentState.WRAPUP,
            AgentState.READY,
        ]


async def test_agent_complete_without_channel_fields_gives_the_queues_wrapup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Asterisk 22.10.1 sent 2 of 17 AgentComplete after all Hangups of the call and without
    any channel field; the adapter dropped those, so the agent's wrap-up came from the agent
    leg's Hangup with the server's default instead of the campaign queue's time."""
    monkeypatch.setattr("dialerd.sim.pbx.BARE_AGENT_COMPLETE_SHARE", 1.0)
    async with _running(wrapup_seconds=600.0, wrapup_by_queue={QUEUE: 4.0}) as (
        sim,
        server,
        rec,
        clock,
    ):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        await server.originate(_request("c9", "555070009"))  # answers, hangs up after 3 s
        await rec.wait_for(lambda _: "c9" in rec.outcomes(), real_seconds=10)
        assert rec.outcomes()["c9"].result is CallResult.CONNECTED
        # The queue's 4 s (0.4 s real), not the server's 600 s.
        await rec.wait_for(
            lambda _: rec.agent_states(AGENT1)[-1:] == [AgentState.READY], real_seconds=3
        )
        wrapups = [
            u.status
            for u in rec.updates
            if isinstance(u, AgentChange) and u.status.state is AgentState.WRAPUP
        ]
        last = wrapups[-1]  # what pacing was told last: the queue's end, for this call
        assert last.call_id == "c9-a" and last.wrapup_until is not None
        assert (last.wrapup_until - last.since).total_seconds() <= 4.1


async def test_a_queue_asterisk_does_not_have_is_named_in_the_refusal() -> None:
    """Asterisk answers a QueueAdd to a queue missing from queues.conf with "No such queue",
    not saying which; dialerd joins each agent to two queues per campaign (its queue and
    the agent's own <queue>.<agent>), so the error names both queue and member."""
    clock = ScaledClock(SPEED)
    model = SimModel(queue=QueueConfig(queues=frozenset({QUEUE})))
    async with (
        SimAsterisk(clock=clock, seed=1, model=model) as sim,
        AsteriskServer(_config(sim.port), clock=clock) as server,
    ):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        with pytest.raises(AmiActionFailed) as refused:
            await server.queue_add(f"{QUEUE}.agent-1", AGENT1, "Agent 1")
        assert refused.value.reason == "Unable to add interface to queue: No such queue"
        assert str(refused.value) == (
            "QueueAdd failed: Unable to add interface to queue: No such queue"
            f" (queue '{QUEUE}.agent-1', interface '{AGENT1}')"
        )
        status = server.agents.get(AGENT1)
        assert status is not None and status.queues == frozenset({QUEUE})


async def test_queue_defined_asks_asterisk_and_a_missing_queue_is_no_error() -> None:
    """Asterisk 22 answers a QueueStatus of a queue queues.conf lacks with Success and no
    QueueParams (AMI-NOTES, scenario 19): the adapter reads that as missing, and a queue
    defined later (module reload app_queue) as there."""
    clock = ScaledClock(SPEED)
    model = SimModel(queue=QueueConfig(queues=frozenset({QUEUE})))
    own = f"{QUEUE}.agent-1"
    async with (
        SimAsterisk(clock=clock, seed=1, model=model) as sim,
        AsteriskServer(_config(sim.port), clock=clock) as server,
    ):
        await server.link.wait_ready(timeout=50)
        assert await server.queue_defined(QUEUE) is True
        assert await server.queue_defined(own) is False
        assert server.ready  # no error, the link is fine
        sim.define_queues(own)
        assert await server.queue_defined(own) is True


async def test_without_a_queue_list_the_simulator_has_every_queue_a_client_asks_for() -> None:
    async with _running() as (_, server, _rec, _clock):
        await server.link.wait_ready(timeout=50)
        assert await server.queue_defined("dialerd-any-campaign.agent-9") is True


async def test_disposition_ends_wrapup_early_and_pause_is_tracked() -> None:
    async with _running(wrapup_seconds=600.0) as (_, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        await server.originate(_request("c2", "555070002"))  # answers, hangs up after 3 s
        await rec.wait_for(lambda _: "c2" in rec.outcomes(), real_seconds=10)
        assert server.agents.get(AGENT1).state is AgentState.WRAPUP  # type: ignore[union-attr]
        server.end_wrapup(AGENT1)
        assert server.agents.get(AGENT1).state is AgentState.READY  # type: ignore[union-attr]
        await server.queue_pause(AGENT1, True, queue=QUEUE, reason="lunch")
        status = server.agents.get(AGENT1)
        assert status is not None
        assert (status.state, status.paused_reason) == (AgentState.PAUSED, "lunch")
        await server.queue_remove(QUEUE, AGENT1)
        assert server.agents.get(AGENT1).state is AgentState.OFFLINE  # type: ignore[union-attr]


async def test_link_drop_during_a_call_sends_no_second_originate() -> None:
    async with _running() as (sim, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        await server.originate(_request("d1", "555010003"))
        await rec.wait_for(
            lambda u: any(isinstance(x, CallProgress) and x.phase is CallPhase.CONNECTED for x in u)
        )
        # A slow action is in flight when the link breaks: it fails, it is not replayed.
        sim.set_response_delay(50.0)
        pending = asyncio.ensure_future(server.link.send("Ping", timeout=100))
        await asyncio.sleep(0.05)
        await sim.drop_connections()
        with pytest.raises(AmiLinkLost):
            await pending
        sim.set_response_delay(0.0)
        with pytest.raises(AmiNotReady):
            await server.originate(_request("d2", "555020003"))
        await server.link.wait_ready(timeout=50)
        assert server.link.counters.reconnects == 1
        # The call lived on in Asterisk: the resync kept it and its end still arrives.
        await rec.wait_for(lambda _: "d1" in rec.outcomes(), real_seconds=10)
        assert rec.outcomes()["d1"].result is CallResult.CONNECTED
        assert sim.originate_action_ids == ["orig-d1"]
        assert "d2" not in rec.outcomes()


async def test_dead_peer_is_noticed_within_the_watchdog_limit() -> None:
    async with _running(dead_peer_timeout=8.0) as (sim, server, rec, clock):
        await server.link.wait_ready(timeout=50)
        sim.set_dead(True)
        start = clock.monotonic()
        await server.link.wait_for_state(LinkState.LOST, timeout=30)
        # Within the limit, plus slack for a busy test machine (0.4 s real = 4 clock s).
        assert clock.monotonic() - start <= 8.0 + 4.0
        assert server.link.counters.dead_peers == 1
        assert "dead peer" in (server.link.last_error or "")
        sim.set_dead(False)
        await server.link.wait_ready(timeout=60)


async def test_a_stall_of_our_own_loop_is_no_dead_peer() -> None:
    """The daemon's event loop is held up longer than the dead-peer limit (a loaded machine, a
    long synchronous step; here 16 s of the 10x clock): the peer's answers wait unread in the
    socket. The watchdog, waking late, took the silence for the peer's and dropped the link:
    the calls in flight were closed as lost (7 of 89 in a `dialerd demo` at 20x on a loaded
    machine). The silence that counts is one the link listened through: after a stall the
    peer gets a Ping and a ping interval to answer it."""
    async with _running(dead_peer_timeout=10.0) as (sim, server, _, clock):
        await server.link.wait_ready(timeout=50)
        await clock.sleep(3.0)
        time.sleep(16.0 / SPEED)  # noqa: ASYNC251 - the whole loop held up, the link's reader too
        await clock.sleep(10.0)
        assert server.link.counters.dead_peers == 0
        assert server.link.state is LinkState.READY
        sim.set_dead(True)  # a peer that is dead is still found so
        await server.link.wait_for_state(LinkState.LOST, timeout=30)
        assert server.link.counters.dead_peers == 1


async def test_an_idle_link_pings_every_ping_interval() -> None:
    async with _running(dead_peer_timeout=30.0, ping_interval=2.0) as (sim, server, _, clock):
        await server.link.wait_ready(timeout=50)
        before = sim.pings_received
        await clock.sleep(20.0)
        # one Ping per 2 s of silence (not one per 7.5 s, a quarter of the dead-peer timeout)
        assert 8 <= sim.pings_received - before <= 11
        assert server.link.state is LinkState.READY


async def test_restart_closes_calls_resyncs_then_ready() -> None:
    async with _running() as (sim, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        await server.originate(_request("r1", "555010004"))
        await rec.wait_for(
            lambda u: any(isinstance(x, CallProgress) and x.phase is CallPhase.CONNECTED for x in u)
        )
        states: list[LinkState] = []
        server.link.add_state_listener(states.append)
        seen: list[LinkState] = []

        async def follow() -> None:
            async for state in server.link.states():
                seen.append(state)

        follower = asyncio.ensure_future(follow())
        await sim.restart(downtime=1.0)
        await server.link.wait_ready(timeout=50)
        assert states[-4:] == [
            LinkState.CONNECTING,
            LinkState.LOGGED_IN,
            LinkState.RESYNCED,
            LinkState.READY,
        ]
        assert LinkState.LOST in states
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        assert seen[0] is LinkState.READY and seen[-1] is LinkState.READY
        assert LinkState.LOST in seen
        await rec.wait_for(lambda _: "r1" in rec.outcomes(), real_seconds=5)
        outcome = rec.outcomes()["r1"]
        assert outcome.result is CallResult.FAILED_UNKNOWN
        assert "restarted" in outcome.detail
        # Runtime members are gone after a restart; the resync says so.
        assert server.agents.get(AGENT1).state is AgentState.OFFLINE  # type: ignore[union-attr]
        assert sim.originate_action_ids == ["orig-r1"]


async def test_wrong_password_gives_a_clear_state_and_no_tight_loop() -> None:
    async with _running(secret="wrong", auth_retry_delay=30.0) as (sim, server, _rec, clock):
        await server.link.wait_for_state(LinkState.FAILED_AUTH, timeout=50)
        assert "login refused" in (server.link.last_error or "")
        await clock.sleep(20.0)  # 2 s real: a tight loop would have retried many times
        assert server.link.counters.auth_failures == 1
        assert server.link.state is LinkState.FAILED_AUTH
        with pytest.raises(AmiNotReady):
            await server.originate(_request("x", "555020009"))
        assert sim.originate_action_ids == []


async def test_garbage_is_counted_and_the_link_survives() -> None:
    async with _running() as (sim, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        await sim.inject_garbage(b"\x00\xffthis is not AMI\r\n\r\n")
        # Glued as a line of its own: the next message is salvaged from its line start. (Glued
        # mid-line it would cost that message: a message never starts mid-line, or a header
        # value could forge one; see test_event_in_the_middle_of_a_line_is_never_a_message.)
        await sim.inject_garbage(b"junk glued to the next message\r\n")
        await server.originate(_request("g1", "555020005"))
        await rec.wait_for(lambda _: "g1" in rec.outcomes())
        assert rec.outcomes()["g1"].result is CallResult.BUSY
        assert server.link.counters.protocol_errors >= 1
        assert server.link.state is LinkState.READY
        assert server.link.counters.reconnects == 0


async def test_a_flood_of_garbage_makes_the_link_reconnect() -> None:
    async with _running() as (sim, server, _rec, _clock):
        await server.link.wait_ready(timeout=50)
        await sim.inject_garbage(b"garbage\r\n\r\n" * 30)
        await server.link.wait_for_state(LinkState.LOST, timeout=50)
        await server.link.wait_ready(timeout=50)
        assert server.link.counters.reconnects == 1
        assert server.link.counters.protocol_errors >= 20


async def test_slow_reply_times_out() -> None:
    async with _running(action_timeout=2.0) as (sim, server, _rec, _clock):
        await server.link.wait_ready(timeout=50)
        sim.set_response_delay(10.0)
        with pytest.raises(AmiActionTimeout):
            await server.link.send("Ping")
        assert server.link.counters.action_timeouts == 1


async def test_registry_of_two_servers_by_name() -> None:
    clock = ScaledClock(SPEED)
    async with SimAsterisk(clock=clock, seed=2) as sim_a, SimAsterisk(clock=clock, seed=3) as sim_b:
        configs = [
            _config(sim_a.port, name="a", max_channels=1),
            _config(sim_b.port, name="b", max_channels=5),
        ]
        async with AsteriskRegistry(configs, clock=clock) as registry:
            assert registry.names == ["a", "b"]
            for s in registry:
                await s.link.wait_ready(timeout=50)
            picked = registry.pick()
            assert picked is registry["b"]
            await picked.originate(_request("m1", "555030001", timeout=30.0))
            assert registry.free_channels(registry["b"]) == 4
            with pytest.raises(KeyError):
                registry["c"]
        assert sim_b.originate_action_ids == ["orig-m1"]
        assert sim_a.originate_action_ids == []


async def test_refused_originate_raises_and_still_gives_one_outcome() -> None:
    async with _running() as (_, server, rec, _clock):
        await server.link.wait_ready(timeout=50)
        bad = OriginateRequest(attempt_id="bad1", channel="", context="dialer-connect")
        with pytest.raises(AmiActionFailed, match="Channel not specified"):
            await server.originate(bad)
        outcome = rec.outcomes()["bad1"]
        assert outcome.result is CallResult.FAILED_UNKNOWN
        assert "refused" in outcome.detail
        assert server.calls.open_count == 0


async def test_unreachable_asterisk_is_retried_with_growing_backoff() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    clock = ScaledClock(SPEED)
    cfg = _config(port, backoff_initial=0.5, backoff_max=8.0)
    async with AsteriskServer(cfg, clock=clock) as server:
        await clock.sleep(30.0)  # 3 s real
        failures = server.link.counters.connect_failures
        # 0.5 + 1 + 2 + 4 + 8 + 8 ... (jitter shortens each by up to half): a handful, not hundreds.
        assert 3 <= failures <= 12
        assert server.link.state in (LinkState.LOST, LinkState.CONNECTING)
        assert "connect to 127.0.0.1" in (server.link.last_error or "")
        with pytest.raises(AmiNotReady):
            await server.link.send("Ping")


async def test_a_new_link_learns_existing_members_from_the_resync() -> None:
    async with _running() as (sim, server, _rec, clock):
        await server.link.wait_ready(timeout=50)
        await server.queue_add(QUEUE, AGENT1, "Agent 1")
        await server.queue_add(QUEUE, "Local/agent-2@sim-agents", "Agent 2", paused=True)
        async with AsteriskServer(_config(sim.port, name="second"), clock=clock) as second:
            await second.link.wait_ready(timeout=50)
            states = {i: s.state for i, s in second.agents.snapshot().items()}
            assert states == {
                AGENT1: AgentState.READY,
                "Local/agent-2@sim-agents": AgentState.PAUSED,
            }


async def test_closing_the_link_at_a_stop_is_no_warning() -> None:
    """Every stop of the daemon logged 'ami link lost' (reason 'closed') as a warning: a
    line an operator learns to ignore, next to the one that means Asterisk went away."""
    with structlog.testing.capture_logs() as logs:
        async with _running() as (_, server, _, _):
            await server.link.wait_ready(timeout=50)
    assert [e["event"] for e in logs if e["log_level"] in ("warning", "error")] == []
    assert any(e["event"] == "ami link closed" for e in logs)
    assert server.link.state is LinkState.STOPPED
