"""Queues Asterisk does not have, against SimAsterisk configured without them.

Found against a real Asterisk 22: a campaign's queue, or an agent's own queue
``<queue>.<agent>``, missing from queues.conf left the agent's log-in half done (logged only as
a refused QueueAdd), and a personal callback or preview sent into a missing queue was abandoned
at once (``Queue()`` on a missing queue returns without waiting). The engine now checks the
queues it needs (``QueueStatus`` per queue), places no call into a missing one (the contacts
and callbacks wait), says which, and resumes once the queue is defined, without a restart.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

from test_engine_callbacks import book_callback, pops
from test_engine_runner import AGENTS, MONDAY_10_UTC, Rig, live, make_spec, rig_at, until

from dialerd.ami import AmiActionFailed
from dialerd.domain.enums import Status, StatusDetail
from dialerd.engine import AttemptFinished, CallProgressed
from dialerd.sim import QueueConfig, SimModel

CHECK_S = 10.0  # clock seconds between two checks (0.5 s real at the rig's speed)


def _sim_with(*queues: str) -> SimModel:
    """A simulator whose queues.conf defines only ``queues``."""
    return SimModel(queue=QueueConfig(queues=frozenset(queues)))


def _checking(rig: Rig) -> None:
    rig.settings = dataclasses.replace(rig.settings, queue_check_seconds=CHECK_S)


def _member_of(rig: Rig, interface: str) -> set[str]:
    return {m.queue for m in rig.sim.queue_members() if m.interface == interface}


async def test_a_campaign_whose_queue_asterisk_lacks_places_no_call_until_it_is_defined(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC, sim_model=_sim_with("q-camp.a0")) as rig:
        _checking(rig)
        camp = await rig.campaign(make_spec(connect_limit="10s"))
        ids = await rig.contacts(camp, live(3))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        # the log-in joins the queue that exists and keeps the other for when it is defined
        assert await engine.agent_login("a0") == ["camp"]
        assert _member_of(rig, AGENTS[0]) == {"q-camp.a0"}
        await until(lambda: engine.missing_queues() == {"sim1": ("q-camp",)})
        await rig.wait_clock(3 * CHECK_S)
        # the agent is ready (in their own queue), but a call would be abandoned at once
        assert rig.sim.originates_received == 0
        decision = engine.status().campaigns[0].last_decision
        assert decision is not None and decision.reason == "queue q-camp missing in Asterisk: sim1"
        for cid in ids:
            contact = await rig.store.get_contact(cid)
            assert (contact.status, contact.attempts) == (Status.OPEN, 0)

        rig.sim.define_queues("q-camp")  # queues.conf edited, module reload app_queue
        await until(lambda: rig.sim.originates_received > 0)
        assert engine.missing_queues() == {}
        assert _member_of(rig, AGENTS[0]) == {"q-camp", "q-camp.a0"}
        await until(
            lambda: any(
                isinstance(e, CallProgressed) and e.phase == "connected" and e.agent == "a0"
                for e in rig.events
            )
        )


async def test_a_personal_callback_waits_while_its_agents_queue_is_missing(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC, sim_model=_sim_with("q-camp")) as rig:
        _checking(rig)
        camp = await rig.campaign(make_spec(connect_limit="10s"))
        (cid,) = await rig.contacts(camp, live(1))
        await book_callback(rig, camp, cid, "a0", in_s=0)
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        # (before the fix this log-in was refused half way: a0 was left in the campaign queue)
        with contextlib.suppress(AmiActionFailed):
            await engine.agent_login("a0")
        await until(lambda: _member_of(rig, AGENTS[0]) == {"q-camp"})
        await rig.wait_clock(3 * CHECK_S)
        assert rig.sim.originates_received == 0, "the callback was sent into a missing queue"
        assert not [e for e in rig.events if isinstance(e, AttemptFinished)]
        assert engine.status().campaigns[0].callbacks_waiting == {"a0": 1}
        contact = await rig.store.get_contact(cid)
        assert contact.status is Status.OPEN
        assert contact.status_detail == StatusDetail.FOLLOW_UP_PERSONAL.value
        assert contact.follow_up_agent == "a0"
        assert engine.missing_queues() == {"sim1": ("q-camp.a0",)}

        rig.sim.define_queues("q-camp.a0")
        await until(lambda: bool(pops(rig)))
        assert [(p.agent, p.contact.id) for p in pops(rig)] == [("a0", cid)]
        assert engine.missing_queues() == {}
        assert engine.status().campaigns[0].callbacks_waiting == {}


async def test_a_queue_defined_while_the_link_was_down_is_found_at_the_reconnect(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC, sim_model=_sim_with("q-camp.a0")) as rig:
        rig.settings = dataclasses.replace(rig.settings, queue_check_seconds=3600.0)
        camp = await rig.campaign(make_spec(connect_limit="10s"))
        await rig.contacts(camp, live(2))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: engine.missing_queues() == {"sim1": ("q-camp",)})
        rig.sim.define_queues("q-camp")
        await rig.wait_clock(3 * CHECK_S)  # the next periodic check is an hour away
        assert rig.sim.originates_received == 0
        await rig.sim.drop_connections()  # the link reconnects and checks again at once
        await until(lambda: engine.missing_queues() == {})
        await until(lambda: rig.sim.originates_received > 0)
