"""The AMI adapter against a real Asterisk configured from ``asterisk-test/``.

Runs only when ``DIALERD_TEST_AMI=host:port:user:secret`` names one (see asterisk-test/README.md),
in real time. The simulator-only faults (dead peer, garbage, restart) are in test_ami_sim.py.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from dialerd.ami import AsteriskServer, CallOutcome, OriginateRequest, ServerConfig, ServerUpdate
from dialerd.domain.enums import AgentState, CallResult

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def server() -> AsyncIterator[AsteriskServer]:
    spec = os.environ.get("DIALERD_TEST_AMI")
    if not spec:
        pytest.skip("DIALERD_TEST_AMI is not set (host:port:user:secret of a test Asterisk)")
    host, port, user, secret = spec.split(":", 3)
    cfg = ServerConfig(
        name="real", host=host, port=int(port), username=user, secret=secret, wrapup_seconds=2
    )
    async with AsteriskServer(cfg) as s:
        await s.link.wait_ready(timeout=15)
        yield s


async def _outcomes(server: AsteriskServer, n: int, seconds: float) -> dict[str, CallOutcome]:
    found: dict[str, CallOutcome] = {}
    got = asyncio.Event()

    def on(update: ServerUpdate) -> None:
        if isinstance(update, CallOutcome):
            found[update.attempt_id] = update
            if len(found) >= n:
                got.set()

    server.add_listener(on)
    async with asyncio.timeout(seconds):
        await got.wait()
    return found


def _req(attempt: str, number: str, context: str = "dialer-connect") -> OriginateRequest:
    return OriginateRequest(
        attempt_id=attempt,
        channel=f"Local/{number}@sim-callees",
        context=context,
        timeout=8,
        variables={"DIALER_ATTEMPT": attempt, "DIALER_CONNECT_TIMEOUT": "3"},
    )


async def _live_call(server: AsteriskServer, prefix: str) -> CallOutcome:
    """One call a live person answers (555010001), to its outcome."""
    attempt = f"{prefix}-{os.urandom(3).hex()}"
    waiter = asyncio.ensure_future(_outcomes(server, 1, 40))
    await server.originate(_req(attempt, "555010001"))
    return (await waiter)[attempt]


async def test_failed_outcomes_on_real_asterisk(server: AsteriskServer) -> None:
    tag = os.urandom(3).hex()
    numbers = {
        f"busy-{tag}": ("555020001", CallResult.BUSY),
        f"noans-{tag}": ("555030001", CallResult.NO_ANSWER),
        f"cong-{tag}": ("555040001", CallResult.CONGESTION),
        f"inval-{tag}": ("555060001", CallResult.INVALID_NUMBER),
        f"noroute-{tag}": ("12345", CallResult.INVALID_NUMBER),
    }
    waiter = asyncio.ensure_future(_outcomes(server, len(numbers), 30))
    for attempt, (number, _) in numbers.items():
        await server.originate(_req(attempt, number))
    found = await waiter
    assert {k: v.result for k, v in found.items()} == {k: r for k, (_, r) in numbers.items()}


async def test_e164_numbers_get_the_outcome_of_their_national_form_on_real_asterisk(
    server: AsteriskServer,
) -> None:
    """dialerd stores numbers in E.164 and dials ``Local/+49555020001@sim-callees``; the
    asterisk-test dialplan drops the country code (tests/unit/test_asterisk_test_dialplan.py
    checks the patterns without an Asterisk)."""
    tag = os.urandom(3).hex()
    numbers = {
        f"busy164-{tag}": ("+49555020001", CallResult.BUSY),
        f"cong164-{tag}": ("+1555040001", CallResult.CONGESTION),
        f"inval164-{tag}": ("+353555060001", CallResult.INVALID_NUMBER),
    }
    waiter = asyncio.ensure_future(_outcomes(server, len(numbers), 30))
    for attempt, (number, _) in numbers.items():
        await server.originate(_req(attempt, number))
    found = await waiter
    assert {k: v.result for k, v in found.items()} == {k: r for k, (_, r) in numbers.items()}


async def test_connected_call_and_agent_states_on_real_asterisk(server: AsteriskServer) -> None:
    agent = "Local/agent-1@sim-agents"
    await server.queue_add("dialer-q1", agent, "Agent 1")
    try:
        outcome = await _live_call(server, "conn")
        assert outcome.result is CallResult.CONNECTED
        assert outcome.agent == agent
        assert server.agents.get(agent).state is AgentState.WRAPUP  # type: ignore[union-attr]
    finally:
        await server.queue_remove("dialer-q1", agent)


async def test_queue_penalty_sends_the_caller_to_the_lower_penalty_member_on_real_asterisk(
    server: AsteriskServer,
) -> None:
    """What the agent pools rely on (docs/engine.md, "Agents in several campaigns")."""
    first, second = "Local/agent-1@sim-agents", "Local/agent-2@sim-agents"
    await server.queue_add("dialer-q1", first, "Agent 1")
    await server.queue_add("dialer-q1", second, "Agent 2")
    try:
        await server.queue_penalty("dialer-q1", first, 10)
        outcome = await _live_call(server, "pen")
        assert outcome.result is CallResult.CONNECTED
        assert outcome.agent == second
    finally:
        await server.queue_remove("dialer-q1", first)
        await server.queue_remove("dialer-q1", second)
