"""Tokens, principals and the role matrix of the REST API (no HTTP)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import SecretStr

import dialerd.api.auth as auth_module
from dialerd.api.auth import MATRIX, Permission, Principal, Role, TokenGrant, TokenTable

GRANTS = [
    TokenGrant("ops", Role.ADMIN, "a" * 20),
    TokenGrant("desk", Role.AGENT, "b" * 20, agent="agent-7"),
]


def test_token_lookup() -> None:
    table = TokenTable(GRANTS)
    assert table.principal("a" * 20) == Principal("ops", Role.ADMIN)
    assert table.principal("b" * 20) == Principal("desk", Role.AGENT, "agent-7")
    assert table.principal("a" * 19) is None
    assert table.principal("") is None


def test_grant_needs_agent_exactly_for_agent_role() -> None:
    with pytest.raises(ValueError, match="agent tokens"):
        TokenGrant("x", Role.AGENT, "t" * 20)
    with pytest.raises(ValueError, match="agent tokens"):
        TokenGrant("x", Role.SUPERVISOR, "t" * 20, agent="agent-1")


def test_secret_never_in_repr() -> None:
    grant = TokenGrant("ops", Role.ADMIN, "super-secret-value-123")
    assert "super-secret" not in repr(grant)
    assert "super-secret" not in str(grant)


def test_from_config_entry() -> None:
    entry = SimpleNamespace(name="desk", role="agent", agent="agent-1", token=SecretStr("c" * 20))
    grant = TokenGrant.from_config(entry)
    assert (grant.name, grant.role, grant.agent, grant.token) == (
        "desk",
        Role.AGENT,
        "agent-1",
        "c" * 20,
    )


def test_agent_acts_only_for_itself() -> None:
    agent = Principal("desk", Role.AGENT, "agent-7")
    assert agent.may_act_for("agent-7")
    assert not agent.may_act_for("agent-8")
    assert Principal("floor", Role.SUPERVISOR).may_act_for("agent-8")
    assert not Principal("wall", Role.READONLY).may_act_for("agent-8")
    assert agent.actor == "api:desk"


def _documented_matrix() -> dict[str, dict[str, str]]:
    """The table in dialerd.api.auth's docstring: row label -> role -> yes/no/own/own*."""
    doc = auth_module.__doc__ or ""
    lines = [ln for ln in doc.splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if ln.startswith("action"))
    rows: dict[str, dict[str, str]] = {}
    label = ""
    for ln in lines[start + 2 :]:
        if ln.startswith("===="):
            break
        cells = ln[49:].split()
        text = ln[:49].strip()
        if cells:
            label = text
            rows[label] = dict(
                zip(["admin", "supervisor", "agent", "readonly"], cells, strict=True)
            )
        else:  # continuation of the label
            rows[f"{label} {text}"] = rows.pop(label)
            label = f"{label} {text}"
    return rows


def test_docstring_matrix_is_the_enforced_one() -> None:
    doc = _documented_matrix()
    by_label = {
        "read anything (every GET)": Permission.READ,
        "agent login/logout/pause, disposition, preview": Permission.AGENT_OPS,
        "leads: next, reserve, notes, close, call": Permission.AGENT_OPS,
        "contacts: add, change, delete, move, bulk edit": Permission.CONTACTS,
        "imports (upload)": Permission.IMPORTS,
        "do-not-call: add": Permission.DNC_ADD,
        "campaign status (enabled/disabled/automatic), a campaign's predefined notes (PUT"
        " work/...)": Permission.CAMPAIGN_STATUS,
        "campaign definitions: create, change, schedule, tasks, taskflow rules": (
            Permission.CAMPAIGN_DEFINE
        ),
        "do-not-call: remove": Permission.DNC_REMOVE,
    }
    assert set(doc) == set(by_label)
    assert set(by_label.values()) == set(Permission)
    for label, permission in by_label.items():
        allowed = {Role(r) for r, v in doc[label].items() if v in ("yes", "own", "own*")}
        assert MATRIX[permission] == allowed, label
