"""Campaign files at start and reload (SIGHUP) against changes made through the API.

Each start and reload applied every campaign file's whole definition again: a campaign stopped
through the API was dialing again after ``systemctl reload dialerd``, with nothing in the log
about it. And a campaign file the store could not take (its queue given to another campaign
through the API) failed the whole reload and made the daemon exit 78 at start.

``provision`` is what the daemon runs at start and on SIGHUP; calling it again here is a reload
(or a restart: nothing of it lives in the process).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog

from dialerd.config import DaemonConfig, load_config
from dialerd.daemon.provision import provision
from dialerd.domain.campaign_spec import load_campaign_spec
from dialerd.domain.enums import CampaignStatus
from dialerd.store import QueueInUse, Store

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def campaign_file(name: str, *, status: str = "enabled", extra: str = "", queue: str = "") -> str:
    queue_line = f'queue = "{queue}"\n' if queue else ""
    return (
        f'name = "{name}"\n{queue_line}{extra}'
        f'[schedule]\nstatus = "{status}"\n'
        '[[schedule.periods]]\ndays = ["mon", "tue", "wed", "thu", "fri"]\n'
        'start = "09:00"\nend = "17:00"\n'
        '[[tasks]]\nname = "call"\ntype = "call"\n'
    )


def write_config(tmp: Path, store_url: str, agents: list[str] | None = None) -> DaemonConfig:
    text = (
        f'[store]\nurl = "{store_url}"\n'
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nglob = "campaigns/*.toml"\n'
    )
    for agent in agents or []:
        text += f'[[agents]]\nname = "{agent}"\ninterface = "PJSIP/{agent}"\n'
    (tmp / "dialerd.toml").write_text(text)
    return load_config(tmp / "dialerd.toml")


def files(tmp: Path, **texts: str) -> None:
    (tmp / "campaigns").mkdir(exist_ok=True)
    for name, text in texts.items():
        (tmp / "campaigns" / f"{name}.toml").write_text(text)


async def definition(store: Store, name: str) -> dict[str, object]:
    return (await store.get_campaign(name)).settings


async def _stop_through_api(store: Store, name: str) -> None:
    """What ``PUT .../status {"status": "disabled"}`` and ``PATCH {"ring_timeout": "40s"}``
    store."""
    camp = await store.get_campaign(name)
    await store.set_campaign_status(camp.id, CampaignStatus.DISABLED, NOW)
    await store.change_campaign(
        camp.id,
        lambda spec: spec.model_copy(update={"ring_timeout": timedelta(seconds=40)}),
        NOW,
    )


async def test_a_campaign_stopped_through_the_api_stays_stopped_across_reloads_and_restarts(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    files(tmp_path, demo=campaign_file("demo"))
    config = write_config(tmp_path, store_url)
    done = await provision(store, config, NOW)
    assert done.created == ["demo"]
    await _stop_through_api(store, "demo")

    with structlog.testing.capture_logs() as logs:
        for _ in range(2):  # a SIGHUP, then a restart with the same files
            done = await provision(store, write_config(tmp_path, store_url), NOW)
            assert (done.updated, done.unchanged, done.skipped) == ([], ["demo"], [])
    camp = await store.get_campaign("demo")
    assert camp.status is CampaignStatus.DISABLED
    assert camp.settings["schedule"]["status"] == "disabled"
    assert camp.settings["ring_timeout"] == "40s"
    assert not [e for e in logs if e["log_level"] == "warning"]


async def test_an_edited_file_is_applied_keeping_the_api_stop_and_naming_what_it_overwrote(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    files(tmp_path, demo=campaign_file("demo"))
    await provision(store, write_config(tmp_path, store_url), NOW)
    await _stop_through_api(store, "demo")

    files(tmp_path, demo=campaign_file("demo", extra='description = "new script"\n'))
    with structlog.testing.capture_logs() as logs:
        done = await provision(store, write_config(tmp_path, store_url), NOW)
    assert done.updated == ["demo"]
    camp = await store.get_campaign("demo")
    assert camp.settings["description"] == "new script"  # the file's change is applied
    assert camp.settings["ring_timeout"] == "25s"  # the file wins over the API's 40s ...
    assert camp.status is CampaignStatus.DISABLED  # ... but not over the stop
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["campaign"] == "demo"
    assert warning["keys"] == ["ring_timeout"]
    assert warning["file"] == str(tmp_path / "campaigns" / "demo.toml")

    # the file's own status changes: that status is applied, and the API's is named as lost
    files(tmp_path, demo=campaign_file("demo", status="automatic"))
    with structlog.testing.capture_logs() as logs:
        await provision(store, write_config(tmp_path, store_url), NOW)
    assert (await store.get_campaign("demo")).status is CampaignStatus.AUTOMATIC
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["keys"] == ["schedule.status"]


async def test_a_file_added_for_a_campaign_that_exists_keeps_its_status(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """The first start of this version (no record of the files yet), or a file written for a
    campaign created through the API: the file is applied, the stored status is not flipped."""
    files(tmp_path, demo=campaign_file("demo"))
    await provision(store, write_config(tmp_path, store_url), NOW)
    await _stop_through_api(store, "demo")
    for name in await store.forget_campaign_files([]):  # as stored by an earlier version
        assert name == "demo"
    with structlog.testing.capture_logs() as logs:
        await provision(store, write_config(tmp_path, store_url), NOW)
    camp = await store.get_campaign("demo")
    assert camp.status is CampaignStatus.DISABLED
    assert camp.settings["ring_timeout"] == "25s"
    (warning,) = [e for e in logs if e["log_level"] == "warning"]
    assert warning["keys"] == ["ring_timeout"]


async def test_a_file_the_store_refuses_is_skipped_and_the_rest_is_applied(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """A campaign created through the API holds the queue a new file asks for: that file is
    reported and not applied; the other files and the agents are, and nothing raises (the
    daemon starts; a reload goes on)."""
    files(tmp_path, alpha=campaign_file("alpha"))
    await provision(store, write_config(tmp_path, store_url), NOW)
    files(
        tmp_path,
        api=campaign_file("api", queue="dialerd-beta"),
    )
    (tmp_path / "campaigns" / "api.toml").rename(tmp_path / "api.toml")  # not a daemon file
    await store.create_campaign(load_campaign_spec(tmp_path / "api.toml"), NOW)

    files(
        tmp_path,
        alpha=campaign_file("alpha", extra='description = "changed"\n'),
        beta=campaign_file("beta"),  # default queue dialerd-beta: taken
    )
    with structlog.testing.capture_logs() as logs:
        done = await provision(store, write_config(tmp_path, store_url, ["agent-1"]), NOW)
    assert done.updated == ["alpha"]
    assert done.created == []
    assert done.agents == ["agent-1"]
    (skipped,) = done.skipped
    assert skipped.startswith(f"{tmp_path / 'campaigns' / 'beta.toml'}: campaign 'beta': ")
    assert "is already the queue of campaign 'api'" in skipped
    (error,) = [e for e in logs if e["log_level"] == "error"]
    assert error["campaign"] == "beta"
    assert error["file"] == str(tmp_path / "campaigns" / "beta.toml")
    assert (await store.get_campaign("alpha")).settings["description"] == "changed"
    assert "beta" not in {c.name for c in await store.list_campaigns()}
    assert [a.name for a in await store.agents()] == ["agent-1"]


async def test_api_queue_changes_of_two_campaigns_no_longer_stop_the_file_sync(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """The audit's steps: demo (file) moved to another queue, prev (API) onto demo's."""
    files(tmp_path, demo=campaign_file("demo"))
    await provision(store, write_config(tmp_path, store_url), NOW)
    demo = await store.get_campaign("demo")
    await store.change_campaign(
        demo.id, lambda spec: spec.model_copy(update={"queue": "dialerd-demo-new"}), NOW
    )
    (tmp_path / "prev.toml").write_text(campaign_file("prev"))
    prev = await store.create_campaign(load_campaign_spec(tmp_path / "prev.toml"), NOW)
    try:
        await store.change_campaign(
            prev.id, lambda spec: spec.model_copy(update={"queue": "dialerd-demo"}), NOW
        )
    except QueueInUse as exc:
        assert "campaign file" in str(exc)
    else:
        raise AssertionError("prev took the queue demo's file gives demo")
    for _ in range(2):
        done = await provision(store, write_config(tmp_path, store_url), NOW)
        assert done.skipped == []
    assert (await store.get_campaign("demo")).settings["queue"] == "dialerd-demo-new"


def _field_warnings(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in logs if e["event"] == "campaign file names a field the contacts do not have"]


async def test_a_file_filtering_or_sorting_on_a_field_the_contacts_do_not_have_is_warned_of(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Such a filter dials nobody and such a sort dials in id order; only ``dialerd
    check-config`` said so, the daemon applied the file at start and reload in silence. It
    still applies it (the contacts may come later), with a warning per key."""
    from dialerd.domain.changes import NewContact

    path = tmp_path / "campaigns" / "demo.toml"
    files(tmp_path, demo=campaign_file("demo"))
    await provision(store, write_config(tmp_path, store_url), NOW)
    camp = await store.get_campaign("demo")
    await store.add_contacts(
        camp.id, [NewContact(phone="+49301234567", fields={"segment": "A"})], NOW
    )
    extra = '[sort]\nfield = "segmnt"\n[[filter]]\nfield = "segment"\nvalue = "A"\n'
    extra += '[[filter]]\nfield = "lsit_name"\nvalue = "x"\n'
    files(tmp_path, demo=campaign_file("demo").replace("[[tasks]]", extra + "[[tasks]]", 1))
    with structlog.testing.capture_logs() as logs:  # a reload (SIGHUP) with the changed file
        done = await provision(store, write_config(tmp_path, store_url), NOW)
    assert done.updated == ["demo"]  # applied all the same
    assert (await definition(store, "demo"))["sort"] == {"field": "segmnt", "direction": "asc"}
    warnings = {str(e["key"]): e for e in _field_warnings(logs)}
    assert sorted(warnings) == ["filter[1].field", "sort.field"], logs
    sort = warnings["sort.field"]
    assert (sort["campaign"], sort["file"], sort["field"]) == ("demo", str(path), "segmnt")
    assert sort["closest"] == "segment" and sort["log_level"] == "warning"
    assert "(did you mean 'segment'?)" in str(sort["problem"])
    assert warnings["filter[1].field"]["closest"] == "list_name"

    with structlog.testing.capture_logs() as logs:  # unchanged: not applied, not checked again
        await provision(store, write_config(tmp_path, store_url), NOW)
    assert not _field_warnings(logs)


