"""The task runner on a real store: leasing, outcomes through the taskflow, webhooks over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tasks_testkit import HttpRecorder, http_server

from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.domain.changes import NewContact
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import Status, StatusDetail
from dialerd.domain.model import Campaign
from dialerd.domain.selection import ContactSelection
from dialerd.engine.tasks import TaskRunner
from dialerd.store import Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET = "hook-secret"


def spec(hook: dict[str, Any], **extra_tasks: dict[str, Any]) -> CampaignSpec:
    tasks = [
        {"name": "hook", "type": "webhook", "settings": hook},
        {"name": "after", "type": "wait"},
        {"name": "review", "type": "wait"},
    ]
    tasks += [{"name": n, **t} for n, t in extra_tasks.items()]
    return CampaignSpec.model_validate(
        {
            "name": "flow",
            "tasks": tasks,
            "start_task": "hook",
            "rules": [
                {"from": "hook", "status": "success", "to": "after"},
                {"from": "hook", "status": "failed", "to": "review"},
            ],
        }
    )


async def setup(store: Store, s: CampaignSpec, n: int = 3) -> tuple[Campaign, list[int]]:
    camp = await store.create_campaign(s, NOW)
    ids = await store.add_contacts(
        camp.id,
        [
            NewContact(phone=f"+4930123{i:04d}", first_name=f"C{i}", external_id=f"x{i}")
            for i in range(n)
        ],
        NOW,
    )
    return camp, ids


async def where(store: Store, camp: Campaign, cid: int) -> tuple[str, Status, str]:
    names = {t.id: t.name for t in await store.tasks(camp.id)}
    c = await store.get_contact(cid)
    return names[c.task_id], c.status, c.status_detail


def hook(url: str, **over: Any) -> dict[str, Any]:
    return {"url": url + "/crm", "secret": SECRET, "retry_delay": "30s", **over}


async def test_webhook_posts_signed_json_and_moves_contacts_on(store: Store) -> None:
    rec = HttpRecorder(replies=[(200, {"fields": {"crm_id": "A-1"}, "status_detail": "created"})])
    clock = ManualClock(NOW)
    async with http_server(rec) as url:
        camp, ids = await setup(store, spec(hook(url)))
        runner = TaskRunner(store, camp.id, clock, holder="t1")
        assert await runner.run_once() == 3
    assert len(rec.requests) == 3
    for req in rec.requests:
        want = "sha256=" + hmac.new(SECRET.encode(), req.body, hashlib.sha256).hexdigest()
        assert req.headers["x-dialerd-signature"] == want
        assert req.path == "/crm"
    body = rec.requests[0].json()
    assert body["campaign"] == "flow" and body["task"] == "hook"
    assert body["contact"]["external_id"] in {"x0", "x1", "x2"}
    assert body["last_attempt"] is None and isinstance(body["history"], list)
    assert body["sent_at"] == NOW.isoformat().replace("+00:00", "Z")  # one form everywhere
    assert body["contact"]["created_at"].endswith("Z")
    for cid in ids:
        assert await where(store, camp, cid) == ("after", Status.OPEN, StatusDetail.NONE.value)
        c = await store.get_contact(cid)
        assert c.fields["crm_id"] == "A-1" and c.lease_holder is None
    history = await store.history(ids[0])
    assert any(h.to_status is Status.SUCCESS and h.to_detail == "created" for h in history)
    assert await runner.run_once() == 0  # "after" is a sink: nothing more to do


async def test_webhook_retries_with_backoff_then_succeeds_or_fails(store: Store) -> None:
    rec = HttpRecorder(replies=[(500, {"e": 1}), (503, None), (200, None)])
    clock = ManualClock(NOW)
    async with http_server(rec) as url:
        camp, (cid,) = await setup(store, spec(hook(url, max_attempts=5)), n=1)
        runner = TaskRunner(store, camp.id, clock, holder="t1")
        await runner.run_once()
        c = await store.get_contact(cid)
        assert (c.status, c.status_detail, c.attempts) == (Status.OPEN, "$follow_up_auto", 1)
        assert c.due_at == NOW + timedelta(seconds=30)
        await runner.run_once()
        assert len(rec.requests) == 1  # not due yet: nothing sent
        clock.advance(30)
        await runner.run_once()
        c = await store.get_contact(cid)
        assert c.due_at == clock.now() + timedelta(seconds=60)  # doubled
        clock.advance(60)
        await runner.run_once()
    assert len(rec.requests) == 3
    assert (await where(store, camp, cid))[0] == "after"


async def test_webhook_client_error_fails_at_once_with_the_reason(store: Store) -> None:
    rec = HttpRecorder(replies=[(400, {"error": "unknown customer"})])
    async with http_server(rec) as url:
        camp, (cid,) = await setup(store, spec(hook(url)), n=1)
        await TaskRunner(store, camp.id, ManualClock(NOW), holder="t1").run_once()
    assert await where(store, camp, cid) == ("review", Status.OPEN, StatusDetail.NONE.value)
    history = await store.history(cid)
    failed = next(h for h in history if h.to_status is Status.FAILED)
    assert failed.to_detail == "http_400" and "unknown customer" in (failed.note or "")


async def test_unreachable_webhook_fails_after_the_retries(store: Store) -> None:
    rec = HttpRecorder()
    async with http_server(rec) as url:
        pass  # closed again: nothing listens on that port now
    clock = ManualClock(NOW)
    camp, (cid,) = await setup(store, spec(hook(url, max_attempts=2, timeout="2s")), n=1)
    runner = TaskRunner(store, camp.id, clock, holder="t1")
    await runner.run_once()
    clock.advance(30)
    await runner.run_once()
    assert (await where(store, camp, cid))[0] == "review"
    failed = next(h for h in await store.history(cid) if h.to_status is Status.FAILED)
    assert failed.to_detail == "http_unreachable" and "after 2 attempt" in (failed.note or "")


async def test_two_runners_never_send_one_contact_twice(store: Store) -> None:
    rec = HttpRecorder(delay=0.05)
    clock = ManualClock(NOW)
    async with http_server(rec) as url:
        camp, ids = await setup(store, spec(hook(url)), n=12)
        a = TaskRunner(store, camp.id, clock, holder="daemon-a")
        b = TaskRunner(store, camp.id, clock, holder="daemon-b")
        done = await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    assert sum(done) == 12
    sent = [r.json()["contact"]["id"] for r in rec.requests]
    assert sorted(sent) == sorted(ids)


async def test_bad_settings_touch_no_contact_and_say_why(store: Store, tmp_path: Path) -> None:
    camp, ids = await setup(
        store,
        spec(
            hook("http://127.0.0.1:9"),
            mail={"type": "email", "settings": {"from": "a@b", "subject": "{% if", "body": "x"}},
        ),
    )
    await store.move(camp.id, _select(ids), "mail", "test", NOW)
    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t1")
    assert await runner.run_once() == 0
    assert "tasks.mail.settings.subject: bad template" in runner.errors["mail"]
    for cid in ids:
        c = await store.get_contact(cid)
        assert (c.status, c.lease_holder) == (Status.OPEN, None)


async def test_a_batch_that_cannot_be_written_keeps_its_contacts_open(
    store: Store, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    camp, ids = await setup(
        store,
        spec(
            hook("http://127.0.0.1:9"),
            out={"type": "export", "settings": {"folder": str(blocker / "sub")}},
        ),
    )
    await store.move(camp.id, _select(ids), "out", "test", NOW)
    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t1")
    assert await runner.run_once() == 0
    assert "export folder" in runner.errors["out"]
    for cid in ids:
        c = await store.get_contact(cid)
        assert (c.status, c.lease_holder) == (Status.OPEN, None)
    blocker.unlink()
    blocker.mkdir()
    assert await runner.run_once() == 3
    assert len(list((blocker / "sub").glob("*.csv"))) == 1


async def test_wait_then_promote_a_delayed_rule(store: Store) -> None:
    s = CampaignSpec.model_validate(
        {
            "name": "w",
            "tasks": [
                {"name": "pause", "type": "wait", "settings": {"duration": "1h"}},
                {"name": "next", "type": "wait"},
            ],
            "rules": [{"from": "pause", "status": "success", "to": "next", "delay": "10m"}],
        }
    )
    camp = await store.create_campaign(s, NOW)
    [cid] = await store.add_contacts(camp.id, [NewContact(email="a@b.test")], NOW)
    clock = ManualClock(NOW)
    runner = TaskRunner(store, camp.id, clock, holder="t1")
    await runner.run_once()
    assert (await store.get_contact(cid)).due_at == NOW + timedelta(hours=1)
    clock.advance(3600)
    await runner.run_once()
    c = await store.get_contact(cid)
    assert c.status is Status.SUCCESS and c.pending_due_at == clock.now() + timedelta(minutes=10)
    clock.advance(600)
    await runner.run_once()
    assert await where(store, camp, cid) == ("next", Status.OPEN, StatusDetail.NONE.value)


def _select(ids: list[int]) -> Any:
    from dialerd.domain.selection import ContactSelection

    return ContactSelection(contact_ids=tuple(ids))


async def test_scheduled_export_runs_at_most_every_interval_or_on_demand(
    store: Store, tmp_path: Path
) -> None:
    out_dir = tmp_path / "exports"
    s = CampaignSpec.model_validate(
        {
            "name": "ex",
            "tasks": [
                {
                    "name": "out",
                    "type": "export",
                    "settings": {"folder": str(out_dir), "format": "xlsx", "every": "1h"},
                }
            ],
        }
    )
    camp = await store.create_campaign(s, NOW)
    clock = ManualClock(NOW)
    runner = TaskRunner(store, camp.id, clock, holder="t1")
    await store.add_contacts(camp.id, [NewContact(phone="+49301111111")], NOW)
    assert await runner.run_once() == 1
    await store.add_contacts(camp.id, [NewContact(phone="+49302222222")], NOW)
    clock.advance(600)
    assert await runner.run_once() == 0  # the next export is due in 50 minutes
    assert await runner.export_now("out") == 1  # unless asked for now
    await store.add_contacts(camp.id, [NewContact(phone="+49303333333")], NOW)
    clock.advance(3600)
    assert await runner.run_once() == 1
    assert len(list(out_dir.glob("*.xlsx"))) == 3


async def test_a_slow_webhook_times_out_and_is_retried(store: Store) -> None:
    rec = HttpRecorder(delay=1.0)
    async with http_server(rec) as url:
        camp, (cid,) = await setup(store, spec(hook(url, timeout="0.3s")), n=1)
        await TaskRunner(store, camp.id, ManualClock(NOW), holder="t1").run_once()
    c = await store.get_contact(cid)
    assert (c.status, c.status_detail, c.attempts) == (Status.OPEN, "$follow_up_auto", 1)
    note = (await store.history(cid))[-1].note or ""
    assert "timed out" in note


async def test_a_crash_mid_batch_sends_again_only_the_delivery_in_flight(store: Store) -> None:
    """Deliveries are stored as they are made; a restarted daemon takes its task leases back
    at once. So a crash (here: the runner cancelled mid-batch, leases left as a kill -9 leaves
    them) costs one resend, with the same delivery id, not the whole batch after 10 minutes."""
    from dialerd.engine.tasks import TaskService

    rec = HttpRecorder(delay=0.2)
    clock = ManualClock(NOW)  # never advanced: no lease expires by itself
    async with http_server(rec) as url:
        camp, ids = await setup(store, spec(hook(url, concurrency=1)), n=5)
        crashed = asyncio.create_task(
            TaskRunner(store, camp.id, clock, holder="node/tasks").run_once()
        )
        while len(rec.requests) < 3:  # noqa: ASYNC110 (two answered and stored, a third sent)
            await asyncio.sleep(0.01)
        crashed.cancel()
        await asyncio.gather(crashed, return_exceptions=True)
        done = [cid for cid in ids if (await where(store, camp, cid))[0] == "after"]
        assert len(done) == 2

        service = asyncio.create_task(TaskService(store, clock, holder="node").run())
        try:
            for _ in range(500):
                places = {(await where(store, camp, cid))[0] for cid in ids}
                if places == {"after"}:
                    break
                await asyncio.sleep(0.02)
            assert places == {"after"}
        finally:
            service.cancel()
            await asyncio.gather(service, return_exceptions=True)
    deliveries = [r.headers["x-dialerd-delivery"] for r in rec.requests]
    assert len(deliveries) == 6  # five contacts, one of them sent twice
    [(twice, n)] = [(d, deliveries.count(d)) for d in set(deliveries) if deliveries.count(d) > 1]
    assert n == 2 and twice.startswith("flow/hook/")
    assert {r.json()["delivery"] for r in rec.requests} == set(deliveries)


async def test_a_slow_webhook_does_not_hold_up_the_other_tasks(store: Store) -> None:
    """A CRM answering in 1 s a request (3 contacts, one at a time): the wait task's contacts
    go on meanwhile instead of after the webhook's whole batch."""
    from dialerd.domain.clock import ScaledClock

    rec = HttpRecorder(delay=1.0)
    async with http_server(rec) as url:
        s = spec(hook(url, concurrency=1), pause={"type": "wait", "settings": {"duration": "1s"}})
        camp, ids = await setup(store, s, n=6)
        await store.move(camp.id, ContactSelection(contact_ids=tuple(ids[3:])), "pause", "t", NOW)
        runner = TaskRunner(store, camp.id, ScaledClock(10.0, start=NOW), holder="t1")
        running = asyncio.create_task(runner.run())
        try:
            for _ in range(100):
                paused = [await where(store, camp, cid) for cid in ids[3:]]
                if all(p[1] is Status.SUCCESS for p in paused):
                    break
                await asyncio.sleep(0.02)
            assert all(p[1] is Status.SUCCESS for p in paused), paused
            assert len(rec.requests) <= 2  # the webhook's batch is still under way
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


