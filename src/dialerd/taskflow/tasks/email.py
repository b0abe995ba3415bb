"""The email task: one message per contact from templates, sent over SMTP.

``success`` when the server accepts the message for delivery. A permanent refusal (5xx, a bad
address) fails the contact at once with the server's reason; a temporary one (4xx, no
connection, timeout) is retried by the task's retry policy and fails with the last reason when
the attempts are used up. A template that needs a field the contact lacks fails that contact.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
import structlog
from jinja2 import TemplateError

from dialerd.taskflow.tasks.base import Record, TaskItem, TaskOutcome, success
from dialerd.taskflow.tasks.settings import EmailSettings
from dialerd.taskflow.tasks.templating import compile_template, render, template_problem

log = structlog.get_logger(__name__)


class SmtpFailure(Exception):
    def __init__(self, reason: str, detail: str, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
        self.permanent = permanent


class EmailExecutor:
    needs_history = False
    needs_entry = False

    def __init__(self, settings: EmailSettings, where: str) -> None:
        self.settings = settings
        self.retry = settings.retry()
        self._password = settings.smtp_password(where)
        self._to = compile_template(settings.to, f"{where}.to")
        self._subject = compile_template(settings.subject, f"{where}.subject")
        self._body = compile_template(settings.body, f"{where}.body", html=settings.html)

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]:
        gate = asyncio.Semaphore(self.settings.concurrency)

        async def one(item: TaskItem) -> TaskOutcome:
            async with gate:
                out = await self._send_one(item, now)
                if record is not None:
                    await record(item, out)
                return out

        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(i)) for i in items]
        return [t.result() for t in tasks]

    def build(self, item: TaskItem, now: datetime) -> EmailMessage:
        """The message for one contact; raises ``TemplateError`` or ``ValueError``."""
        extra = {"campaign": item.campaign, "task": item.task}
        to = render(self._to, item.contact, now, **extra).strip()
        if not to or "@" not in to:
            raise ValueError(f"no email address (to = {to!r})")
        msg = EmailMessage()
        msg["From"] = self.settings.sender
        msg["To"] = to
        msg["Subject"] = " ".join(render(self._subject, item.contact, now, **extra).split())
        msg["Date"] = formatdate(now.timestamp(), localtime=False)
        msg["Message-ID"] = make_msgid(domain="dialerd")
        body = render(self._body, item.contact, now, **extra)
        msg.set_content(body, subtype="html" if self.settings.html else "plain")
        return msg

    async def _send_one(self, item: TaskItem, now: datetime) -> TaskOutcome:
        try:
            msg = self.build(item, now)
        except TemplateError as exc:
            return self.retry.after_failure(
                item.contact,
                now,
                reason=template_problem(exc),
                detail="template_error",
                permanent=True,
            )
        except ValueError as exc:
            return self.retry.after_failure(
                item.contact, now, reason=str(exc), detail="no_email", permanent=True
            )
        try:
            response = await self._send(msg)
        except SmtpFailure as exc:
            log.info(
                "email not sent",
                contact=item.contact.id,
                reason=exc.reason,
                permanent=exc.permanent,
            )
            return self.retry.after_failure(
                item.contact, now, reason=exc.reason, detail=exc.detail, permanent=exc.permanent
            )
        return success(note=f"email accepted by {self.settings.smtp_host}: {response}")

    async def _send(self, msg: EmailMessage) -> str:
        s = self.settings
        try:
            errors, response = await aiosmtplib.send(
                msg,
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.username,
                password=self._password if s.username else None,
                use_tls=s.tls == "tls",
                start_tls=s.tls == "starttls",
                cert_bundle=s.ca_file,
                timeout=s.timeout.total_seconds(),
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            code = first.code if first is not None else 550
            text = first.message if first is not None else "recipient refused"
            raise SmtpFailure(f"SMTP {code} {text}", f"smtp_{code}", code >= 500) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpFailure(
                f"SMTP {exc.code} {exc.message}", f"smtp_{exc.code}", exc.code >= 500
            ) from None
        except aiosmtplib.SMTPTimeoutError as exc:
            raise SmtpFailure(f"SMTP timeout: {exc}", "smtp_timeout", False) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise SmtpFailure(
                f"SMTP server {s.smtp_host}:{s.smtp_port} unreachable: {exc}",
                "smtp_unreachable",
                False,
            ) from None
        return response
