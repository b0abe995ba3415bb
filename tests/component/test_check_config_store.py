"""``dialerd check-config`` reads the configured store when it can.

It said "ok" for a campaign file whose queue a campaign created through the API had (the
daemon then failed at start), and warned that an agent's campaign did not exist when the API
had created it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from dialerd.cli import cmd_check_config
from dialerd.domain.campaign_spec import CampaignSpec
from dialerd.store import Store, upgrade

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def check_config_here(*args: str) -> subprocess.CompletedProcess[str]:
    parser = argparse.ArgumentParser(prog="dialerd")
    cmd_check_config.register(parser.add_subparsers())
    ns = parser.parse_args(["check-config", *args])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cmd_check_config.run(ns)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def _setup(tmp: Path) -> Path:
    url = f"sqlite+aiosqlite:///{tmp / 'd.db'}"

    async def stored() -> None:
        await upgrade(url)
        async with await Store.open(url) as store:
            spec = CampaignSpec.model_validate(
                {
                    "name": "api-made",
                    "queue": "dialerd-demo",
                    "tasks": [{"name": "call", "type": "call"}],
                }
            )
            await store.create_campaign(spec, NOW)

    asyncio.run(stored())
    (tmp / "campaigns").mkdir()
    (tmp / "campaigns" / "demo.toml").write_text(
        'name = "demo"\n[[tasks]]\nname = "call"\ntype = "call"\n'
    )
    cfg = tmp / "dialerd.toml"
    cfg.write_text(
        f'[store]\nurl = "{url}"\n'
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nglob = "campaigns/*.toml"\n'
        '[[agents]]\nname = "agent-7"\ninterface = "PJSIP/agent-7"\n'
        'campaigns = ["api-made", "nowhere"]\n'
    )
    return cfg


def test_a_file_queue_a_stored_campaign_has_and_agents_campaigns_are_checked_in_the_store(
    tmp_path: Path,
) -> None:
    cfg = _setup(tmp_path)
    result = check_config_here(str(cfg))
    assert result.returncode == 0, result.stderr
    assert "store contents: 1 campaign(s) stored" in result.stdout
    warnings = result.stderr.splitlines()
    queue = [w for w in warnings if ": queue: " in w]
    assert len(queue) == 1, warnings
    assert f"{tmp_path / 'campaigns' / 'demo.toml'}: queue: campaign 'demo'" in queue[0]
    assert "is already the queue of campaign 'api-made'" in queue[0]
    agents = [w for w in warnings if "agents[0].campaigns" in w]
    assert len(agents) == 1, warnings  # 'api-made' is stored: no warning for it
    assert "'nowhere' is not defined by any campaign file nor stored" in agents[0]


def test_without_the_store_the_agent_warning_says_it_may_exist_there(tmp_path: Path) -> None:
    cfg = _setup(tmp_path)
    result = check_config_here("--no-store", str(cfg))
    assert result.returncode == 0, result.stderr
    assert "store contents: not read (--no-store)" in result.stdout
    assert ": queue: " not in result.stderr
    assert "'api-made' is not defined by any campaign file (it may exist in the store" in (
        result.stderr
    )


def _filters_setup(tmp: Path) -> Path:
    """A file campaign filtering on 'segmnt', a stored campaign filtering on 'regoin', both
    with contacts that have 'segment' and 'region'; a file filtering on 'lsit_name'."""
    from dialerd.domain.changes import NewContact

    url = f"sqlite+aiosqlite:///{tmp / 'd.db'}"

    async def stored() -> None:
        await upgrade(url)
        async with await Store.open(url) as store:
            for name, filters in [("demo", []), ("api-made", [{"field": "regoin", "value": "n"}])]:
                spec = CampaignSpec.model_validate(
                    {"name": name, "tasks": [{"name": "call", "type": "call"}], "filter": filters}
                )
                campaign = await store.create_campaign(spec, NOW)
                await store.add_contacts(
                    campaign.id,
                    [NewContact(phone="+49301234567", fields={"segment": "A", "region": "n"})],
                    NOW,
                )

    asyncio.run(stored())
    (tmp / "campaigns").mkdir()
    (tmp / "campaigns" / "demo.toml").write_text(
        'name = "demo"\n[[tasks]]\nname = "call"\ntype = "call"\n'
        '[[filter]]\nfield = "segment"\nvalue = "A"\n'
        '[[filter]]\nfield = "segmnt"\nvalue = "A"\n'
    )
    (tmp / "campaigns" / "later.toml").write_text(
        'name = "later"\n[[tasks]]\nname = "call"\ntype = "call"\n'
        '[[filter]]\nfield = "lsit_name"\nvalue = "x"\n'
        '[[filter]]\nfield = "tier"\nvalue = "x"\n'
    )
    cfg = tmp / "dialerd.toml"
    cfg.write_text(
        f'[store]\nurl = "{url}"\n'
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nglob = "campaigns/*.toml"\n'
    )
    return cfg


def test_filters_on_fields_the_contacts_do_not_have_are_warned_of(tmp_path: Path) -> None:
    cfg = _filters_setup(tmp_path)
    result = check_config_here(str(cfg))
    assert result.returncode == 0, result.stderr
    warnings = [w for w in result.stderr.splitlines() if "filter[" in w]
    demo = f"{tmp_path / 'campaigns' / 'demo.toml'}: filter[1].field: unknown field 'segmnt'"
    assert any(demo in w and "(did you mean 'segment'?)" in w for w in warnings), warnings
    stored = "campaign 'api-made' (stored): filter[0].field: unknown field 'regoin'"
    assert any(stored in w and "(did you mean 'region'?)" in w for w in warnings), warnings
    # 'later' is not stored yet: only a near miss of a contact column can be told
    later = f"{tmp_path / 'campaigns' / 'later.toml'}: filter[0].field: 'lsit_name'"
    assert any(later in w and "(did you mean 'list_name'?)" in w for w in warnings), warnings
    assert not any("'tier'" in w for w in warnings)
    assert len(warnings) == 3, warnings


def test_without_the_store_only_near_misses_of_contact_columns_are_warned_of(
    tmp_path: Path,
) -> None:
    cfg = _filters_setup(tmp_path)
    result = check_config_here("--no-store", str(cfg))
    warnings = [w for w in result.stderr.splitlines() if "filter[" in w]
    assert len(warnings) == 1 and "did you mean 'list_name'?" in warnings[0], warnings


def test_sorts_on_fields_the_contacts_do_not_have_are_warned_of(tmp_path: Path) -> None:
    """A sort on a typo sorted by nothing (every contact without a value): the campaign dialed
    in id order and check-config said ok."""
    cfg = _filters_setup(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"

    async def stored() -> None:
        from dialerd.domain.changes import NewContact

        async with await Store.open(url) as store:
            spec = CampaignSpec.model_validate(
                {
                    "name": "api-sorted",
                    "tasks": [{"name": "call", "type": "call"}],
                    "sort": {"field": "regoin"},
                }
            )
            campaign = await store.create_campaign(spec, NOW)
            await store.add_contacts(
                campaign.id, [NewContact(phone="+49301234568", fields={"region": "n"})], NOW
            )

    asyncio.run(stored())
    for name, field in [("demo", "segmnt"), ("later", "lsit_name")]:
        path = tmp_path / "campaigns" / f"{name}.toml"
        path.write_text(path.read_text() + f'[sort]\nfield = "{field}"\ndirection = "desc"\n')
    (tmp_path / "campaigns" / "tiers.toml").write_text(
        'name = "tiers"\n[[tasks]]\nname = "call"\ntype = "call"\n[sort]\nfield = "tier"\n'
    )
    result = check_config_here(str(cfg))
    assert result.returncode == 0, result.stderr
    warnings = [w for w in result.stderr.splitlines() if "sort.field" in w]
    demo = f"{tmp_path / 'campaigns' / 'demo.toml'}: sort.field: unknown field 'segmnt'"
    assert any(demo in w and "(did you mean 'segment'?)" in w for w in warnings), warnings
    assert any("in id order" in w for w in warnings), warnings
    stored_ = "campaign 'api-sorted' (stored): sort.field: unknown field 'regoin'"
    assert any(stored_ in w and "(did you mean 'region'?)" in w for w in warnings), warnings
    # 'later' and 'tiers' are not stored yet: only a near miss of a contact column is told
    later = f"{tmp_path / 'campaigns' / 'later.toml'}: sort.field: 'lsit_name'"
    assert any(later in w and "(did you mean 'list_name'?)" in w for w in warnings), warnings
    assert not any("'tier'" in w for w in warnings)
    assert len(warnings) == 3, warnings


def test_queues_the_campaigns_need_are_checked_against_a_live_asterisk(tmp_path: Path) -> None:
    """A campaign's queue or an agent's own queue missing in Asterisk used to be found only by
    the daemon's refused QueueAdd (or a call abandoned at once): check-config asks the server."""
    from dialerd.sim import QueueConfig, SimAsterisk, SimModel

    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "demo.toml").write_text(
        'name = "demo"\nqueue = "dialer-q1"\n[[tasks]]\nname = "call"\ntype = "call"\n'
    )
    cfg = tmp_path / "dialerd.toml"

    async def serve(check: list[str]) -> subprocess.CompletedProcess[str]:
        model = SimModel(queue=QueueConfig(queues=frozenset({"dialer-q1"})))
        async with SimAsterisk(port=0, model=model) as sim:
            cfg.write_text(
                f'[store]\nurl = "sqlite+aiosqlite:///{tmp_path / "none.db"}"\n'
                f'[[asterisk]]\nname = "pbx1"\nport = {sim.port}\n'
                'username = "dialer"\nsecret = "dialerpass"\n'
                '[[campaigns]]\nglob = "campaigns/*.toml"\n'
                '[[agents]]\nname = "agent-7"\ninterface = "PJSIP/agent-7"\n'
            )
            # check-config runs its own event loop: in a thread, as from a shell
            return await asyncio.to_thread(check_config_here, *check, str(cfg))

    result = asyncio.run(serve(["--no-store"]))
    assert result.returncode == 0, result.stderr
    assert "asterisk pbx1 queues: 1 of 2 defined" in result.stdout
    missing = [w for w in result.stderr.splitlines() if "missing in Asterisk" in w]
    assert missing == [
        f"{cfg}: warning: asterisk[0] (pbx1): queue 'dialer-q1.agent-7' is missing in Asterisk"
        " (needed by agent agent-7 in campaign demo); no calls are sent to it until it is"
        " defined in queues.conf and 'module reload app_queue' is run"
    ]
    result = asyncio.run(serve(["--no-store", "--no-asterisk"]))
    assert "asterisk queues: not checked (--no-asterisk)" in result.stdout
    assert "missing in Asterisk" not in result.stderr


def test_an_asterisk_it_cannot_reach_is_named_as_not_checked(tmp_path: Path) -> None:
    import socket

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "dialer"\nsecret = "dialerpass"\n'
        f"port = {port}\n"
        '[[agents]]\nname = "agent-7"\ninterface = "PJSIP/agent-7"\n'
        '[[campaigns]]\nglob = "campaigns/*.toml"\n'
    )
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "demo.toml").write_text(
        'name = "demo"\n[[tasks]]\nname = "call"\ntype = "call"\n'
    )
    result = check_config_here("--no-store", str(cfg))
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stdout.splitlines() if "asterisk pbx1 queues" in x)
    assert f"not checked: connect to 127.0.0.1:{port} failed" in line
    assert "only a live server's answer tells" in line
    assert "ami link" not in result.stdout  # the link's own log lines stay out of the output
