"""Executors of non-call tasks without a database: settings, retries, wait, export files."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from dialerd.ami.events import NewChannel
from dialerd.ami.inbound import InboundDetector
from dialerd.domain.clock import ManualClock
from dialerd.domain.enums import Status, StatusDetail, TaskType
from dialerd.domain.model import Contact, Task
from dialerd.taskflow.tasks import TaskConfigError, TaskItem, build_executor
from dialerd.taskflow.tasks.base import DeliveryRetry
from dialerd.taskflow.tasks.export import ExportExecutor
from dialerd.taskflow.tasks.settings import WebhookSettings, parse_settings
from dialerd.taskflow.tasks.wait import WaitExecutor
from dialerd.taskflow.tasks.webhook import WebhookExecutor, sign

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def contact(cid: int = 1, **over: Any) -> Contact:
    data: dict[str, Any] = {
        "id": cid,
        "campaign_id": 1,
        "task_id": 2,
        "status": Status.OPEN,
        "status_detail": StatusDetail.NONE.value,
        "phone": f"+49301234{cid:03d}",
        "first_name": "Erika",
        "last_name": f"Muster{cid}",
        "email": f"erika{cid}@example.test",
        "fields": {"plan": "gold"},
    }
    data.update(over)
    return Contact(**data)


def task(kind: TaskType, settings: dict[str, Any], name: str = "t") -> Task:
    return Task(id=2, campaign_id=1, name=name, type=kind, settings=settings)


def item(c: Contact) -> TaskItem:
    return TaskItem(c, "camp", "t")


# -- settings ---------------------------------------------------------------------------------


def test_bad_template_is_a_config_error_naming_the_key() -> None:
    settings = {"from": "a@b.test", "subject": "Hi {{ first_name", "body": "x"}
    with pytest.raises(TaskConfigError, match=r"camp: tasks\.mail\.settings\.subject: bad templ"):
        build_executor(task(TaskType.EMAIL, settings, "mail"), "camp")


def test_unknown_key_and_bad_url_are_named() -> None:
    with pytest.raises(TaskConfigError, match=r"tasks\.hook\.settings\.uri: unknown key"):
        build_executor(task(TaskType.WEBHOOK, {"url": "http://x", "uri": "y"}, "hook"))
    with pytest.raises(TaskConfigError, match="must start with http"):
        build_executor(task(TaskType.WEBHOOK, {"url": "ftp://x"}, "hook"))


def test_missing_secret_env_is_reported_without_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIALERD_TEST_NO_SUCH", raising=False)
    with pytest.raises(TaskConfigError, match="DIALERD_TEST_NO_SUCH is not set"):
        build_executor(
            task(TaskType.WEBHOOK, {"url": "http://x", "secret_env": "DIALERD_TEST_NO_SUCH"})
        )
    monkeypatch.setenv("DIALERD_TEST_HOOK", "s3cret")
    hook = build_executor(
        task(TaskType.WEBHOOK, {"url": "http://x", "secret_env": "DIALERD_TEST_HOOK"})
    )
    assert isinstance(hook, WebhookExecutor)


def test_sink_tasks_have_no_executor() -> None:
    """An export without a folder (on demand) and a wait without a time hold their contacts."""
    assert build_executor(task(TaskType.EXPORT, {})) is None
    assert build_executor(task(TaskType.WAIT, {})) is None
    with pytest.raises(TaskConfigError, match="not both"):
        build_executor(task(TaskType.WAIT, {"duration": "1h", "until_field": "x"}))
    with pytest.raises(TaskConfigError, match="needs a letter"):
        build_executor(task(TaskType.EXPORT, {"folder": "/tmp", "format": "pdf"}))


# -- retries ----------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    r = DeliveryRetry(10, timedelta(seconds=30), timedelta(minutes=5))
    assert [r.backoff(n).total_seconds() for n in range(6)] == [30, 60, 120, 240, 300, 300]


def test_failure_retries_then_fails_with_the_reason() -> None:
    r = DeliveryRetry(3, timedelta(seconds=30), timedelta(minutes=5))
    first = r.after_failure(
        contact(), NOW, reason="SMTP 451 busy", detail="smtp_451", permanent=False
    )
    assert first.outcome.status is Status.OPEN
    assert first.outcome.status_detail == StatusDetail.FOLLOW_UP_AUTO.value
    assert first.outcome.due_at == NOW + timedelta(seconds=30)
    assert first.count_attempt
    last = r.after_failure(
        contact(attempts=2), NOW, reason="SMTP 451 busy", detail="smtp_451", permanent=False
    )
    assert (last.outcome.status, last.outcome.status_detail) == (Status.FAILED, "smtp_451")
    assert "SMTP 451 busy" in (last.outcome.note or "")
    now_fail = r.after_failure(contact(), NOW, reason="550 no", detail="smtp_550", permanent=True)
    assert now_fail.outcome.status is Status.FAILED


@given(attempts=st.integers(0, 200), base=st.integers(1, 3600), cap=st.integers(1, 86400))
def test_backoff_never_exceeds_the_cap(attempts: int, base: int, cap: int) -> None:
    r = DeliveryRetry(5, timedelta(seconds=base), timedelta(seconds=cap))
    assert timedelta(0) < r.backoff(attempts) <= timedelta(seconds=max(cap, 0))


# -- wait -------------------------------------------------------------------------------------


async def test_wait_parks_for_the_duration_then_succeeds() -> None:
    w = build_executor(task(TaskType.WAIT, {"duration": "2h"}))
    assert isinstance(w, WaitExecutor)
    [parked] = await w.execute([item(contact())], NOW)
    assert parked.status is Status.OPEN and parked.outcome.due_at == NOW + timedelta(hours=2)
    later = NOW + timedelta(hours=2)
    [done] = await w.execute([item(contact(due_at=later))], later)
    assert done.status is Status.SUCCESS


async def test_wait_until_a_date_field_in_the_contacts_zone() -> None:
    w = build_executor(task(TaskType.WAIT, {"until_field": "renewal"}))
    assert w is not None
    future = contact(fields={"renewal": "2026-04-01"}, timezone="Europe/Berlin")
    past = contact(2, fields={"renewal": "01.01.2026"})
    missing = contact(3, fields={})
    garbage = contact(4, fields={"renewal": "soon"})
    out = await w.execute([item(c) for c in (future, past, missing, garbage)], NOW)
    assert out[0].status is Status.OPEN
    assert out[0].outcome.due_at == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)
    assert out[1].status is Status.SUCCESS
    assert out[2].status is Status.FAILED and "renewal" in (out[2].outcome.note or "")
    assert out[3].status is Status.FAILED and "not a date" in (out[3].outcome.note or "")


# -- export -----------------------------------------------------------------------------------


async def test_export_csv_and_xlsx_read_back(tmp_path: Path) -> None:
    columns = ["id", "first_name", "last_name", "phone", "fields.plan"]
    items = [item(contact(i)) for i in (1, 2, 3)]
    csv_exp = build_executor(
        task(TaskType.EXPORT, {"folder": str(tmp_path), "format": "csv", "columns": columns})
    )
    assert isinstance(csv_exp, ExportExecutor)
    out = await csv_exp.execute(items, NOW)
    assert [o.status for o in out] == [Status.SUCCESS] * 3
    [path] = csv_exp.written
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    assert rows[0] == columns
    assert rows[1:] == [
        [str(i), "Erika", f"Muster{i}", f"+49301234{i:03d}", "gold"] for i in (1, 2, 3)
    ]

    xlsx_exp = build_executor(
        task(TaskType.EXPORT, {"path": str(tmp_path / "out" / "won.xlsx"), "columns": columns})
    )
    assert isinstance(xlsx_exp, ExportExecutor)
    await xlsx_exp.execute(items, NOW)
    [xpath] = xlsx_exp.written
    assert xpath.parent == tmp_path / "out" and xpath.name.startswith("won-")
    ws = load_workbook(xpath, read_only=True).active
    values = [list(r) for r in ws.iter_rows(values_only=True)]
    assert values[0] == columns and values[3][2] == "Muster3" and len(values) == 4
    assert not list((tmp_path / "out").glob(".*.part"))


def test_xlsx_export_keeps_a_value_that_begins_with_equals_as_text(tmp_path: Path) -> None:
    """A contact's data is written as data: a name ``=1+1`` or an imported ``=HYPERLINK(...)``
    is text in the XLSX, not a formula a spreadsheet would calculate or follow."""
    from dialerd.taskflow.tasks.export import XlsxTable

    risky = ["=1+1", '=HYPERLINK("http://127.0.0.1/x","click")']
    table = XlsxTable(["id", "first_name", "fields.plan"])
    table.add([contact(1, first_name=risky[0], fields={"plan": risky[1]}), contact(2)])
    path = tmp_path / "c.xlsx"
    table.save(path)
    ws = load_workbook(path).active
    assert ws is not None
    cells = [ws.cell(row=2, column=2), ws.cell(row=2, column=3)]
    assert [c.value for c in cells] == risky
    assert [c.data_type for c in cells] == ["s", "s"]
    assert ws.cell(row=3, column=3).value == "gold"


async def test_export_to_an_unwritable_folder_raises_for_the_batch(tmp_path: Path) -> None:
    from dialerd.taskflow.tasks import TaskRunError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    exp = build_executor(task(TaskType.EXPORT, {"folder": str(blocker / "sub")}))
    assert exp is not None
    with pytest.raises(TaskRunError, match="export folder"):
        await exp.execute([item(contact())], NOW)


# -- webhook payload and signature ------------------------------------------------------------


def test_signature_is_hmac_sha256_of_the_body() -> None:
    import hashlib
    import hmac

    body = b'{"a":1}'
    assert sign("k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


# -- inbound detection ------------------------------------------------------------------------


def _newchannel(uid: str, exten: str, caller: str | None = "+4917012345", **kw: Any) -> NewChannel:
    return NewChannel(
        uid,
        kw.get("linkedid", uid),
        kw.get("channel", "PJSIP/trunk-0001"),
        "Ring",
        caller_id_num=caller,
        context=kw.get("context", "from-trunk"),
        exten=exten,
    )


def test_inbound_detector_matches_dids_once_per_call() -> None:
    d = InboundDetector(["+49 30 901820"], clock=ManualClock(NOW))
    call = d.handle(_newchannel("u1", "4930901820"))
    assert call is not None and call.did == "+49 30 901820" and call.caller == "+4917012345"
    assert d.handle(_newchannel("u2", "4930901820", linkedid="u1")) is None  # same call
    assert d.handle(_newchannel("u3", "030901820")) is not None  # national form of the DID
    assert d.handle(_newchannel("u4", "12345")) is None
    assert d.handle(_newchannel("u5", "4930901820", channel="Local/x@sim-callees-1;1")) is None
    ctx = InboundDetector(["4930901820"], context="from-pstn", clock=ManualClock(NOW))
    assert ctx.handle(_newchannel("u6", "4930901820")) is None


async def test_export_for_download_gives_the_file_bytes(tmp_path: Path) -> None:
    from dialerd.taskflow.tasks.export import CsvTable, write_export

    async def pages(*batches: list[Contact]) -> Any:
        for batch in batches:
            yield batch

    table = CsvTable(["id", "last_name", "fields.plan"])
    data = table.head() + table.rows([contact(1)]) + table.rows([contact(2)])
    text = data.decode("utf-8-sig").splitlines()
    assert text == ["id;last_name;fields.plan", "1;Muster1;gold", "2;Muster2;gold"]
    target = tmp_path / "x.csv"
    assert await write_export(target, pages([contact(1)], [contact(2)]), table.columns, "csv") == 2
    assert target.read_bytes() == data
    target = tmp_path / "x.xlsx"
    assert await write_export(target, pages([contact(3)]), ["id", "phone"], "xlsx") == 1
    ws = load_workbook(target, read_only=True).active
    assert [list(r) for r in ws.iter_rows(values_only=True)] == [
        ["id", "phone"],
        [3, "+49301234003"],
    ]
    with pytest.raises(ValueError, match="csv or xlsx"):
        await write_export(tmp_path / "x.pdf", pages(), ["id"], "pdf")


def test_shipped_campaigns_have_valid_task_settings() -> None:
    from dialerd.domain.campaign_spec import load_campaign_spec
    from dialerd.taskflow.tasks import check_tasks

    config = Path(__file__).resolve().parents[2] / "config" / "campaigns"
    for path in sorted(config.glob("*.toml")):
        assert check_tasks(load_campaign_spec(path)) == [], path.name
    flow = load_campaign_spec(config / "followup-flow.toml")
    assert any("DIALERD_SMTP_PASSWORD" in p for p in check_tasks(flow, secrets=True))


@given(nsn=st.from_regex(r"[1-9][0-9]{6,10}", fullmatch=True), uid=st.uuids())
def test_a_did_matches_in_every_form_a_trunk_delivers_it(nsn: str, uid: object) -> None:
    d = InboundDetector([f"+49{nsn}"], clock=ManualClock(NOW))
    for i, form in enumerate((f"49{nsn}", f"0049{nsn}", f"0{nsn}", f"+49{nsn}")):
        call = d.handle(_newchannel(f"{uid}-{i}", form))
        assert call is not None and call.did == f"+49{nsn}"
    assert d.handle(_newchannel(f"{uid}-x", f"49{nsn}1")) is None  # one digit more: not ours


def test_file_names_keep_the_base_letters_of_a_name_and_stay_in_their_folder() -> None:
    from dialerd.taskflow.tasks.export import safe_name

    assert safe_name("letter-66-Müller") == "letter-66-Muller"  # it was letter-66-M_ller
    assert safe_name("Groß Weiß") == "Gross_Weiss"
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("日本") == "export"


async def test_each_webhook_post_carries_the_time_it_is_sent() -> None:
    """Behind a slow receiver a batch takes minutes: each POST's ``sent_at`` is the clock's
    time when that POST is made (it was the batch's start for all of them); a resend keeps
    its delivery id."""
    clock = ManualClock(NOW)
    bodies: list[dict[str, Any]] = []

    def slow_receiver(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        clock.advance(30)  # each answer takes 30 s
        return httpx.Response(200)

    settings = {"url": "http://127.0.0.1:9/hook", "concurrency": 1}
    hook = WebhookExecutor(
        parse_settings(WebhookSettings, settings, "t"),
        "tasks.t.settings",
        transport=httpx.MockTransport(slow_receiver),
        clock=clock,
    )
    items = [item(contact(i)) for i in (1, 2, 3)]
    await hook.execute(items, clock.now())
    sent = [datetime.fromisoformat(b["sent_at"]) for b in bodies]
    assert sent == [NOW, NOW + timedelta(seconds=30), NOW + timedelta(seconds=60)]
    first = [b["delivery"] for b in bodies]
    assert len(set(first)) == 3
    await hook.execute(items, clock.now())  # sent again (say, after a crash): same ids
    assert [b["delivery"] for b in bodies[3:]] == first
    assert datetime.fromisoformat(bodies[3]["sent_at"]) == NOW + timedelta(seconds=90)