async def test_a_webhook_answer_is_checked_as_a_client_body_is(store: Store) -> None:
    """The receiver's fields and status_detail are stored only when the API would store them:
    a NaN or a name with a slash would break the campaign's later reads, a detail of 150
    characters a PostgreSQL write."""
    answer = {
        "fields": {"crm_id": "A-1", "score": float("nan"), "a/b": 1},
        "status_detail": "x" * 150,
    }
    rec = HttpRecorder(replies=[(200, answer)])
    async with http_server(rec) as url:
        camp, (cid,) = await setup(store, spec(hook(url)), n=1)
        assert await TaskRunner(store, camp.id, ManualClock(NOW), holder="t1").run_once() == 1
    c = await store.get_contact(cid)
    assert c.fields == {"crm_id": "A-1"}
    assert await where(store, camp, cid) == ("after", Status.OPEN, StatusDetail.NONE.value)
    assert all(h.to_detail != "x" * 150 for h in await store.history(cid))
    # the campaign's contacts still read (a NaN in the JSON column broke this)
    assert len(await store.find_contacts(camp.id)) == 1


async def test_each_pass_through_a_webhook_task_is_a_new_delivery(store: Store) -> None:
    """webhook -> wait -> webhook: the task's attempts restart on each entry, so the second
    pass repeated the first one's delivery id and a receiver taking each id once dropped a
    real event. A retry within a pass still gets a new id; a manual move back in too."""
    rec = HttpRecorder(replies=[(200, {"fields": {"crm_id": "A"}}), (500, None), (200, None)])
    clock = ManualClock(NOW)
    s = CampaignSpec.model_validate(
        {
            "name": "flow",
            "tasks": [
                {"name": "hook", "type": "webhook", "settings": {"url": "x"}},
                {"name": "pause", "type": "wait", "settings": {"duration": "1m"}},
            ],
            "start_task": "hook",
            "rules": [
                {"from": "hook", "status": "success", "to": "pause"},
                {"from": "pause", "status": "success", "to": "hook"},
            ],
        }
    )
    async with http_server(rec) as url:
        s.tasks[0].settings["url"] = url + "/crm"
        s.tasks[0].settings["retry_delay"] = "30s"
        camp, (cid,) = await setup(store, s, n=1)
        runner = TaskRunner(store, camp.id, clock, holder="t1")
        # first pass: delivered (200) -> pause (1 min) -> hook again; second pass: 500, then
        # the retry delivered
        for _ in range(20):
            await runner.run_once()
            if len(rec.requests) == 3:
                break
            clock.advance(31)
        assert len(rec.requests) == 3
        assert (await where(store, camp, cid))[0] == "pause"
        # moved back into the hook by hand: a third pass
        await store.move(camp.id, ContactSelection(contact_ids=(cid,)), "hook", "t", clock.now())
        await runner.run_once()
    deliveries = [r.headers["x-dialerd-delivery"] for r in rec.requests]
    assert len(deliveries) == 4, deliveries
    assert len(set(deliveries)) == 4, deliveries
    assert all(d.startswith(f"flow/hook/{cid}/") for d in deliveries)
    assert [r.json()["delivery"] for r in rec.requests] == deliveries


