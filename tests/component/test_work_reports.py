"""Report aggregation in SQL on both back ends: totals, groups, per day, date ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dialerd.domain import campaign_spec as cs
from dialerd.domain.agentwork import ReportFilter, ResultClass
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import CallResult
from dialerd.domain.model import Attempt
from dialerd.store import Store
from dialerd.store import agentwork as work

D1 = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # late on day 1: must not slip into day 2
D2 = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)


async def _call(
    store: Store,
    n: int,
    camp: int,
    task: int,
    contact: int,
    agent: str | None,
    at: datetime,
    result: CallResult,
    talk: int = 0,
) -> None:
    answered = at + timedelta(seconds=5) if result.live_answer else None
    await store.record_attempt(
        Attempt(
            f"a{n}",
            camp,
            contact,
            task,
            "+493012345",
            agent=agent,
            originated_at=at,
            answered_at=answered,
            connected_at=answered if result is CallResult.CONNECTED else None,
            hungup_at=at + timedelta(seconds=5 + talk),
            result=result,
        )
    )


async def test_report_groups_and_date_ranges(store: Store) -> None:
    specs = [
        cs.CampaignSpec.model_validate({"name": n, "tasks": [{"name": "call", "type": "call"}]})
        for n in ("sales", "survey")
    ]
    sales = await store.create_campaign(specs[0], D1)
    survey = await store.create_campaign(specs[1], D1)
    st = (await store.tasks(sales.id))[0].id
    vt = (await store.tasks(survey.id))[0].id
    a, b = await store.add_contacts(sales.id, [NewContact(phone="+1"), NewContact(phone="+2")], D1)
    (c,) = await store.add_contacts(survey.id, [NewContact(phone="+3")], D1)
    await _call(store, 1, sales.id, st, a, "anna", D1, CallResult.CONNECTED, talk=60)
    await _call(
        store, 2, sales.id, st, a, "anna", D1 + timedelta(minutes=2), CallResult.CONNECTED, talk=30
    )  # same contact: reached once
    await _call(store, 3, sales.id, st, b, None, D1, CallResult.ABANDONED)
    await _call(store, 4, survey.id, vt, c, "ben", D2, CallResult.CONNECTED, talk=100)
    await _call(store, 5, survey.id, vt, c, None, D2, CallResult.NO_ANSWER)
    await work.add_note(
        store, a, "anna", D1, text="sold", close=True, result_class=ResultClass.POSITIVE
    )
    await work.add_note(store, c, "ben", D2, text="no", result_class=ResultClass.NEGATIVE)

    r = await work.report(store, ReportFilter())
    assert (r.totals.calls, r.totals.contacts_reached, r.totals.closed_leads) == (5, 2, 1)
    assert r.per_agent["anna"].calls == 2 and r.per_agent["anna"].contacts_reached == 1
    assert r.per_agent["anna"].closed_leads == 1 and r.per_agent["ben"].closed_leads == 0
    assert {k: v.calls for k, v in r.per_campaign.items()} == {"sales": 3, "survey": 2}
    assert r.per_result_class[ResultClass.POSITIVE] == 1
    assert r.per_result_class[ResultClass.NEGATIVE] == 1
    days = {d.day: d for d in r.per_day}
    assert set(days) == {date(2026, 3, 2), date(2026, 3, 3)}
    d1 = days[date(2026, 3, 2)]
    assert (d1.calls, d1.live_answers, d1.abandoned) == (3, 3, 1)
    assert abs(d1.abandonment_rate - 1 / 3) < 1e-9
    assert 0.0 < d1.occupancy <= 1.0

    day2 = ReportFilter(
        start=datetime(2026, 3, 3, tzinfo=UTC), end=datetime(2026, 3, 4, tzinfo=UTC)
    )
    r2 = await work.report(store, day2)
    assert (r2.totals.calls, r2.totals.closed_leads) == (2, 0)
    assert r2.per_result_class[ResultClass.POSITIVE] == 0
    assert [d.day for d in r2.per_day] == [date(2026, 3, 3)]
    only = await work.report(store, ReportFilter(campaign_id=sales.id, agent="anna"))
    assert (only.totals.calls, only.totals.closed_leads) == (2, 1)
    assert list(only.per_campaign) == ["sales"]
