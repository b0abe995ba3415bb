"""The email task against a real SMTP server (aiosmtpd on a loopback port)."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tasks_testkit import MailBox, smtp_server

from dialerd.domain.enums import Status, StatusDetail, TaskType
from dialerd.domain.model import Contact, Task
from dialerd.taskflow.tasks import TaskItem, build_executor
from dialerd.taskflow.tasks.email import EmailExecutor

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

BODY = "Hello {{ first_name }} {{ last_name }},\nyour plan {{ plan }} is confirmed.\n"


def contact(cid: int, **over: Any) -> Contact:
    data: dict[str, Any] = {
        "id": cid,
        "campaign_id": 1,
        "task_id": 2,
        "status": Status.OPEN,
        "status_detail": StatusDetail.NONE.value,
        "first_name": "Erika",
        "last_name": f"Muster{cid}",
        "email": f"erika{cid}@example.test",
        "fields": {"plan": "gold"},
    }
    data.update(over)
    return Contact(**data)


def mailer(port: int, **over: Any) -> EmailExecutor:
    settings: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "from": "Campaign <dialer@example.test>",
        "subject": "Your {{ plan }} plan, {{ first_name }}",
        "body": BODY,
        "max_attempts": 2,
        "retry_delay": "1m",
        "timeout": "5s",
    }
    settings.update(over)
    ex = build_executor(Task(2, 1, "mail", TaskType.EMAIL, settings), "camp")
    assert isinstance(ex, EmailExecutor)
    return ex


def items(*contacts: Contact) -> list[TaskItem]:
    return [TaskItem(c, "camp", "mail") for c in contacts]


async def test_each_contact_gets_its_rendered_message() -> None:
    box = MailBox()
    async with smtp_server(box) as port:
        out = await mailer(port).execute(items(contact(1), contact(2)), NOW)
    assert [o.status for o in out] == [Status.SUCCESS, Status.SUCCESS]
    got = box.by_recipient()
    assert set(got) == {"erika1@example.test", "erika2@example.test"}
    msg = got["erika2@example.test"]
    assert msg["Subject"] == "Your gold plan, Erika"
    assert msg["From"] == "Campaign <dialer@example.test>"
    text = msg.get_payload(decode=True).decode().replace("\r\n", "\n")
    assert text == BODY.replace("{{ first_name }} {{ last_name }}", "Erika Muster2").replace(
        "{{ plan }}", "gold"
    )
    assert "accepted" in (out[0].outcome.note or "")


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_auth_is_used_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    box = MailBox()
    monkeypatch.setenv("DIALERD_TEST_SMTP_PW", "pw-123")
    async with smtp_server(box, user="dialer", password="pw-123") as port:
        ok = await mailer(port, username="dialer", password_env="DIALERD_TEST_SMTP_PW").execute(
            items(contact(1)), NOW
        )
    assert ok[0].status is Status.SUCCESS and box.logins == ["dialer"]
    assert len(box.messages) == 1


async def test_refusals_fail_with_the_smtp_reason_or_retry() -> None:
    box = MailBox(
        reject={
            "erika1@example.test": "550 5.1.1 No such user",
            "erika2@example.test": "451 4.3.0 Try again later",
        }
    )
    async with smtp_server(box) as port:
        ex = mailer(port)
        first = await ex.execute(items(contact(1), contact(2)), NOW)
        # the retry comes when due; the policy allows two attempts in all
        second = await ex.execute(items(contact(2, attempts=1)), NOW + timedelta(minutes=1))
    permanent, temporary = first
    assert permanent.status is Status.FAILED
    assert permanent.outcome.status_detail == "smtp_550"
    assert "No such user" in (permanent.outcome.note or "")
    assert temporary.status is Status.OPEN
    assert temporary.outcome.status_detail == StatusDetail.FOLLOW_UP_AUTO.value
    assert temporary.outcome.due_at == NOW + timedelta(minutes=1)
    assert second[0].status is Status.FAILED
    assert "451" in (second[0].outcome.note or "") and "Try again later" in (
        second[0].outcome.note or ""
    )
    assert box.messages == []


async def test_unreachable_server_retries_then_fails_and_loses_nothing() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    ex = mailer(port)
    [first] = await ex.execute(items(contact(1)), NOW)
    assert first.status is Status.OPEN and first.count_attempt
    [last] = await ex.execute(items(contact(1, attempts=1)), NOW)
    assert last.status is Status.FAILED and last.outcome.status_detail == "smtp_unreachable"
    assert f"127.0.0.1:{port}" in (last.outcome.note or "")


async def test_missing_field_or_address_fails_only_that_contact() -> None:
    box = MailBox()
    async with smtp_server(box) as port:
        out = await mailer(port).execute(
            items(contact(1), contact(2, fields={}), contact(3, email=None)), NOW
        )
    assert [o.status for o in out] == [Status.SUCCESS, Status.FAILED, Status.FAILED]
    assert out[1].outcome.status_detail == "template_error"
    assert "plan" in (out[1].outcome.note or "")
    assert out[2].outcome.status_detail == "no_email"
    assert len(box.messages) == 1


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return key, cert


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl for a test cert")
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_starttls_with_a_verified_certificate_and_auth(tmp_path: Path) -> None:
    key, cert = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    box = MailBox()
    async with smtp_server(box, user="dialer", password="pw", tls=tls) as port:
        ok = await mailer(
            port, tls="starttls", ca_file=str(cert), username="dialer", password="pw"
        ).execute(items(contact(1)), NOW)
        untrusted = await mailer(port, tls="starttls").execute(items(contact(2)), NOW)
    assert ok[0].status is Status.SUCCESS and box.logins == ["dialer"]
    assert len(box.messages) == 1
    # a certificate the client cannot verify is not trusted: retried, never sent in clear
    assert untrusted[0].status is Status.OPEN
    assert "certificate" in (untrusted[0].outcome.note or "").lower()