async def test_an_export_writes_its_outcomes_a_thousand_to_a_transaction(
    store: Store, tmp_path: Path
) -> None:
    """The export task wrote each contact's outcome in a transaction of its own: 2,500
    commits for a file of 2,500 contacts. Now 1,000 to a transaction; a contact gone
    meanwhile (deleted while the file was written) is left out of its batch, the others of
    that batch are written."""
    from sqlalchemy import event, text

    from dialerd.taskflow.tasks import build_executor

    n = 2500
    s = CampaignSpec.model_validate(
        {
            "name": "ex",
            "tasks": [
                {"name": "out", "type": "export", "settings": {"folder": str(tmp_path)}},
                {"name": "done", "type": "wait"},
            ],
            "rules": [{"from": "out", "status": "success", "to": "done"}],
        }
    )
    camp = await store.create_campaign(s, NOW)
    ids = await store.add_contacts(
        camp.id, [NewContact(phone=f"+4930{1000000 + i}") for i in range(n)], NOW
    )
    gone = ids[1500]

    def factory(task: Any, campaign: str, clock: Any) -> Any:
        executor = build_executor(task, campaign, clock)
        assert executor is not None
        write = executor.execute

        async def execute(items: Any, now: datetime, record: Any = None) -> Any:
            out = await write(items, now, record)
            async with store.engine.begin() as conn:
                await conn.execute(text("DELETE FROM contacts WHERE id = :i"), {"i": gone})
            return out

        executor.execute = execute  # type: ignore[method-assign]
        return executor

    commits = 0

    def count(conn: Any) -> None:
        nonlocal commits
        commits += 1

    runner = TaskRunner(store, camp.id, ManualClock(NOW), holder="t1", factory=factory)
    event.listen(store.engine.sync_engine, "commit", count)
    try:
        assert await runner.export_now("out") == n - 1
    finally:
        event.remove(store.engine.sync_engine, "commit", count)
    assert commits <= 10, commits  # the lease, the deletion, three batches (2,501 before)
    files = await asyncio.to_thread(
        lambda: [p.read_text(encoding="utf-8-sig") for p in tmp_path.glob("*.csv")]
    )
    assert [f.count("\n") for f in files] == [n + 1]  # one file, every contact in it
    for cid in (ids[0], ids[999], ids[1000], ids[1499], ids[1501], ids[-1]):
        c = await store.get_contact(cid)
        assert (c.status, c.lease_holder) == (Status.OPEN, None)
        assert await where(store, camp, cid) == ("done", Status.OPEN, StatusDetail.NONE.value)
        history = await store.history(cid)
        assert [h.actor for h in history][-2:] == ["task:out", "taskflow"]
