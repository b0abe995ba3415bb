"""Store commands take the daemon's configuration (``--config FILE``) as well as ``--db URL``,
and never leave a database file behind when they fail."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from dialerd.cli.db import add_db_option, store_target
from dialerd.cli.main import main
from dialerd.store.migrate import head_revision

CAMPAIGN = """
name = "lax"
[dial]
abandonment_target = "10%"
[calling_hours]
enabled = false
[[tasks]]
name = "call"
type = "call"
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def daemon_toml(tmp_path: Path, store: str, extra: str = "") -> Path:
    """A daemon configuration whose AMI secret is a credential this process does not have."""
    path = tmp_path / "etc" / "dialerd.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        f"[store]\n{store}\n"
        '[[asterisk]]\nname = "pbx1"\nusername = "dialerd"\nsecret_credential = "ami-pbx1"\n'
        + extra
    )
    return path


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("DIALERD_DB", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    return work


def test_a_failing_command_creates_no_database(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "campaign", "list")
    assert code == 78
    assert list(cwd.iterdir()) == []  # no ./var/dialerd.sqlite, no ./var
    assert "run: dialerd migrate --db sqlite+aiosqlite:///./var/dialerd.sqlite" in err
    elsewhere = tmp_path / "no" / "such" / "d.sqlite"
    code, _, err = run(capsys, "overview", "x", "--db", f"sqlite:///{elsewhere}")
    assert code == 78
    assert not (tmp_path / "no").exists()
    assert "has no dialerd schema (the file does not exist)" in err


def test_migrate_and_campaign_create_with_the_daemon_config(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "state" / "dialerd.db"
    cfg = daemon_toml(
        tmp_path,
        f'url = "sqlite+aiosqlite:///{db}"',
        "[compliance]\nabandonment_target = 0.02\n"
        '[retry]\nbusy = { delay = "3m", max_attempts = 2 }\n',
    )
    code, _, err = run(capsys, "campaign", "list", "--config", str(cfg))
    assert code == 78 and err.endswith(f"run: dialerd migrate --config {cfg}\n")
    assert not db.parent.exists()
    # the AMI secret is a credential not available here: not needed to migrate
    code, out, err = run(capsys, "migrate", "--config", str(cfg))
    assert code == 0, err
    assert out == f"sqlite+aiosqlite:///{db}: migrated from empty to {head_revision()}\n"
    (tmp_path / "lax.toml").write_text(CAMPAIGN)
    code, out, err = run(
        capsys, "campaign", "create", str(tmp_path / "lax.toml"), "--config", str(cfg), "--json"
    )
    assert code == 0, err
    # stored held to the daemon's [compliance], as the daemon and the API store it
    assert json.loads(out)["tightened"] == [
        "calling hours set to 08:00-21:00 (daemon [compliance])",
        "abandonment target lowered to 2.0% (daemon [compliance])",
    ]
    assert "warning" in err and "abandonment target lowered to 2.0%" in err
    code, out, _ = run(capsys, "campaign", "show", "lax", "--config", str(cfg), "--json")
    definition = json.loads(out)["definition"]
    assert definition["dial"]["abandonment_target"] == 0.02
    assert definition["calling_hours"]["enabled"] is True
    code, out, _ = run(capsys, "campaign", "show", "lax", "--config", str(cfg))
    assert "busy 3m x2, no_answer 1h x5" in out and "from the daemon's [retry]" in out
    code, out, _ = run(capsys, "campaign", "list", "--db", f"sqlite:///{db}", "--json")
    assert [c["name"] for c in json.loads(out)] == ["lax"]
    assert list(cwd.iterdir()) == []


def test_db_and_config_are_one_choice(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = daemon_toml(tmp_path, 'url = "sqlite:///x.db"')
    with pytest.raises(SystemExit) as info:
        main(["migrate", "--config", str(cfg), "--db", "sqlite:///y.db"])
    assert info.value.code == 2
    assert "argument --db: not allowed with argument --config" in capsys.readouterr().err
    assert list(cwd.iterdir()) == []


def test_the_store_password_comes_from_its_credential_as_the_daemon_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db-password").write_text("s3cret/pw\n")
    cfg = daemon_toml(
        tmp_path,
        'url = "postgresql+asyncpg://dialerd@db.example.net:5432/dialerd"\n'
        'password_credential = "db-password"',
    )
    parser = argparse.ArgumentParser()
    add_db_option(parser)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    target = store_target(parser.parse_args(["--config", str(cfg)]))
    assert target.url == "postgresql+asyncpg://dialerd:s3cret%2Fpw@db.example.net:5432/dialerd"
    assert "s3cret" not in target.shown and "s3cret" not in repr(target)
    # the default credential name, as the daemon uses it
    cfg = daemon_toml(tmp_path, 'url = "postgresql+asyncpg://dialerd@db.example.net/dialerd"')
    target = store_target(parser.parse_args(["--config", str(cfg)]))
    assert target.url == "postgresql+asyncpg://dialerd:s3cret%2Fpw@db.example.net/dialerd"


def test_a_store_credential_that_is_not_there_is_a_config_error(
    cwd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = daemon_toml(
        tmp_path,
        'url = "postgresql+asyncpg://dialerd@127.0.0.1:1/dialerd"\n'
        'password_credential = "db-password"',
    )
    code, _, err = run(capsys, "migrate", "--config", str(cfg))
    assert code == 78
    assert err.startswith(f"dialerd: error: {cfg}: store.password_credential: ")
    assert "CREDENTIALS_DIRECTORY is not set" in err
