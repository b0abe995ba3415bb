"""Loading the daemon configuration: what an operator gets for good and bad files."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.config import ConfigError, DaemonConfig, load_config
from dialerd.config.types import parse_seconds
from dialerd.domain.enums import CallResult

MINIMAL = """
[[asterisk]]
name = "pbx1"
username = "dialerd"
secret = "s3cret"
"""


def write(tmp_path: Path, text: str, name: str = "dialerd.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    assert all(line.startswith(f"{path}: ") for line in str(info.value).splitlines())
    return [str(p) for p in info.value.problems]


def test_minimal_file_gets_documented_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), env={})
    assert isinstance(config, DaemonConfig)
    server = config.asterisk[0]
    assert (server.host, server.port, server.dead_peer_timeout) == ("127.0.0.1", 5038, 10.0)
    assert config.engine.tick == 1.0 and config.engine.drain_timeout == 60.0
    c = config.compliance
    assert c.calling_hours_guard is True
    assert (c.calling_hours_start.hour, c.calling_hours_end.hour) == (8, 21)
    assert c.abandonment_target == 0.03 and c.connect_limit == 2.0
    assert c.abandon_hold_off == 72 * 3600
    assert config.logging.format == "auto"
    assert config.mqtt.enabled is False
    assert config.source == tmp_path / "dialerd.toml"


def test_errors_name_file_key_and_problem(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[asterisk]]
        name = "pbx1"
        username = "dialerd"
        secret = "x"
        prot = 5038
        port = 70000

        [engine]
        tick = "soon"

        [logging]
        level = "verbose"
        """,
    )
    found = problems(path)
    assert any(p.startswith("asterisk[0].port: ") and "65535" in p for p in found)
    assert "asterisk[0].prot: unknown key (did you mean 'port'?)" in found
    assert any(p.startswith("engine.tick: ") and "'soon' is not a duration" in p for p in found)
    assert any(p.startswith("logging.level: ") for p in found)


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "[[asterisk]]\nname = pbx1\n")
    (problem,) = problems(path)
    assert "TOML syntax error" in problem and "line 2" in problem and "column" in problem


def test_missing_file(tmp_path: Path) -> None:
    assert problems(tmp_path / "nope.toml") == ["file does not exist"]


def test_at_least_one_asterisk_server_is_required(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "[store]\n")) == ["asterisk: required key is missing"]


def test_cross_references_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
        [[agents]]
        name = "anna"
        interface = "PJSIP/101"
        server = "pbx9"
        """,
    )
    (problem,) = problems(path)
    assert problem.startswith("agents[0].server: no [[asterisk]] server is named 'pbx9'")


def test_duplicate_names_and_interfaces(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
        [[agents]]
        name = "anna"
        interface = "PJSIP/101"
        [[agents]]
        name = "anna"
        interface = "PJSIP/102"
        """,
    )
    assert problems(path) == ["agents[1].name: agent name 'anna' is used twice"]


