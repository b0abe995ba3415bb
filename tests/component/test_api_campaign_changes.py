"""Campaign changes at the same moment, and campaigns that a campaign file manages.

An audit found two PATCHes of different keys losing one of them in 10 of 10 rounds, and a
"disable" undone by a PATCH sent at the same moment in 5 of 15: each change read the definition
before its write transaction and wrote all of it back. And the API let a campaign take the queue
that a campaign file gives another campaign, after which the daemon would not start.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from api_testkit import START, Api, campaign_body, create_campaign, open_api

from dialerd.domain.campaign_file import file_digest
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store

BASE = "/api/v1/campaigns"
ROUNDS = 6


@pytest.fixture
async def api(store: Store) -> AsyncIterator[Api]:
    async for a in open_api(store):
        yield a


async def _definition(api: Api, name: str = "sales") -> dict[str, object]:
    r = await api.call("GET", f"{BASE}/{name}", role="readonly")
    assert r.status_code == 200, r.text
    definition: dict[str, object] = r.json()["definition"]
    return definition


async def test_two_patches_of_different_keys_at_once_both_apply(api: Api) -> None:
    await create_campaign(api)
    for i in range(ROUNDS):
        a, b = await asyncio.gather(
            api.call("PATCH", f"{BASE}/sales", json={"description": f"edit {i}"}),
            api.call("PATCH", f"{BASE}/sales", json={"ring_timeout": f"{30 + i}s"}),
        )
        assert a.status_code == b.status_code == 200, (a.text, b.text)
        got = await _definition(api)
        assert (got["description"], got["ring_timeout"]) == (f"edit {i}", f"{30 + i}s")


async def test_a_stop_at_the_same_moment_as_a_patch_is_never_undone(api: Api) -> None:
    await create_campaign(api)
    for i in range(ROUNDS):
        r = await api.call("PUT", f"{BASE}/sales/status", json={"status": "enabled"})
        assert r.status_code == 200, r.text
        patch, stop = await asyncio.gather(
            api.call("PATCH", f"{BASE}/sales", json={"description": f"edit {i}"}),
            api.call("PUT", f"{BASE}/sales/status", role="supervisor", json={"status": "disabled"}),
        )
        assert patch.status_code == stop.status_code == 200, (patch.text, stop.text)
        got = await _definition(api)
        assert got["description"] == f"edit {i}"
        assert got["schedule"]["status"] == "disabled"  # type: ignore[index]
        r = await api.call("GET", f"{BASE}/sales", role="readonly")
        assert r.json()["status"] == "disabled"


async def test_schedule_tasks_and_rules_at_once_all_apply(api: Api) -> None:
    await create_campaign(api)
    periods = [{"days": ["mon"], "start": "09:00", "end": "17:00"}]
    tasks = [*campaign_body()["tasks"], {"name": "later", "type": "wait"}]
    rules = [{"from": "call", "status": "success", "to": "won"}]
    answers = await asyncio.gather(
        api.call("PUT", f"{BASE}/sales/schedule", json={"status": "automatic", "periods": periods}),
        api.call("PUT", f"{BASE}/sales/tasks", json={"tasks": tasks}),
        api.call("PUT", f"{BASE}/sales/rules", json={"rules": rules}),
        api.call("PATCH", f"{BASE}/sales", json={"amd": True}),
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    got = await _definition(api)
    assert got["schedule"]["status"] == "automatic"  # type: ignore[index]
    assert [t["name"] for t in got["tasks"]] == ["call", "won", "lost", "later"]  # type: ignore[attr-defined]
    assert len(got["rules"]) == 1  # type: ignore[arg-type]
    assert got["amd"] is True


async def _file_campaign(store: Store, name: str, path: str, **extra: object) -> None:
    """A campaign as the daemon's file sync stores it (with its record of the file)."""
    spec = CampaignSpec.model_validate(campaign_body(name, **extra))
    done = await store.sync_campaign_file(spec, file=path, digest=file_digest(spec), now=START)
    assert done.action == "created"


async def test_a_queue_a_campaign_file_gives_another_campaign_is_refused_naming_the_file(
    api: Api,
) -> None:
    await _file_campaign(api.store, "demo", "/etc/dialerd/campaigns/demo.toml")
    await create_campaign(api, "prev")
    # the file's own campaign may leave its file's queue through the API ...
    r = await api.call("PATCH", f"{BASE}/demo", json={"queue": "dialerd-demo-new"})
    assert r.status_code == 200, r.text
    # ... but no other campaign may take it: the file would take it back when it changes
    for method, path, body in (
        ("PATCH", f"{BASE}/prev", {"queue": "dialerd-demo"}),
        ("POST", BASE, campaign_body("third", queue="dialerd-demo")),
        ("PATCH", f"{BASE}/prev", {"queue": "dialerd-demo.agent-1"}),
    ):
        r = await api.call(method, path, json=body)
        assert r.status_code == 409, r.text
        assert r.json()["field"] == "queue"
        assert "/etc/dialerd/campaigns/demo.toml" in r.json()["error"]
        assert "'demo'" in r.json()["error"]
    got = await _definition(api, "prev")
    assert got["queue"] is None


async def test_a_change_sent_with_a_stale_etag_is_refused_412(api: Api) -> None:
    """Optimistic concurrency for clients that read, edit and write back a whole definition."""
    await create_campaign(api)
    read = await api.call("GET", f"{BASE}/sales", role="readonly")
    tag = read.headers["ETag"]
    first = await api.call(
        "PATCH", f"{BASE}/sales", json={"description": "mine"}, headers={"If-Match": tag}
    )
    assert first.status_code == 200, first.text
    assert first.headers["ETag"] != tag
    for method, path, body in (
        ("PATCH", f"{BASE}/sales", {"description": "theirs"}),
        ("PUT", f"{BASE}/sales", campaign_body(description="theirs")),
        ("PUT", f"{BASE}/sales/status", {"status": "enabled"}),
    ):
        r = await api.call(method, path, json=body, headers={"If-Match": tag})
        assert r.status_code == 412, r.text
        assert r.json()["field"] == "If-Match"
    got = await api.call("GET", f"{BASE}/sales", role="readonly")
    assert got.json()["definition"]["description"] == "mine"
    assert got.json()["status"] == "disabled"
    assert got.headers["ETag"] == first.headers["ETag"]
    r = await api.call(
        "PUT", f"{BASE}/sales/status", json={"status": "enabled"}, headers={"If-Match": "*"}
    )
    assert r.status_code == 200, r.text
