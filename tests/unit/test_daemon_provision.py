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
