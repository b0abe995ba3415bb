"""Every daemon configuration shipped in config/ passes `dialerd check-config`."""

from __future__ import annotations

import argparse
import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from dialerd.cli import cmd_check_config
from dialerd.domain.campaign_spec import load_campaign_spec

CONFIG = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted(CONFIG.glob("dialerd*.toml"))


def check_config(*args: str) -> subprocess.CompletedProcess[str]:
    """``dialerd check-config`` as a process (exit code, no traceback)."""
    return subprocess.run(
        [sys.executable, "-m", "dialerd.cli.main", "check-config", *args],
        capture_output=True,
        text=True,
    )


def check_config_here(*args: str) -> subprocess.CompletedProcess[str]:
    """The same command in this process: fast, and independent of the other subcommands."""
    parser = argparse.ArgumentParser(prog="dialerd")
    cmd_check_config.register(parser.add_subparsers())
    ns = parser.parse_args(["check-config", *args])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cmd_check_config.run(ns)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_examples_exist() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"dialerd.toml", "dialerd-demo.toml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_passes_check_config(path: Path) -> None:
    result = check_config_here("--skip-secrets", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{path}: ok")


def test_full_example_with_its_secrets_provided(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production example, with the credentials systemd would hand over."""
    creds = tmp_path / "credentials"
    creds.mkdir()
    for name in ("ami-pbx1", "api-token-ops", "mqtt-password"):
        (creds / name).write_text(f"{name}-0123456789abcdef\n")
    text = (CONFIG / "dialerd.toml").read_text()
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "anna").write_text("anna-0123456789abcdef\n")  # beside the file
    config = tmp_path / "dialerd.toml"
    config.write_text(text)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("DIALERD_TOKEN_WALLBOARD", "wallboard-0123456789abcdef")
    result = check_config_here(str(config))
    assert result.returncode == 0, result.stderr
    assert "0123456789abcdef" not in result.stdout


def test_config_docs_and_unit_name_one_credentials_directory() -> None:
    """The secrets an operator copies go where the unit and docs/deploy.md load them from."""
    repo = CONFIG.parent
    shipped = [
        *CONFIG.glob("*.toml"),
        *repo.glob("docs/*.md"),
        repo / "README.md",
        *repo.glob("systemd/*"),
        *repo.glob("src/dialerd/config/*.py"),
    ]
    loads: list[str] = []
    for path in shipped:
        text = path.read_text()
        assert "/etc/dialerd/secrets" not in text, path
        loads += [
            line.split("LoadCredential=", 1)[1].split()[0]
            for line in text.splitlines()
            if "LoadCredential=" in line and ":/etc/" in line
        ]
    assert loads
    assert all(":/etc/dialerd/credentials/" in load for load in loads), loads


def test_bad_file_exits_78_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\nport = "x"\n')
    result = check_config(str(path))
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert f"{path}: asterisk[0].port: " in result.stderr


def test_campaign_files_are_validated_too(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "good.toml").write_text(
        (CONFIG / "campaigns" / "example.toml").read_text()
    )
    (tmp_path / "campaigns" / "bad.toml").write_text('name = "x"\ncolour = "red"\n')
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nglob = "campaigns/*.toml"\n'
    )
    result = check_config_here(str(path))
    assert result.returncode == 78
    assert "bad.toml: colour: unknown key" in result.stderr
    (tmp_path / "campaigns" / "bad.toml").unlink()
    result = check_config_here(str(path))
    assert result.returncode == 0, result.stderr
    name = load_campaign_spec(CONFIG / "campaigns" / "example.toml").name
    assert f"campaign names: {name}" in result.stdout


def test_an_agent_naming_a_campaign_no_file_defines_is_warned_about(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text((CONFIG / "campaigns" / "example.toml").read_text())
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "c.toml"\n'
        '[[agents]]\nname = "anna"\ninterface = "PJSIP/101"\ncampaigns = ["ghost"]\n'
    )
    result = check_config_here(str(path))
    assert result.returncode == 0, result.stderr  # the API may create it later
    assert f"{path}: warning: agents[0].campaigns: 'ghost' is not defined" in result.stderr


def test_two_campaign_files_sharing_a_queue_are_refused_naming_both_files(
    tmp_path: Path,
) -> None:
    """Two campaigns in one Asterisk queue: each would count the other's agents as its own."""
    for name, queue in (("a", 'queue = "survey"\n'), ("b", 'queue = "survey"\n'), ("c", "")):
        (tmp_path / f"{name}.toml").write_text(
            f'name = "{name}"\n{queue}[[tasks]]\nname = "call"\ntype = "call"\n'
        )
    (tmp_path / "d.toml").write_text(
        'name = "d"\nqueue = "dialerd-c"\n[[tasks]]\nname = "call"\ntype = "call"\n'
    )
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        + "".join(f'[[campaigns]]\nfile = "{n}.toml"\n' for n in "abcd")
    )
    result = check_config_here(str(path))
    assert result.returncode == 78
    a, b, c, d = (tmp_path / f"{n}.toml" for n in "abcd")
    assert (
        f"{b}: queue: campaign 'b': queue 'survey' is already the queue of campaign 'a';"
        f" each campaign needs its own Asterisk queue (campaign 'a' is defined in {a})"
    ) in result.stderr
    # the default queue of a campaign that names none counts too
    assert f"{d}: queue: campaign 'd': queue 'dialerd-c' is already the queue of campaign 'c'" in (
        result.stderr
    )
    assert f"{c}: queue" not in result.stderr


def test_check_config_says_what_the_compliance_floor_will_change_in_a_campaign(
    tmp_path: Path,
) -> None:
    (tmp_path / "lax.toml").write_text(
        'name = "lax"\n[dial]\nabandonment_target = "5%"\n'
        '[calling_hours]\nenabled = false\n[[tasks]]\nname = "call"\ntype = "call"\n'
    )
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "lax.toml"\n'
    )
    result = check_config_here(str(path))
    assert result.returncode == 0, result.stderr  # the daemon applies the floor: not an error
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert any("abandonment target lowered to 3.0%" in w and "lax.toml" in w for w in warnings)
    assert any("calling hours set to 08:00-21:00" in w for w in warnings), warnings


