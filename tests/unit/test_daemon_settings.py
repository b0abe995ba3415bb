"""What the daemon hands the engine from its configuration: every documented key takes effect."""

from __future__ import annotations

import socket
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from dialerd.config import DaemonConfig, load_config
from dialerd.daemon.app import engine_settings, server_config
from dialerd.domain.enums import CallResult
from dialerd.domain.model import RetryRule, default_retry_policy

MINIMAL = """
[[asterisk]]
name = "pbx1"
username = "dialerd"
secret = "s3cret"
"""


def load(tmp_path: Path, text: str = "") -> DaemonConfig:
    path = tmp_path / "dialerd.toml"
    path.write_text(textwrap.dedent(MINIMAL + text))
    return load_config(path, env={})


def test_the_retry_table_is_the_engine_default_retry_policy(tmp_path: Path) -> None:
    # without [retry]: the documented defaults of config/dialerd.toml
    assert engine_settings(load(tmp_path)).retry == default_retry_policy()
    config = load(
        tmp_path, '[retry]\nmax_attempts = 3\nbusy = { delay = "2m", max_attempts = 2 }\n'
    )
    policy = engine_settings(config).retry
    assert policy.max_attempts == 3
    assert policy.rules[CallResult.BUSY] == RetryRule(timedelta(minutes=2), 2)
    assert policy.rules[CallResult.NO_ANSWER] == RetryRule(timedelta(hours=1), 5)


def test_the_compliance_table_is_the_engine_floor(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        '[compliance]\nabandonment_target = 0.02\nconnect_limit = "1.5s"\n'
        'abandonment_windows = ["hour", "30d"]\n',
    )
    floor = engine_settings(config).compliance
    assert floor is not None
    assert floor.abandonment_target == 0.02
    assert floor.connect_limit == timedelta(seconds=1.5)
    assert floor.abandonment_windows == ("hour", "rolling_30d")


def test_the_engine_wrapup_is_the_limit_of_campaigns_without_their_own(tmp_path: Path) -> None:
    assert engine_settings(load(tmp_path)).wrapup_seconds == 30.0
    assert engine_settings(load(tmp_path, '[engine]\nwrapup = "45s"\n')).wrapup_seconds == 45.0


def test_asterisk_ping_interval_reaches_the_link(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert server_config(config.asterisk[0], 30.0).link_config().ping_interval == 2.5
    entry = load(tmp_path, 'ping_interval = "1s"\ndead_peer_timeout = "4s"\n').asterisk[0]
    link = server_config(entry, 30.0).link_config()
    assert (link.ping_interval, link.dead_peer_timeout) == (1.0, 4.0)


def test_the_engine_instance_names_the_lease_holder(tmp_path: Path) -> None:
    host = socket.gethostname()
    assert engine_settings(load(tmp_path)).holder == f"dialerd@{host}"
    config = load(tmp_path, '[engine]\ninstance = "blue"\n')
    assert engine_settings(config).holder == f"dialerd@{host}/blue"


def test_asterisk_post_dial_delay_reaches_the_server(tmp_path: Path) -> None:
    """The allowance of a predictive short ring for the time before the phone rings is the
    trunk's: 3 s unless the server says otherwise (it was a constant 3 s)."""
    assert server_config(load(tmp_path).asterisk[0], 30.0).post_dial_delay == 3.0
    entry = load(tmp_path, 'post_dial_delay = "1.5s"\n').asterisk[0]
    assert server_config(entry, 30.0).post_dial_delay == 1.5
    assert (
        server_config(load(tmp_path, "post_dial_delay = 0\n").asterisk[0], 30.0).post_dial_delay
        == 0.0
    )


def test_the_journal_is_in_the_state_directory_named_after_the_store_and_holder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outcomes the database cannot take at a stop go to a file in the state directory: the
    configured ``[engine] state_dir`` (relative to the config file), else systemd's
    ``$STATE_DIRECTORY``, else /var/lib/dialerd; its name tells databases and daemons apart."""
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    default = engine_settings(load(tmp_path)).journal
    assert default is not None and default.parent == Path("/var/lib/dialerd")
    assert default.name.startswith("unwritten-dialerd-") and default.suffix == ".jsonl"
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/dialerd-x:/var/lib/other")
    journal = engine_settings(load(tmp_path)).journal
    assert journal is not None and journal.parent == Path("/var/lib/dialerd-x")
    journal = engine_settings(load(tmp_path, '[engine]\nstate_dir = "state"\n')).journal
    assert journal is not None and journal.parent == tmp_path / "state"

    pg = load(tmp_path, '[store]\nurl = "postgresql+asyncpg://dialerd@db1/dialerd"\n')
    pg2 = load(tmp_path, '[store]\nurl = "postgresql+asyncpg://dialerd@db2/dialerd"\n')
    blue = load(tmp_path, '[engine]\ninstance = "blue"\n')
    names = {str(engine_settings(c).journal) for c in (load(tmp_path), pg, pg2, blue)}
    assert len(names) == 4
