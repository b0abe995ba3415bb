"""The webhook task: POST the contact (with its last attempt and history) as signed JSON.

The receiver checks ``X-Dialerd-Signature: sha256=<hex>``, the HMAC-SHA256 of the exact body
bytes with the shared secret, so it can trust a status change it did not ask for. 2xx is
``success``; the JSON response may set custom fields (``{"fields": {...}}``) and the
status_detail (``{"status_detail": "crm_created"}``). A 4xx other than 408/429 is permanent
(resending the same body cannot help); 5xx, 408, 429, timeouts and refused connections are
retried by the task's retry policy with capped backoff.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import structlog

from dialerd.domain.clock import Clock, SystemClock, iso_utc
from dialerd.domain.contact_values import check_custom_name, check_custom_value, is_detail_text
from dialerd.domain.enums import StatusDetail, is_reserved_detail
from dialerd.domain.model import Attempt, Contact, HistoryEntry
from dialerd.taskflow.tasks.base import Record, TaskItem, TaskOutcome, success
from dialerd.taskflow.tasks.settings import WebhookSettings

log = structlog.get_logger(__name__)

_RETRYABLE_4XX = frozenset({408, 425, 429})
#: The same for every sending of one delivery (a resend after a crash, a timeout the server
#: did process), new for each retry the contact's history shows and for each pass of the
#: contact through the task: the receiver's key to take a delivery once.
DELIVERY_HEADER = "X-Dialerd-Delivery"


def _a_word(detail: object) -> bool:
    """A status_detail a receiver may set: 1-100 printable characters, not a reserved one."""
    return isinstance(detail, str) and is_detail_text(detail) and not is_reserved_detail(detail)


def delivery_id(item: TaskItem) -> str:
    """``<campaign>/<task>/<contact>/<entry>/<try>``. ``try`` (attempts + 1) alone restarts
    at 1 on each pass through the task (a webhook -> wait -> webhook loop), so a second,
    different delivery repeated the first's id and a receiver taking each id once dropped it;
    ``entry``, the history row that put the contact into the task, tells the passes apart
    and stays the same on a resend."""
    c = item.contact
    return f"{item.campaign}/{item.task}/{c.id}/{item.entry}/{c.attempts + 1}"


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _iso(value: datetime | None) -> str | None:
    return iso_utc(value) if value is not None else None


def contact_json(c: Contact) -> dict[str, Any]:
    return {
        "id": c.id,
        "campaign_id": c.campaign_id,
        "external_id": c.external_id,
        "phone": c.phone,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "company": c.company,
        "email": c.email,
        "timezone": c.timezone,
        "list_name": c.list_name,
        "status": c.status.value,
        "status_detail": c.status_detail,
        "fields": dict(c.fields),
        "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
    }


def attempt_json(a: Attempt) -> dict[str, Any]:
    return {
        "id": a.id,
        "phone": a.phone,
        "agent": a.agent,
        "originated_at": _iso(a.originated_at),
        "answered_at": _iso(a.answered_at),
        "connected_at": _iso(a.connected_at),
        "hungup_at": _iso(a.hungup_at),
        "result": a.result.value if a.result is not None else None,
        "cause": a.cause,
        "disposition": a.disposition,
    }


def history_json(h: HistoryEntry) -> dict[str, Any]:
    return {
        "at": _iso(h.at),
        "actor": h.actor,
        "from_task_id": h.from_task_id,
        "to_task_id": h.to_task_id,
        "from_status": h.from_status.value if h.from_status is not None else None,
        "to_status": h.to_status.value if h.to_status is not None else None,
        "from_detail": h.from_detail,
        "to_detail": h.to_detail,
        "note": h.note,
    }


class WebhookExecutor:
    """``clock`` (the runner's): each POST's ``sent_at`` and a failure's retry time are read
    from it when that delivery is made, not at the start of its batch: behind a slow receiver
    the last of a batch of 100 went out minutes after the time it carried."""

    def __init__(
        self,
        settings: WebhookSettings,
        where: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self._clock: Clock = clock or SystemClock()
        self.retry = settings.retry()
        self.needs_history = settings.include_history or settings.include_attempt
        self.needs_entry = True  # the delivery id names the contact's entry into the task
        self._secret = settings.hmac_secret(where)
        self._transport = transport

    def payload(self, item: TaskItem, now: datetime) -> bytes:
        data: dict[str, Any] = {
            "event": "contact",
            "delivery": delivery_id(item),
            "campaign": item.campaign,
            "task": item.task,
            "sent_at": iso_utc(now),
            "contact": contact_json(item.contact),
        }
        if self.settings.include_attempt:
            data["last_attempt"] = (
                attempt_json(item.last_attempt) if item.last_attempt is not None else None
            )
        if self.settings.include_history:
            data["history"] = [history_json(h) for h in item.history]
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    async def execute(
        self, items: Sequence[TaskItem], now: datetime, record: Record | None = None
    ) -> list[TaskOutcome]:
        gate = asyncio.Semaphore(self.settings.concurrency)
        timeout = httpx.Timeout(self.settings.timeout.total_seconds())
        async with httpx.AsyncClient(
            timeout=timeout, transport=self._transport, follow_redirects=False
        ) as client:

            async def one(item: TaskItem) -> TaskOutcome:
                async with gate:
                    out = await self._post(client, item, self._clock.now())
                    if record is not None:
                        await record(item, out)
                    return out

            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(one(i)) for i in items]
        return [t.result() for t in tasks]

    async def _post(self, client: httpx.AsyncClient, item: TaskItem, now: datetime) -> TaskOutcome:
        """``now``: the time this delivery is made (its ``sent_at``)."""
        body = self.payload(item, now)
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: delivery_id(item),
            **self.settings.headers,
        }
        if self._secret:
            headers[self.settings.signature_header] = sign(self._secret, body)
        try:
            response = await client.post(self.settings.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return self._failed(item, now, "webhook timed out", "http_timeout", False)
        except httpx.HTTPError as exc:
            return self._failed(
                item,
                now,
                f"webhook unreachable: {type(exc).__name__}: {exc}",
                "http_unreachable",
                False,
            )
        code = response.status_code
        if 200 <= code < 300:
            return self._accepted(response)
        text = " ".join(response.text[:200].split())
        permanent = 400 <= code < 500 and code not in _RETRYABLE_4XX
        return self._failed(item, now, f"webhook HTTP {code}: {text}", f"http_{code}", permanent)

    def _failed(
        self, item: TaskItem, now: datetime, reason: str, detail: str, permanent: bool
    ) -> TaskOutcome:
        log.info("webhook failed", contact=item.contact.id, reason=reason, permanent=permanent)
        return self.retry.after_failure(
            item.contact, now, reason=reason, detail=detail, permanent=permanent
        )

    def _accepted(self, response: httpx.Response) -> TaskOutcome:
        outcome = success(note=f"webhook HTTP {response.status_code}")
        try:
            data = response.json() if response.content else None
        except ValueError:
            return outcome  # a 2xx without JSON is plain success
        if not isinstance(data, dict):
            return outcome
        fields = data.get("fields")
        detail = data.get("status_detail")
        if _a_word(detail):
            assert isinstance(detail, str)
            outcome = replace(outcome, outcome=replace(outcome.outcome, status_detail=detail))
        elif detail is not None and detail != StatusDetail.NONE.value:
            log.warning("webhook response status_detail ignored", status_detail=str(detail)[:50])
        if isinstance(fields, dict) and fields:
            # The receiver's values are checked as the API checks a client's: a NaN or a
            # megabyte stored in a contact would break every later read of the campaign.
            kept: dict[str, Any] = {}
            for k, v in fields.items():
                try:
                    kept[k] = check_custom_value(check_custom_name(str(k)), v)
                except ValueError as exc:
                    log.warning("webhook response field ignored", error=str(exc)[:200])
            if kept:
                outcome = replace(outcome, fields_update=kept)
        return outcome
