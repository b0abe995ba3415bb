"""The daemon's file sync: campaign files that cannot live side by side stop it, naming both."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialerd.config import load_config
from dialerd.daemon.provision import ProvisionError, load_specs


def test_campaign_files_sharing_a_queue_stop_the_file_sync_naming_both(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.toml").write_text(
            f'name = "{name}"\nqueue = "survey"\n[[tasks]]\nname = "call"\ntype = "call"\n'
        )
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "a.toml"\n[[campaigns]]\nfile = "b.toml"\n'
    )
    with pytest.raises(ProvisionError) as err:
        load_specs(load_config(cfg))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'b.toml'}: queue: campaign 'b': queue 'survey'")
    assert f"campaign 'a' is defined in {tmp_path / 'a.toml'}" in message


async def test_a_campaign_file_may_not_create_a_campaign_named_with_digits(
    tmp_path: Path,
) -> None:
    from datetime import UTC, datetime

    from dialerd.daemon.provision import sync_campaigns
    from dialerd.store import Store
    from dialerd.store.migrate import upgrade

    (tmp_path / "c.toml").write_text('name = "7"\n[[tasks]]\nname = "call"\ntype = "call"\n')
    cfg = tmp_path / "dialerd.toml"
    cfg.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "c.toml"\n'
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'd.sqlite'}"
    await upgrade(url)
    async with await Store.open(url) as store:
        # refused by the store: that file is skipped and reported, the daemon goes on
        done = await sync_campaigns(store, load_config(cfg), datetime(2026, 3, 2, tzinfo=UTC))
        assert await store.list_campaigns() == []
    assert len(done.skipped) == 1
    assert done.skipped[0].startswith(f"{tmp_path / 'c.toml'}: campaign '7': name: '7' is not")
