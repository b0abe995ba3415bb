"""Secrets come from the environment, files or systemd credentials and are never shown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dialerd.config import ConfigError, load_config

SERVER = """
[[asterisk]]
name = "pbx1"
username = "dialerd"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dialerd.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_secret_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, SERVER + 'secret_env = "AMI_SECRET"\n')
    config = load_config(path, env={"AMI_SECRET": "from-env"})
    assert config.asterisk[0].secret.get_secret_value() == "from-env"


def test_secret_from_file_relative_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "ami.secret").write_text("from-file\n")
    path = write(tmp_path, SERVER + 'secret_file = "ami.secret"\n')
    assert load_config(path, env={}).asterisk[0].secret.get_secret_value() == "from-file"


def test_secret_from_systemd_credentials_explicit_and_by_default_name(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "ami-pbx1").write_text("cred-default\n")
    (creds / "other").write_text("cred-named")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    implicit = load_config(write(tmp_path, SERVER), env=env)
    assert implicit.asterisk[0].secret.get_secret_value() == "cred-default"
    named = load_config(write(tmp_path, SERVER + 'secret_credential = "other"\n'), env=env)
    assert named.asterisk[0].secret.get_secret_value() == "cred-named"


def test_missing_secret_sources_are_named(tmp_path: Path) -> None:
    cases = {
        'secret_env = "NOPE"': "asterisk[0].secret_env: environment variable NOPE is not set",
        'secret_file = "nope.txt"': "asterisk[0].secret_file: file ",
        'secret_credential = "x"': "asterisk[0].secret_credential: CREDENTIALS_DIRECTORY is not",
        "": "asterisk[0].secret: required key is missing",
        'secret = "a"\nsecret_env = "B"': "asterisk[0].secret_env: give only one of",
    }
    for line, expected in cases.items():
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, SERVER + line + "\n"), env={})
        assert str(info.value.problems[0]).startswith(expected), line


def test_database_password_joins_the_url_only_in_dsn(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        SERVER
        + 'secret = "x"\n[store]\nurl = "postgresql+asyncpg://dialerd@db:5432/dialerd"\n'
        + 'password_env = "PGPW"\n',
    )
    store = load_config(path, env={"PGPW": "p@ss:word/1"}).store
    assert store.dsn() == "postgresql+asyncpg://dialerd:p%40ss%3Aword%2F1@db:5432/dialerd"
    assert "p@ss" not in repr(store) and "p@ss" not in store.display_url()


def test_secrets_never_appear_in_repr_dump_or_errors(tmp_path: Path) -> None:
    secret = "TOPSECRET-0123456789"
    path = write(
        tmp_path,
        SERVER
        + f'secret = "{secret}"\n[[api.tokens]]\nname = "a"\nrole = "admin"\n'
        + f'token = "{secret}"\n[[api.tokens]]\nname = "b"\nrole = "admin"\ntoken = "{secret}"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert secret not in str(info.value)
    assert str(info.value.problems[0]) == (
        "api.tokens[1].token: the same token value is given twice"
    )
    short = write(
        tmp_path,
        SERVER + 'secret = "x"\n[[api.tokens]]\nname = "a"\nrole = "admin"\n'
        'token = "shortsecret"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(short, env={})
    assert "shortsecret" not in str(info.value)
    good = write(tmp_path, SERVER + f'secret = "{secret}"\n')
    config = load_config(good, env={})
    assert secret not in repr(config) and secret not in str(config.model_dump())
    out = subprocess.run(
        [sys.executable, "-m", "dialerd.cli.main", "check-config", "--dump", str(good)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert secret not in out.stdout and '"secret": "**********"' in out.stdout


def test_skip_secrets_checks_everything_else(tmp_path: Path) -> None:
    path = write(tmp_path, SERVER + 'secret_credential = "ami-pbx1"\nport = -1\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={}, resolve_secrets=False)
    assert [p.key for p in info.value.problems] == ["asterisk[0].port"]