def test_names_that_would_break_topics_and_labels_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
        [[agents]]
        name = "anna/+"
        interface = "PJSIP 101"
        """,
    )
    found = problems(path)
    assert any(p.startswith("agents[0].name: 'anna/+' is not a name") for p in found)
    assert any(p.startswith("agents[0].interface: must be a channel") for p in found)


def test_agent_token_must_name_a_known_agent(tmp_path: Path) -> None:
    token = """
        [[api.tokens]]
        name = "desk"
        role = "agent"
        token = "0123456789abcdef0123"
    """
    assert problems(write(tmp_path, MINIMAL + token)) == [
        "api.tokens[0].agent: an agent token must name its agent"
    ]
    bound = token + 'agent = "zoe"\n'
    assert problems(write(tmp_path, MINIMAL + bound)) == [
        "api.tokens[0].agent: no [[agents]] entry is named 'zoe'"
    ]


def test_inconsistent_watchdog_and_calling_hours(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        MINIMAL
        + """
        ping_interval = "10s"
        dead_peer_timeout = "5s"
        [compliance]
        calling_hours_start = "21:00"
        calling_hours_end = "08:00"
        abandonment_windows = ["day", "fortnight"]
        """,
    )
    found = problems(path)
    assert any(p.startswith("asterisk[0].dead_peer_timeout: must be longer") for p in found)
    assert any(p.startswith("compliance.abandonment_windows[1]: 'fortnight'") for p in found)


def test_compliance_windows_are_the_ones_the_engine_holds(tmp_path: Path) -> None:
    # "week", "month" and other rolling lengths were accepted and then never applied
    path = write(
        tmp_path,
        MINIMAL + '[compliance]\nabandonment_windows = ["hour", "week", "30d", "24h"]\n',
    )
    assert problems(path) == [
        "compliance.abandonment_windows[1]: 'week' is not an abandonment window: use hour,"
        " day or rolling_30d (or 30d)",
    ]


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("0", "Input should be greater than or equal to 1 (got 0)"),
        ("101", "Input should be less than or equal to 100 (got 101)"),
        ("true", "Input should be a valid integer (got True)"),
        ('"3"', "Input should be a valid integer (got '3')"),
        ("2.5", "Input should be a valid integer"),
    ],
)
def test_a_bad_calls_per_number_cap_is_refused_naming_the_key(
    tmp_path: Path, value: str, why: str
) -> None:
    # a cap of a law: `true` or "3" must not pass as 1 or 3 calls by a lax conversion
    path = write(tmp_path, MINIMAL + f"[compliance]\nmax_calls_per_day = {value}\n")
    found = problems(path)
    assert len(found) == 1 and found[0].startswith(f"compliance.max_calls_per_day: {why}"), found


def test_campaign_file_must_exist_and_glob_may_match_none(tmp_path: Path) -> None:
    (tmp_path / "campaigns").mkdir()
    (tmp_path / "campaigns" / "a.toml").write_text("")
    (tmp_path / "campaigns" / "b.toml").write_text("")
    ok = MINIMAL + '[[campaigns]]\nglob = "campaigns/*.toml"\n[[campaigns]]\nglob = "none/*.toml"\n'
    config = load_config(write(tmp_path, ok), env={})
    assert config.campaign_paths() == [
        tmp_path / "campaigns" / "a.toml",
        tmp_path / "campaigns" / "b.toml",
    ]
    bad = MINIMAL + '[[campaigns]]\nfile = "campaigns/c.toml"\n'
    (problem,) = problems(write(tmp_path, bad))
    assert problem.startswith("campaigns[0].file: campaign file") and "c.toml" in problem


def test_retry_section_maps_to_the_domain_policy(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + '[retry]\nbusy = { delay = "2m", max_attempts = 4 }\n')
    policy = load_config(path, env={}).retry.to_domain()
    assert policy.rules[CallResult.BUSY].delay.total_seconds() == 120
    assert policy.rules[CallResult.BUSY].max_attempts == 4
    assert CallResult.CONNECTED not in policy.rules
    assert CallResult.INVALID_NUMBER not in policy.rules


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("72h", 259200), ("1h30m", 5400), (15, 15.0)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_seconds(text) == seconds


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "nan", "-5", "5 parsecs", True])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_seconds(bad)


@given(st.text(max_size=12))
def test_duration_parser_never_fails_with_anything_but_a_value_error(text: str) -> None:
    try:
        value = parse_seconds(text)
    except ValueError:
        return
    assert isinstance(value, float) and value >= 0


def test_upload_limit_is_a_setting_with_units(tmp_path: Path) -> None:
    default = load_config(write(tmp_path, MINIMAL), env={})
    assert default.api.max_upload_size == 1 << 30
    config = load_config(write(tmp_path, MINIMAL + '[api]\nmax_upload_size = "200MiB"\n'), env={})
    assert config.api.max_upload_size == 200 << 20
    path = write(tmp_path, MINIMAL + '[api]\nmax_upload_size = "lots"\n')
    assert any("api.max_upload_size" in p for p in problems(path))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"11s"', "less than or equal to 10"),
        ("-1", "between 0 and"),
        ('"soon"', "'soon' is not a duration"),
    ],
)
def test_post_dial_delay_is_0_to_10_seconds(tmp_path: Path, value: str, why: str) -> None:
    path = write(tmp_path, MINIMAL + f"post_dial_delay = {value}\n")
    (problem,) = problems(path)
    assert problem.startswith("asterisk[0].post_dial_delay: ") and why in problem, problem
    config = load_config(write(tmp_path, MINIMAL + 'post_dial_delay = "10s"\n'), env={})
    assert config.asterisk[0].post_dial_delay == 10.0


def test_dial_template_is_set_in_the_file_for_the_daemon_and_per_server(tmp_path: Path) -> None:
    """The Originate channel of a number (the trunk) came only from ``EngineSettings`` in
    code: a production daemon dialled ``Local/<number>@sim-callees``. It is ``[engine]
    dial_template`` now, and ``[[asterisk]] dial_template`` for a server with its own trunk."""
    from dialerd.daemon.app import engine_settings

    text = (
        MINIMAL
        + 'dial_template = "PJSIP/{digits}@carrier-b"\n'
        + '[[asterisk]]\nname = "pbx2"\nusername = "dialerd"\nsecret = "x"\n'
        + '[engine]\ndial_template = "PJSIP/{digits}@carrier-a"\n'
    )
    config = load_config(write(tmp_path, text), env={})
    settings = engine_settings(config, journal=None)
    assert settings.dial_string("+49301234567", "pbx2") == "PJSIP/49301234567@carrier-a"
    assert settings.dial_string("+49301234567", "pbx1") == "PJSIP/49301234567@carrier-b"
    default = engine_settings(load_config(write(tmp_path, MINIMAL), env={}), journal=None)
    assert default.dial_string("+49301234567", "pbx1") == "Local/+49301234567@sim-callees"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ('"PJSIP/trunk"', "must contain {number} or {digits}"),
        ('"PJSIP/{phone}@trunk"', "names {phone}: only {number}"),
        ('"PJSIP/{digits:>12}@trunk"', "takes no format spec"),
        ('"PJSIP/{digits@trunk"', "is not a valid template"),
        ('"PJSIP/{digits}@trunk\\r\\nAction: Hangup"', "line breaks"),
        ('"PJSIP/{digits} @trunk"', "spaces"),
        ('"{digits}@trunk"', "must begin with a channel technology"),
    ],
)
def test_a_bad_dial_template_is_refused_naming_file_and_key(
    tmp_path: Path, value: str, why: str
) -> None:
    path = write(tmp_path, MINIMAL + f"[engine]\ndial_template = {value}\n")
    (problem,) = problems(path)  # the file is in every line (problems() checks it)
    assert problem.startswith("engine.dial_template: ") and why in problem, problem
    path = write(tmp_path, MINIMAL + f"dial_template = {value}\n")
    (problem,) = problems(path)
    assert problem.startswith("asterisk[0].dial_template: ") and why in problem, problem
