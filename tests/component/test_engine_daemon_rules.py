"""The engine applies the daemon's rules to every campaign, however it was stored.

Campaigns reach the store through campaign files, the REST API and ``dialerd campaign create``
(which, without ``--config``, cannot know the daemon's configuration). These tests store
campaigns straight into the store, as such a command would, and watch what the engine does:
the [compliance] floor holds, and what a campaign leaves out of its retry policy comes from the
daemon's [retry].
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from test_engine_runner import AGENTS, MONDAY_10_UTC, live, make_spec, no_answer, rig_at, until

from dialerd.domain.compliance import ComplianceFloor
from dialerd.domain.enums import CallResult, Status
from dialerd.domain.model import RetryPolicy, RetryRule

HELD = "campaign held to the daemon's [compliance] rules"


async def test_a_campaign_stored_with_laxer_rules_is_dialed_by_the_daemon_floor(
    tmp_path: Path,
) -> None:
    # 19:30 UTC: Berlin 20:30 (inside 08-21), Tokyo 04:30 (outside)
    async with rig_at(tmp_path, datetime(2026, 1, 5, 19, 30, tzinfo=UTC)) as rig:
        rig.settings = dataclasses.replace(rig.settings, compliance=ComplianceFloor())
        lax = make_spec(
            calling_hours={"enabled": False},
            dial={
                "mode": "power",
                "calls_per_ready_agent": 5,
                "abandonment_target": "50%",
                "abandonment_windows": ["hour"],
            },
        )
        camp = await rig.campaign(lax)
        ok = set(await rig.contacts(camp, no_answer(3, 0), tz="Europe/Berlin"))
        night = set(await rig.contacts(camp, no_answer(3, 10), tz="Asia/Tokyo"))
        await rig.agent("a0", AGENTS[0], ("camp",))
        await rig.agent("a1", AGENTS[1], ("camp",))
        with structlog.testing.capture_logs() as logs:
            engine = await rig.start()
            await engine.agent_login("a0")
            await engine.agent_login("a1")
            await until(lambda: set(rig.dialed()) >= ok)
            await rig.wait_clock(40)  # the first calls ended: the dialer looked for more
            await engine.reload()  # nothing changed: no second warning
            await rig.wait_clock(2)
        assert set(rig.dialed()) == ok
        assert not set(rig.dialed()) & night
        view = engine.status().campaigns[0]
        assert [w.name for w in view.abandonment] == ["hour", "day", "rolling_30d"]
        held = [e for e in logs if e["event"] == HELD]
        assert len(held) == 1
        assert held[0]["campaign"] == "camp"
        assert held[0]["changes"] == [
            "calling hours set to 08:00-21:00 (daemon [compliance])",
            "abandonment target lowered to 3.0% (daemon [compliance])",
            "abandonment windows day, rolling_30d added (daemon [compliance])",
        ]


async def test_abandoned_calls_follow_the_daemon_connect_limit_and_hold_off(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        rig.settings = dataclasses.replace(
            rig.settings,
            compliance=ComplianceFloor(
                connect_limit=timedelta(seconds=2), abandon_hold_off=timedelta(hours=72)
            ),
        )
        camp = await rig.campaign(make_spec(connect_limit="10s", abandon_hold_off="1h"))
        (cid,) = await rig.contacts(camp, live(1))
        # an agent who never answers: the live answer is abandoned after the connect limit
        await rig.agent("rna", "Local/rna-agent-1@sim-agents", ("camp",))
        engine = await rig.start()
        await engine.agent_login("rna")
        await until(lambda: bool(rig.finished()), limit=10)
        assert rig.finished()[0].result is CallResult.ABANDONED
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.answered_at is not None and attempt.hungup_at is not None
        assert attempt.hungup_at - attempt.answered_at < timedelta(seconds=6)  # not 10 s
        contact = await rig.store.get_contact(cid)
        assert contact.status is Status.OPEN
        assert contact.due_at is not None
        assert contact.due_at >= rig.clock.now() + timedelta(hours=71)  # not 1 h


async def test_a_campaign_without_its_own_retry_policy_gets_the_daemon_retry_table(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        daemon_retry = RetryPolicy(
            {CallResult.BUSY: RetryRule(timedelta(minutes=2), 4)}, max_attempts=4
        )
        rig.settings = dataclasses.replace(rig.settings, retry=daemon_retry)
        plain = await rig.campaign(make_spec("plain"))
        own = await rig.campaign(
            make_spec("own", retry={"results": {"busy": {"delay": "20m", "max_attempts": 3}}})
        )
        (p,) = await rig.contacts(plain, ["555020001"])
        (o,) = await rig.contacts(own, ["555020002"])
        await rig.agent("a0", AGENTS[0], ("plain",))
        await rig.agent("a1", AGENTS[1], ("own",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await engine.agent_login("a1")
        await until(lambda: len(rig.finished()) == 2)
        assert {f.result for f in rig.finished()} == {CallResult.BUSY}
        now = rig.clock.now()
        contact = await rig.store.get_contact(p)
        assert (contact.status, contact.status_detail) == (Status.OPEN, "$follow_up_auto")
        assert contact.due_at is not None
        assert timedelta(minutes=1) < contact.due_at - now <= timedelta(minutes=2)
        contact = await rig.store.get_contact(o)
        assert contact.due_at is not None
        assert timedelta(minutes=19) < contact.due_at - now <= timedelta(minutes=20)


async def test_a_campaign_without_a_wrapup_limit_gets_the_daemon_engine_wrapup(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        rig.settings = dataclasses.replace(rig.settings, wrapup_seconds=5.0)
        spec = make_spec(
            connect_limit="10s",
            wrapup={"default_status": "declined", "default_detail": "no_time"},
        )
        assert spec.wrapup.limit is None
        camp = await rig.campaign(spec)
        (cid,) = await rig.contacts(camp, live(1))
        await rig.agent("a0", AGENTS[0], ("camp",))
        engine = await rig.start()
        await engine.agent_login("a0")
        await until(lambda: bool(rig.finished()), limit=15)
        done = rig.finished()[0]
        assert (done.status, done.status_detail) == (Status.DECLINED, "no_time")
        (attempt,) = await rig.store.attempts(cid)
        assert attempt.hungup_at is not None
        closed = [h.at for h in await rig.store.history(cid) if h.to_status is Status.DECLINED]
        # the default disposition came [engine] wrapup (5 s) after the call, not 2 minutes
        assert timedelta(seconds=4) <= closed[0] - attempt.hungup_at <= timedelta(seconds=15)


async def test_the_daemon_cap_on_calls_per_number_holds_a_campaign_stored_without_one(
    tmp_path: Path,
) -> None:
    async with rig_at(tmp_path, MONDAY_10_UTC) as rig:
        rig.settings = dataclasses.replace(
            rig.settings, compliance=ComplianceFloor(max_calls_per_day=1)
        )
        # busy again after one minute: the retry policy alone would call it again and again
        camp = await rig.campaign(
            make_spec(retry={"results": {"busy": {"delay": "1m", "max_attempts": 5}}})
        )
        assert camp.settings["dial"].get("max_calls_per_day") is None
        (cid,) = await rig.contacts(camp, ["555020001"])
        await rig.agent("a0", AGENTS[0], ("camp",))
        with structlog.testing.capture_logs() as logs:
            engine = await rig.start()
            await engine.agent_login("a0")
            await until(lambda: bool(rig.finished()), limit=15)
            await rig.wait_clock(180)
        assert rig.finished()[0].result is CallResult.BUSY
        assert rig.dialed() == [cid] and len(await rig.store.attempts(cid)) == 1
        contact = await rig.store.get_contact(cid)
        assert contact.due_at is not None and contact.due_at < rig.clock.now()  # due, yet held
        held = [e for e in logs if e["event"] == HELD]
        assert held[0]["changes"] == ["max calls per number per day set to 1 (daemon [compliance])"]
