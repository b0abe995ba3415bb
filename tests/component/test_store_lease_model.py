"""Leasing against a plain Python model of the rules, on random campaigns (both back ends).

The model is the specification: which contacts are eligible and in what order they are claimed
(personal follow-ups due, never tried, retries by due time; campaign sort within each group).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact, Transition
from dialerd.domain.enums import Status, StatusDetail
from dialerd.store import Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
TTL = timedelta(minutes=5)
PERSONAL = StatusDetail.FOLLOW_UP_PERSONAL.value


@dataclass
class Model:
    id: int
    phone: str
    priority: int | None
    attempts: int = 0
    status: Status = Status.OPEN
    detail: str = "$none"
    due: datetime | None = None
    agent: str | None = None
    pending: bool = False
    leased_until: datetime | None = None
    dnc: bool = False


def eligible(m: Model, agent: str) -> bool:
    return (
        m.status is Status.OPEN
        and not m.pending
        and (m.due is None or m.due <= NOW)
        and (m.leased_until is None or m.leased_until <= NOW)
        and not m.dnc
        and (m.detail != PERSONAL or m.agent is None or m.agent == agent)
    )


def sort_key(m: Model) -> tuple[int, int, int]:
    # priority desc, missing last, then id
    return (m.priority is None, -(m.priority or 0), m.id)


def expected(models: list[Model], agent: str, n: int) -> list[int]:
    ok = [m for m in models if eligible(m, agent)]
    personal = sorted(
        (m for m in ok if m.detail == PERSONAL and m.due is not None),
        key=lambda m: (m.due, *sort_key(m)),
    )
    fresh = sorted((m for m in ok if m.attempts == 0 and m.detail != PERSONAL), key=sort_key)
    retries = sorted(
        (
            m
            for m in ok
            if (m.attempts > 0 and m.detail != PERSONAL) or (m.detail == PERSONAL and m.due is None)
        ),
        key=lambda m: (m.due is not None, m.due or NOW, *sort_key(m)),
    )
    return [m.id for m in personal + fresh + retries][:n]


async def test_lease_matches_the_model(store: Store) -> None:
    rng = random.Random(20260302)
    claimed = 0
    for round_no in range(12):
        spec = CampaignSpec.model_validate(
            {
                "name": f"model-{round_no}",
                "tasks": [{"name": "call", "type": "call"}, {"name": "next", "type": "wait"}],
                "sort": {"field": "priority", "direction": "desc"},
            }
        )
        camp = await store.create_campaign(spec, NOW)
        tasks = {t.name: t.id for t in await store.tasks(camp.id)}
        count = rng.randint(5, 30)
        priorities = [rng.choice([None, 0, 1, 2, 3, 10]) for _ in range(count)]
        ids = await store.add_contacts(
            camp.id,
            [
                NewContact(
                    phone=f"+49{round_no:02}{i:04}",
                    fields={} if p is None else {"priority": p},
                )
                for i, p in enumerate(priorities)
            ],
            NOW,
        )
        models = [
            Model(cid, f"+49{round_no:02}{i:04}", p)
            for i, (cid, p) in enumerate(zip(ids, priorities, strict=True))
        ]
        for m in models:
            kind = rng.choice(["fresh", "fresh", "retry", "personal", "closed", "pending"])
            due = rng.choice([None, NOW - timedelta(minutes=rng.randint(1, 90)), NOW + TTL])
            if kind == "fresh":
                continue
            m.attempts = rng.randint(1, 3)
            if kind == "retry":
                m.detail, m.due = StatusDetail.FOLLOW_UP_AUTO.value, due
            elif kind == "personal":
                m.detail, m.due = PERSONAL, due
                m.agent = rng.choice([None, "alice", "bob"])
            elif kind == "closed":
                m.status, m.detail = Status.SUCCESS, "sale"
            else:
                m.status, m.detail, m.pending = Status.FAILED, "x", True
            for _ in range(m.attempts):
                await store.apply_transition(
                    Transition(
                        contact_id=m.id,
                        actor="model",
                        at=NOW - timedelta(hours=3),
                        task_id=tasks["call"],
                        status=m.status,
                        status_detail=m.detail,
                        due_at=m.due,
                        follow_up_agent=m.agent,
                        pending_task_id=tasks["next"] if m.pending else None,
                        pending_due_at=NOW + timedelta(days=1) if m.pending else None,
                        count_attempt=True,
                    )
                )
        # some numbers on the DNC list, some contacts leased by another runner
        dnc = [m for m in models if rng.random() < 0.1]
        for m in dnc:
            m.dnc = True
        await store.add_dnc([m.phone for m in dnc], "model", NOW - timedelta(hours=2))
        for m in dnc:  # adding closes open call contacts as failed/$dnc
            if m.status is Status.OPEN and not m.pending:
                m.status, m.detail, m.due, m.agent = Status.FAILED, "$dnc", None, None
        early = NOW - TTL - timedelta(minutes=rng.choice([-10, 1]))
        other = await store.lease(
            camp.id, rng.randint(0, 3), "other", TTL, early, any_personal=True
        )
        for c in other:
            next(m for m in models if m.id == c.id).leased_until = early + TTL
        n = rng.randint(1, count)
        got = await store.lease(camp.id, n, "me", TTL, NOW, agent="alice")
        assert [c.id for c in got] == expected(models, "alice", n), f"round {round_no}"
        claimed += len(got)
    assert claimed > 40, "the random campaigns hardly exercised leasing"
