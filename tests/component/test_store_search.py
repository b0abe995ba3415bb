"""Contact search through the trigram indexes (FTS5 on SQLite, pg_trgm on PostgreSQL).

Both searches (the API's ``search_contacts`` and the work queue's ``search_leads``) on contacts
that came in by bulk import (SQLite indexes them in one go after the insert), were added one by
one, changed or deleted afterwards.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from dialerd.domain import campaign_spec as cs
from dialerd.domain.changes import NewContact
from dialerd.domain.contact_import import ContactRecord, ImportRequest, ParsedChunk
from dialerd.domain.model import Campaign
from dialerd.store import Store
from dialerd.store import agentwork as work
from dialerd.store.imports import import_contacts
from dialerd.store.lookup import change_contact, delete_contact, search_contacts
from dialerd.store.search import FTS_TABLE, fts_available, phone_digits, typed_terms

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
_FIRST = ("Anna", "Ben", "Carla", "David")
_LAST = ("Schmidt", "Weber", "Meyer")


def _records(n: int) -> list[ContactRecord]:
    out: list[ContactRecord] = []
    for i in range(n):
        first, last = _FIRST[i % 4], _LAST[i % 3]
        if i == 77:
            last = "Zeller-Özdemir"
        email = f"{first}.{last}{i}@example.com".lower()
        if i == 123:
            email = "x-42@rare.example.org"
        phone = f"+4930{5550000 + i}"
        if i == 200:
            phone = "+4989987654321"
        out.append((i + 2, phone, first, last, f"{last} GmbH", email, None, None, json.dumps({})))
    return out


async def _imported(store: Store, n: int = 300) -> Campaign:
    spec = cs.CampaignSpec.model_validate(
        {"name": "sales", "tasks": [{"name": "call", "type": "call"}]}
    )
    camp = await store.create_campaign(spec, NOW)
    request = ImportRequest(campaign="sales", file_name="c.csv", actor="eve")
    await import_contacts(store, request, [ParsedChunk(_records(n), [], n)])
    return camp


async def _api(store: Store, camp: Campaign, **kw: str) -> tuple[list[str], int]:
    found, total = await search_contacts(store, camp.id, limit=500, **kw)
    return [f"{c.first_name} {c.last_name} {c.phone}" for c in found], total


async def _work(store: Store, camp: Campaign, typed: str) -> tuple[list[int], int]:
    leads, total = await work.search_leads(store, camp.id, typed, limit=500)
    return [lead.contact.id for lead in leads], total


async def test_sqlite_has_the_index_and_imported_rows_are_in_it(store: Store) -> None:
    await _imported(store)
    async with store.read() as s:
        has = await fts_available(s, store.dialect)
        if store.dialect == "sqlite":
            assert has
            # The import dropped the per-row trigger for its duration: it is back.
            names = await s.scalars(
                text("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            )
            assert list(names) == ["contacts_search_ad", "contacts_search_ai", "contacts_search_au"]
            hits = await s.scalar(
                text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH 'schmidt'")
            )
            assert hits == 100
        else:
            assert not has


async def test_common_and_rare_names_emails_and_phones(store: Store) -> None:
    camp = await _imported(store)
    # Common: a third of the contacts. Exact total in the API search.
    assert (await _api(store, camp, name="schmi"))[1] == 100
    assert (await _work(store, camp, "SCHMIDT"))[1] == 100
    # Rare, with a non-ASCII letter in another case than stored.
    names, total = await _api(store, camp, name="zeller-ö")
    assert total == 1 and names[0].startswith("Ben Zeller-Özdemir")
    assert (await _work(store, camp, "ZELLER-ÖZD"))[1] == 1
    # Every word somewhere (first name and last name).
    assert (await _api(store, camp, name="ben zeller"))[1] == 1
    assert (await _work(store, camp, "anna schmidt"))[1] == 25
    # E-mail parts.
    assert (await _api(store, camp, email="x-42@"))[1] == 1
    assert (await _work(store, camp, "x-42@rare"))[1] == 1
    assert (await _api(store, camp, email="@example.com"))[1] == 299
    # Phone numbers as typed: national, international, with spaces; and digits only.
    assert (await _work(store, camp, "089 987 654"))[1] == 1
    assert (await _work(store, camp, "0049 89 9876"))[1] == 1
    assert (await _work(store, camp, "+49 89 987654321"))[1] == 1
    assert (await _api(store, camp, phone_digits=phone_digits("089 98765")))[1] == 1
    assert (await _api(store, camp, phone_digits="305550"))[1] == 299
    # Exact number OR digits (the API's phone filter).
    assert (await _api(store, camp, phone_exact="+4989987654321", phone_digits="4989"))[1] == 1
    # Criteria combine with AND.
    assert (await _api(store, camp, name="schmidt", email="anna"))[1] == 25
    assert (await _api(store, camp, name="nobody"))[1] == 0
    assert (await _work(store, camp, "nobody"))[1] == 0


async def test_short_terms_and_wildcards_fall_back_correctly(store: Store) -> None:
    camp = await _imported(store, 30)
    # Two letters have no trigram: the fallback still finds them (ASCII case folding).
    assert (await _api(store, camp, name="be"))[1] == 15  # Ben 8 + Weber 10 - both 3
    assert (await _work(store, camp, "MEY"))[1] == 10
    # LIKE wildcards and FTS syntax are literal text.
    assert (await _work(store, camp, "100%_"))[1] == 0
    assert (await _work(store, camp, 'a" OR "b'))[1] == 0
    assert (await _api(store, camp, name="schm*"))[1] == 0


async def test_added_changed_and_deleted_contacts_are_found_or_not(store: Store) -> None:
    camp = await _imported(store, 30)
    (added,) = await store.add_contacts(
        camp.id,
        [NewContact(phone="+4940123123123", first_name="Quentin", last_name="Quax")],
        NOW,
    )
    assert (await _work(store, camp, "quax"))[0] == [added]
    assert (await _work(store, camp, "040 123123"))[0] == [added]
    await change_contact(store, added, "eve", NOW, phone=("+4922177777777", None))
    assert (await _work(store, camp, "040 123123"))[1] == 0
    assert (await _work(store, camp, "0221 7777"))[0] == [added]
    await delete_contact(store, added, NOW)
    assert (await _work(store, camp, "quax"))[1] == 0
    assert (await _api(store, camp, name="quax"))[1] == 0
    # A second import indexes its rows too, and the first import's stay found.
    request = ImportRequest(campaign="sales", file_name="d.csv", actor="eve")
    more: list[ContactRecord] = [
        (2, "+4930999000111", "Xaver", "Yilmaz", None, "xy@example.net", None, None, "{}")
    ]
    await import_contacts(store, request, [ParsedChunk(more, [], 1)])
    assert (await _api(store, camp, name="yilmaz"))[1] == 1
    assert (await _work(store, camp, "meyer"))[1] == 10


async def test_sqlite_without_the_index_searches_by_scan(store: Store) -> None:
    if store.dialect != "sqlite":
        pytest.skip("the fallback is for a SQLite built without FTS5/trigram")
    camp = await _imported(store, 30)
    async with store.write() as s:
        for trigger in ("contacts_search_ai", "contacts_search_ad", "contacts_search_au"):
            await s.execute(text(f"DROP TRIGGER {trigger}"))
        await s.execute(text(f"DROP TABLE {FTS_TABLE}"))
    assert (await _api(store, camp, name="schmidt"))[1] == 10
    assert (await _work(store, camp, "030 555 0001"))[1] == 1


def test_typed_text_is_read_as_phone_email_or_words() -> None:
    assert typed_terms(" 030 1234 ").phone_digits == "301234"
    assert typed_terms("+49 (30) 1234").phone_digits == "49301234"
    assert typed_terms("0049-30-1234").phone_digits == "49301234"
    assert typed_terms("anna@ex").email == "anna@ex"
    assert tuple(typed_terms("Anna  Müller").words) == ("Anna", "Müller")
    assert tuple(typed_terms("12").words) == ("12",)  # too few digits for a number