async def test_a_new_campaign_file_is_warned_of_near_misses_of_contact_columns_only(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """Without contacts yet, a custom field still to come (``tier``) cannot be told from a
    typo; a near miss of a contact column (``lsit_name``) can."""
    extra = '[sort]\nfield = "lsit_name"\n[[filter]]\nfield = "tier"\nvalue = 1\n'
    files(tmp_path, new=campaign_file("new").replace("[[tasks]]", extra + "[[tasks]]", 1))
    with structlog.testing.capture_logs() as logs:  # the daemon's start
        done = await provision(store, write_config(tmp_path, store_url), NOW)
    assert done.created == ["new"]
    (warning,) = _field_warnings(logs)
    assert (warning["key"], warning["field"], warning["closest"]) == (
        "sort.field",
        "lsit_name",
        "list_name",
    )
    assert warning["file"] == str(tmp_path / "campaigns" / "new.toml")


async def test_a_file_applied_before_its_contacts_is_checked_again_when_they_arrive(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """The usual first start: the campaign file is applied, then the contacts are imported.
    Its filter on ``segmnt`` (the contacts have ``segment``) could not be checked at apply
    time, and the unchanged file was never checked again, so the typo that dials nobody was
    never told. The daemon's field check tells it once contacts arrive, once per field, names
    the file, and the campaign's GET lists it; a name the contacts do have is not warned of,
    and a campaign whose names are all known is not read again."""
    from dialerd.domain.changes import NewContact
    from dialerd.engine.field_check import FieldCheck

    extra = '[[filter]]\nfield = "segmnt"\nvalue = "A"\n[[filter]]\nfield = "tier"\nvalue = 1\n'
    extra += '[sort]\nfield = "lsit_name"\n'
    path = tmp_path / "campaigns" / "demo.toml"
    files(tmp_path, demo=campaign_file("demo").replace("[[tasks]]", extra + "[[tasks]]", 1))
    check = FieldCheck(store, interval=30.0, monotonic=lambda: clock[0])
    clock = [0.0]
    with structlog.testing.capture_logs() as logs:  # the daemon's start, no contacts yet
        await provision(store, write_config(tmp_path, store_url), NOW, check)
        assert await check.run_once() == []  # nothing to tell yet; lsit_name told at apply
    assert [e["field"] for e in _field_warnings(logs)] == ["lsit_name"]
    camp = await store.get_campaign("demo")
    (sort,) = await check.warnings(camp)
    assert sort.key == "sort.field"
    # the contacts are imported (by another process: the CLI); the file is unchanged
    await store.add_contacts(
        camp.id, [NewContact(phone="+49301234567", fields={"segment": "A", "tier": 2})], NOW
    )
    with structlog.testing.capture_logs() as logs:
        told = await check.run_once()
        clock[0] += 31.0
        assert await check.run_once() == []  # once per (campaign, field)
        await provision(store, write_config(tmp_path, store_url), NOW, check)  # a reload
        assert await check.run_once() == []
    assert [(name, u.key, u.name, u.closest) for name, u in told] == [
        ("demo", "filter[0].field", "segmnt", "segment")
    ]
    (warning,) = _field_warnings(logs)
    assert (warning["campaign"], warning["file"], warning["field"]) == ("demo", str(path), "segmnt")
    assert warning["closest"] == "segment" and warning["log_level"] == "warning"
    keys = [u.key for u in await check.warnings(camp)]
    assert keys == ["filter[0].field", "sort.field"]


async def test_the_field_check_reads_a_campaign_again_only_when_that_can_change_the_answer(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """A campaign's custom fields are read (every contact) again only when contacts arrived
    while a name of it was unknown, and its definition changing makes it checked again."""
    from dialerd.domain.campaign_spec import CampaignSpec
    from dialerd.domain.changes import NewContact
    from dialerd.engine.field_check import FieldCheck

    spec = CampaignSpec.model_validate(
        {
            "name": "api",
            "tasks": [{"name": "call", "type": "call"}],
            "filter": [{"field": "tier", "value": 1}],
        }
    )
    camp = await store.create_campaign(spec, NOW)
    await store.add_contacts(camp.id, [NewContact(phone="+49301234567", fields={"tier": 1})], NOW)
    reads: list[int] = []
    real = store.custom_field_names

    async def counted(campaign_id: int) -> set[str]:
        reads.append(campaign_id)
        return await real(campaign_id)

    store.custom_field_names = counted  # type: ignore[method-assign]
    clock = [0.0]
    check = FieldCheck(store, interval=30.0, monotonic=lambda: clock[0])
    assert await check.run_once() == []
    assert reads == [camp.id]
    clock[0] += 31.0
    await store.add_contacts(camp.id, [NewContact(phone="+49301234568")], NOW)
    assert await check.run_once() == []
    assert reads == [camp.id]  # tier is known: more contacts cannot make it unknown
    await store.change_campaign(
        camp.id,
        lambda s: s.model_copy(update={"sort": s.sort.model_copy(update={"field": "tierr"})}),
        NOW,
    )
    with structlog.testing.capture_logs() as logs:
        (told,) = await check.run_once()
    assert told[0] == "api" and told[1].name == "tierr" and told[1].closest == "tier"
    assert [e["event"] for e in logs] == ["campaign names a field the contacts do not have"]
    assert reads == [camp.id, camp.id]
