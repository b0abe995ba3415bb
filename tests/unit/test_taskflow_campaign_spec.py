"""Campaign definitions: the example loads; mistakes name the file and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.domain.campaign_spec import (
    CampaignSpec,
    CampaignSpecError,
    format_duration,
    load_campaign_spec,
    parse_duration,
)
from dialerd.domain.enums import CallResult, DialMode
from dialerd.domain.model import RetryPolicy, RetryRule, default_retry_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "campaigns" / "example.toml"

MINIMAL = 'name = "x"\n[[tasks]]\nname = "call"\ntype = "call"\n'


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_example_loads_with_its_settings() -> None:
    spec = load_campaign_spec(EXAMPLE)
    assert spec.dial.mode is DialMode.PREDICTIVE
    assert spec.dial.abandonment_target == pytest.approx(0.03)
    assert spec.retry_policy("call").rules[CallResult.BUSY].delay == timedelta(minutes=20)
    assert spec.retry_policy("recall").max_attempts == 2
    assert spec.abandon_hold_off == timedelta(hours=72)
    assert {r.to_task for r in spec.taskflow_rules()} >= {"success", "declined", "failed"}
    assert CampaignSpec.model_validate(spec.model_dump(mode="json", by_alias=True)) == spec


def test_defaults_of_a_minimal_campaign(tmp_path: Path) -> None:
    spec = load_campaign_spec(write(tmp_path, MINIMAL))
    assert spec.connect_limit == timedelta(seconds=2)
    assert spec.ring_timeout == timedelta(seconds=25)
    assert spec.dial.min_ring == timedelta(seconds=15)
    assert spec.calling_hours.enabled
    assert (spec.calling_hours.start.hour, spec.calling_hours.end.hour) == (8, 21)
    assert spec.first_task == "call"
    assert spec.queue_name == "dialerd-x"
    assert spec.wrapup.limit is None  # the daemon's [engine] wrapup
    assert spec.retry is None  # the daemon's [retry]


def test_retry_left_out_comes_from_the_daemon_retry_table(tmp_path: Path) -> None:
    daemon = RetryPolicy(
        {
            CallResult.BUSY: RetryRule(timedelta(minutes=2), 4),
            CallResult.NO_ANSWER: RetryRule(timedelta(minutes=45), 4),
            CallResult.ABANDONED: RetryRule(timedelta(hours=96), 2),
        },
        max_attempts=4,
    )
    # no retry anywhere: the daemon's table as it is (also as stored and read back)
    spec = load_campaign_spec(write(tmp_path, MINIMAL))
    assert spec.retry is None
    assert spec.retry_policy("call", daemon) == daemon
    stored = CampaignSpec.model_validate(spec.model_dump(mode="json", by_alias=True))
    assert stored.retry_policy("call", daemon) == daemon
    # without the daemon's: its documented defaults (config/dialerd.toml [retry])
    assert spec.retry_policy("call") == default_retry_policy()
    # a campaign setting only max_attempts keeps the daemon's rules
    spec = load_campaign_spec(write(tmp_path, MINIMAL + "[retry]\nmax_attempts = 7\n"))
    assert spec.retry_policy("call", daemon) == RetryPolicy(daemon.rules, max_attempts=7)
    # results replace the table (busy alone: no_answer becomes final), abandoned stays
    text = MINIMAL + '[retry.results.busy]\ndelay = "20m"\nmax_attempts = 3\n'
    policy = load_campaign_spec(write(tmp_path, text)).retry_policy("call", daemon)
    assert policy == RetryPolicy(
        {
            CallResult.ABANDONED: RetryRule(timedelta(hours=96), 2),
            CallResult.BUSY: RetryRule(timedelta(minutes=20), 3),
        },
        max_attempts=4,
    )


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ('ring_timeout = "10s"\n', "ring_timeout: ring_timeout must be between 15 s"),
        ('colour = "red"\n', "colour: unknown key"),
        ('[dial]\nmod = "predictive"\n', "dial.mod: unknown key (did you mean 'mode'?)"),
        ('[dial]\nmode = "fast"\n', "dial.mode:"),
        ('[dial]\nmin_ring = "10s"\n', "dial.min_ring: min_ring must be between 15 s"),
        ('timezone = "Mars/Base"\n', "timezone: unknown time zone 'Mars/Base'"),
        ('caller_ids = ["hello"]\n', "caller_ids: caller ID 'hello'"),
        ('abandon_hold_off = "soon"\n', "abandon_hold_off: 'soon' is not a duration"),
        (
            '[[rules]]\nfrom = "call"\nstatus = "success"\nto = "nowhere"\n',
            "rules.0.to: 'nowhere' is not a task",
        ),
        ('[schedule]\nstatus = "automatic"\n', "schedule: status 'automatic' needs"),
        ('[retry.results.abandoned]\ndelay = "1h"\n', "'abandoned' cannot be retried"),
        (
            '[[filter]]\nfield = "first_name"\nop = "in"\nvalue = 5\n',
            "filter.0: operator 'in' needs a list value",
        ),
        ('queue = "q\\r\\nAction: Originate"\n', "queue: queue 'q\\r\\nAction: Originate' is not"),
        ('queue = "two words"\n', "queue: queue 'two words' is not an Asterisk queue name"),
        ("[dial]\nmax_concurrent_calls = 100000000000000000000000\n", "dial.max_concurrent_calls"),
        ("[retry]\nmax_attempts = 1000\n", "retry.max_attempts"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, extra: str, needle: str) -> None:
    path = write(tmp_path, extra + MINIMAL if not extra.startswith("[") else MINIMAL + extra)
    with pytest.raises(CampaignSpecError) as info:
        load_campaign_spec(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert needle in message


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CampaignSpecError, match="not valid TOML"):
        load_campaign_spec(write(tmp_path, "name = \n"))
    with pytest.raises(CampaignSpecError, match="cannot read"):
        load_campaign_spec(tmp_path / "missing.toml")


def test_durations() -> None:
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("250ms") == timedelta(milliseconds=250)
    assert parse_duration(90) == timedelta(seconds=90)
    assert parse_duration("3d") == timedelta(days=3)
    for bad in ("", "h", "-5", "1x", True):
        with pytest.raises(ValueError):
            parse_duration(bad)


@given(st.integers(0, 10**7), st.sampled_from([0, 250, 500]))
def test_format_duration_round_trips(seconds: int, millis: int) -> None:
    d = timedelta(seconds=seconds, milliseconds=millis)
    assert parse_duration(format_duration(d)) == d


def _flow(tasks: str, rules: list[tuple[str, str, str]]) -> str:
    text = 'name = "x"\n[[tasks]]\nname = "call"\ntype = "call"\n' + tasks
    for frm, to, extra in rules:
        text += f'[[rules]]\nfrom = "{frm}"\nstatus = "success"\nto = "{to}"\n{extra}'
    return text


INSTANT = (
    '[[tasks]]\nname = "a"\ntype = "new_contact"\n[[tasks]]\nname = "b"\ntype = "new_contact"\n'
)
HOOK = '[[tasks]]\nname = "hook"\ntype = "webhook"\nsettings = { url = "http://127.0.0.1:9/x" }\n'


@pytest.mark.parametrize(
    ("tasks", "rules", "needle"),
    [
        # Two tasks that hand a contact on at once, back and forth: it would loop for ever.
        (INSTANT, [("a", "b", ""), ("b", "a", "")], "rules.0, rules.1 send a contact round a loop"),
        # A webhook that calls itself on success would post the same contact without end.
        (HOOK, [("call", "hook", ""), ("hook", "hook", "")], "rules.1 send a contact round"),
        (
            '[[tasks]]\nname = "w"\ntype = "wait"\nsettings = { duration = "0s" }\n',
            [("w", "w", "")],
            "(w -> w)",
        ),
    ],
)
def test_a_loop_that_never_waits_is_refused(
    tmp_path: Path, tasks: str, rules: list[tuple[str, str, str]], needle: str
) -> None:
    with pytest.raises(CampaignSpecError) as info:
        load_campaign_spec(write(tmp_path, _flow(tasks, rules)))
    assert needle in str(info.value)
    assert "give one of the rules a 'delay'" in str(info.value)


@pytest.mark.parametrize(
    ("tasks", "rules"),
    [
        (INSTANT, [("a", "b", ""), ("b", "a", 'delay = "1d"\n')]),  # a delay holds it
        (INSTANT, [("a", "b", ""), ("b", "call", ""), ("call", "a", "")]),  # so does a call
        (
            '[[tasks]]\nname = "w"\ntype = "wait"\nsettings = { duration = "7d" }\n' + HOOK,
            [("hook", "w", ""), ("w", "hook", "")],  # a weekly reminder
        ),
        (INSTANT, [("a", "b", ""), ("call", "a", "")]),  # no loop at all
    ],
)
def test_loops_that_hold_a_contact_are_allowed(
    tmp_path: Path, tasks: str, rules: list[tuple[str, str, str]]
) -> None:
    spec = load_campaign_spec(write(tmp_path, _flow(tasks, rules)))
    assert len(spec.rules) == len(rules)


def test_a_lost_outcome_is_retried_though_the_campaign_lists_only_callee_results(
    tmp_path: Path,
) -> None:
    """The AMI link lost mid-call (failed_unknown) is the dialer's loss: a campaign that lists
    its own results (busy only) must not make those contacts final."""
    text = MINIMAL + '[retry.results.busy]\ndelay = "20m"\nmax_attempts = 3\n'
    policy = load_campaign_spec(write(tmp_path, text)).retry_policy("call")
    assert policy.rules[CallResult.FAILED_UNKNOWN] == RetryRule(timedelta(minutes=15), 3)
    assert CallResult.NO_ANSWER not in policy.rules  # a callee result left out stays final
    own = text + '[retry.results.failed_unknown]\ndelay = "5m"\nmax_attempts = 1\n'
    policy = load_campaign_spec(write(tmp_path, own)).retry_policy("call")
    assert policy.rules[CallResult.FAILED_UNKNOWN] == RetryRule(timedelta(minutes=5), 1)
