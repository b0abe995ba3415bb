"""A varied campaign for the export tests, and how to read an export back.

The contacts cover what an export has to carry unchanged: custom fields of every JSON type
(also missing, null and empty), a custom field named like a standard column, unicode in every
script the import sees, text that a spreadsheet or CSV reader could take for something else
(formulas, the delimiter, quotes, line breaks), contacts with and without time zones and due
times, statuses and details set by hand, and contacts of other tasks that must not appear.
``tests/component/data/export_golden*`` hold what the exports of this campaign were before
they streamed (written by the code of commit 9030a78): the streamed ones must be the same.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl

from dialerd.domain import campaign_spec as cs
from dialerd.domain.changes import NewContact
from dialerd.domain.enums import Status
from dialerd.domain.model import Campaign
from dialerd.domain.selection import STANDARD_FIELDS, ContactSelection
from dialerd.store import Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

#: Every standard column and every custom field of the campaign (one named like a column).
COLUMNS = [
    *sorted(STANDARD_FIELDS),
    "plan",
    "fields.score",
    "vip",
    "ratio",
    "tags",
    "meta",
    "note",
    "formula",
    "empty",
    "fields.phone",
]

_NAMES = [
    ("Erika", "Müller"),
    ("Çağlar", "Öztürk"),
    ("Zoë", "O'Brien"),
    ("日本", "語"),
    ("שלום", "עליכם"),
    ("Дмитрий", "Иванов"),
    ("😀", "emoji 🎉"),
    (None, None),
    ("", ""),
    ("  leading", "trailing  "),
]
_TRICKY = [
    "=1+2",
    '=HYPERLINK("http://x.test","click")',
    "+4930123",
    "-5",
    "@SUM(A1:A2)",
    "a;b;c",
    'say "hi"',
    "two\nlines",
    "cr\r\nlf",
    "tab\there",
    "",
    "0042",
]
_ZONES = ["Europe/Berlin", "America/New_York", None, "Asia/Tokyo", "Australia/Lord_Howe"]


def spec(folder: str | None = None, file_format: str = "csv", **settings: Any) -> cs.CampaignSpec:
    out: dict[str, Any] = {"columns": COLUMNS, "delimiter": ",", **settings}
    if folder is not None:
        out.update(folder=folder, format=file_format)
    return cs.CampaignSpec.model_validate(
        {
            "name": "ex",
            "timezone": "Europe/Berlin",
            "tasks": [
                {"name": "call", "type": "call"},
                {"name": "out", "type": "export", "settings": out},
                {"name": "other", "type": "wait"},
            ],
            "start_task": "call",
        }
    )


def _contact(i: int) -> NewContact:
    first, last = _NAMES[i % len(_NAMES)]
    tricky = _TRICKY[i % len(_TRICKY)]
    fields: dict[str, Any] = {
        "plan": f"p{i % 4}",
        "score": i * 7 % 101,
        "vip": i % 3 == 0,
        "ratio": i / 8,
        "tags": ["a", f"t{i}"] if i % 4 else [],
        "meta": {"k": i} if i % 5 else None,
        "note": tricky,
        "formula": _TRICKY[(i + 3) % len(_TRICKY)],
        "empty": "" if i % 2 else None,
        "phone": f"private {i}",
    }
    if i % 6 == 5:
        del fields["plan"], fields["vip"]  # a contact without some fields
    return NewContact(
        phone=f"+4930{1000000 + i}" if i % 9 else None,
        first_name=first,
        last_name=last,
        company=tricky if i % 2 else None,
        email=f"user{i}@exämple.test" if i % 3 else None,
        timezone=_ZONES[i % len(_ZONES)],
        external_id=f"crm-{i:04d}" if i % 4 else None,
        list_name="spring" if i % 2 else "autumn",
        fields=fields,
        due_at=NOW + timedelta(hours=i, microseconds=i * 1001) if i % 3 == 1 else None,
    )


async def varied_campaign(
    store: Store,
    n: int = 60,
    folder: str | None = None,
    file_format: str = "csv",
    **settings: Any,
) -> Campaign:
    """Campaign ``ex``: ``n`` contacts added to task ``call`` and the same ``n`` to ``out``,
    some set to success/declined by hand, some moved to ``other`` (not exported).
    ``settings``: more settings of the export task ``out``."""
    camp = await store.create_campaign(spec(folder, file_format, **settings), NOW)
    contacts = [_contact(i) for i in range(n)]
    ids = await store.add_contacts(camp.id, contacts, NOW)
    out_ids = await store.add_contacts(camp.id, contacts, NOW, task="out")
    later = NOW + timedelta(minutes=5)
    for chosen, status, detail in (
        (ids[1::7], Status.SUCCESS, "sale"),
        (ids[2::7], Status.DECLINED, "not_interested"),
        (out_ids[3::11], Status.FAILED, "bounced"),
    ):
        await store.bulk_edit(
            camp.id,
            ContactSelection(contact_ids=tuple(chosen)),
            "test",
            later,
            status=status,
            status_detail=detail,
        )
    await store.move(camp.id, ContactSelection(contact_ids=tuple(ids[4::9])), "other", "t", later)
    return camp


def xlsx_cells(data: bytes) -> list[list[list[Any]]]:
    """Every cell of the first sheet as ``[value, data type]`` (a formula keeps its text and
    type ``f``): what a spreadsheet shows, without the file's time stamps."""
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    return [[[c.value, c.data_type] for c in row] for row in sheet.iter_rows()]