def test_check_config_says_where_the_daemon_caps_a_campaigns_calls_per_number(
    tmp_path: Path,
) -> None:
    tasks = '[[tasks]]\nname = "call"\ntype = "call"\n'
    (tmp_path / "lax.toml").write_text(f'name = "lax"\n[dial]\nmax_calls_per_day = 5\n{tasks}')
    (tmp_path / "none.toml").write_text(f'name = "none"\n{tasks}')
    (tmp_path / "strict.toml").write_text(
        f'name = "strict"\n[dial]\nmax_calls_per_day = 2\n{tasks}'
    )
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        "[compliance]\nmax_calls_per_day = 3\n"
        '[[campaigns]]\nfile = "lax.toml"\n[[campaigns]]\nfile = "none.toml"\n'
        '[[campaigns]]\nfile = "strict.toml"\n'
    )
    result = check_config_here(str(path))
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning:" in line]
    assert warnings == [
        f"{path}: warning: {tmp_path / 'lax.toml'}: max calls per number per day lowered to 3"
        " (daemon [compliance])",
        f"{path}: warning: {tmp_path / 'none.toml'}: max calls per number per day set to 3"
        " (daemon [compliance])",
    ]
    assert "at most 3 calls per number in 24 h" in result.stdout


def test_a_campaign_file_name_that_cannot_be_a_new_campaign_is_warned_about(
    tmp_path: Path,
) -> None:
    """Not an error: this check runs before every start, and a campaign stored under the name
    before keeps working; the daemon refuses only to create it."""
    (tmp_path / "c.toml").write_text('name = "2026"\n[[tasks]]\nname = "call"\ntype = "call"\n')
    path = tmp_path / "dialerd.toml"
    path.write_text(
        '[[asterisk]]\nname = "pbx1"\nusername = "u"\nsecret = "s"\n'
        '[[campaigns]]\nfile = "c.toml"\n'
    )
    result = check_config_here(str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}: warning: campaign '2026' is not allowed: " in result.stderr
    assert "not only digits" in result.stderr
