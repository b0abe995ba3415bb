"""The simulator's callee/agent models: forced prefixes, seeded statistics, config checks."""

from __future__ import annotations

import statistics
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialerd.sim.channels import parse_callerid
from dialerd.sim.model import (
    AgentModel,
    AgentProfile,
    AmdVoice,
    CalleeKind,
    CalleeModel,
    agent_exten,
    attempt_rng,
    callee_number,
    lognormal,
    plan_callee,
)

MODEL = CalleeModel()


@pytest.mark.parametrize(
    ("number", "kind", "ring", "voice"),
    [
        ("555010004", CalleeKind.ANSWER, 2.0, AmdVoice.SILENT),
        ("555020005", CalleeKind.BUSY, 0.0, AmdVoice.SILENT),
        ("555030006", CalleeKind.NO_ANSWER, 0.0, AmdVoice.SILENT),
        ("555040007", CalleeKind.CONGESTION, 0.0, AmdVoice.SILENT),
        ("555050015", CalleeKind.ANSWER, 0.0, AmdVoice.MACHINE),
        ("555060008", CalleeKind.INVALID, 0.0, AmdVoice.SILENT),
        ("555070010", CalleeKind.ANSWER, 0.0, AmdVoice.SILENT),
        ("555080015", CalleeKind.ANSWER, 2.0, AmdVoice.HELLO),
    ],
)
def test_recorded_prefixes_force_their_outcome(
    number: str, kind: CalleeKind, ring: float, voice: AmdVoice
) -> None:
    for attempt in (1, 2, 3):
        plan = plan_callee(number, MODEL, seed=attempt, attempt=attempt)
        assert (plan.kind, plan.ring_time, plan.voice) == (kind, ring, voice)


def test_recorded_talk_times() -> None:
    assert plan_callee("555010004", MODEL, 0, 1).talk_time == pytest.approx(20.0, abs=0.1)
    assert plan_callee("555070010", MODEL, 0, 1).talk_time == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("number", ["12345", "555091234", "55501123", "555010004x", "abc", ""])
def test_numbers_without_an_extension_have_no_route(number: str) -> None:
    assert plan_callee(number, MODEL, 0, 1).kind is CalleeKind.NO_ROUTE


@given(
    number=st.from_regex(r"\+49\d{9,12}", fullmatch=True),
    seed=st.integers(0, 2**32),
    attempt=st.integers(1, 20),
)
def test_e164_plan_depends_only_on_seed_number_and_attempt(
    number: str, seed: int, attempt: int
) -> None:
    assert plan_callee(number, MODEL, seed, attempt) == plan_callee(number, MODEL, seed, attempt)
    assert plan_callee(number, MODEL, seed, attempt).kind is not CalleeKind.NO_ROUTE


def test_e164_shares_follow_the_configured_model() -> None:
    model = CalleeModel(answer=0.4, busy=0.2, congestion=0.1, invalid=0.1, machine=0.25)
    plans = [plan_callee(f"+4930{i:08d}", model, 1, 1) for i in range(8000)]
    kinds = Counter(p.kind for p in plans)
    share = {k: v / len(plans) for k, v in kinds.items()}
    assert share[CalleeKind.ANSWER] == pytest.approx(0.4, abs=0.03)
    assert share[CalleeKind.BUSY] == pytest.approx(0.2, abs=0.03)
    assert share[CalleeKind.CONGESTION] == pytest.approx(0.1, abs=0.02)
    assert share[CalleeKind.INVALID] == pytest.approx(0.1, abs=0.02)
    assert share[CalleeKind.NO_ANSWER] == pytest.approx(0.2, abs=0.03)
    answered = [p for p in plans if p.kind is CalleeKind.ANSWER]
    machines = sum(p.voice is AmdVoice.MACHINE for p in answered) / len(answered)
    assert machines == pytest.approx(0.25, abs=0.04)
    humans = [p for p in answered if p.voice is not AmdVoice.MACHINE]
    assert statistics.mean(p.ring_time for p in humans) == pytest.approx(8.0, rel=0.1)
    assert statistics.mean(p.talk_time for p in humans) == pytest.approx(60.0, rel=0.1)


def test_other_seed_gives_other_plans() -> None:
    a = [plan_callee(f"+4930{i:08d}", MODEL, 1, 1).kind for i in range(200)]
    b = [plan_callee(f"+4930{i:08d}", MODEL, 2, 1).kind for i in range(200)]
    assert a != b


def test_lognormal_has_the_requested_moments() -> None:
    rng = attempt_rng(0, "x", 1)
    xs = [lognormal(rng, 10.0, 5.0) for _ in range(20000)]
    assert statistics.mean(xs) == pytest.approx(10.0, rel=0.05)
    assert statistics.stdev(xs) == pytest.approx(5.0, rel=0.1)
    assert min(xs) > 0


@pytest.mark.parametrize(
    "bad",
    [
        {"answer": 0.8, "busy": 0.3},
        {"busy": -0.1},
        {"machine": 1.5},
    ],
)
def test_invalid_model_is_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CalleeModel(**bad)


def test_agent_model_profiles() -> None:
    model = AgentModel(
        ring_delay=2.0,
        per_agent={"agent-7": AgentProfile(ring_delay=0.5, no_answer_probability=0.3)},
    )
    assert model.profile("Local/agent-1@sim-agents") == AgentProfile(2.0, 0.0)
    assert model.profile("Local/agent-7@sim-agents") == AgentProfile(0.5, 0.3)
    assert model.profile("Local/rna-agent-1@sim-agents").no_answer_probability == 1.0
    assert agent_exten("Local/agent-7@sim-agents") == "agent-7"
    assert agent_exten("PJSIP/101") == "101"


def test_dial_strings_and_caller_ids() -> None:
    assert callee_number("Local/555010004@sim-callees") == ("555010004", "sim-callees")
    assert callee_number("Local/+4930123@sim-callees/n") == ("+4930123", "sim-callees")
    assert callee_number("PJSIP/101") is None
    assert parse_callerid('"Dialer" <0212345678>') == ("0212345678", "Dialer")
    assert parse_callerid("0212345678") == ("0212345678", "<unknown>")
    assert parse_callerid("") == ("<unknown>", "<unknown>")
