"""The API's error shape: dotted field names from validation locations and messages."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dialerd.api.errors import ApiError, dotted, from_validation
from dialerd.domain.campaign_spec import CampaignSpec

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
parts = st.lists(st.one_of(names, st.integers(min_value=0, max_value=999)), max_size=6)


@given(parts)
def test_body_location_drops_body_and_joins(loc: list[int | str]) -> None:
    got = dotted(["body", *loc])
    if not loc:
        assert got is None
    else:
        assert got is not None
        assert got.split(".") == [str(p) for p in loc]


@given(st.sampled_from(["query", "path", "header"]), names)
def test_query_and_path_keep_their_kind(kind: str, name: str) -> None:
    assert dotted([kind, name]) == f"{kind}.{name}"


def test_prefix() -> None:
    assert dotted(["phone"], "contacts.3") == "contacts.3.phone"


def _spec_error(data: dict[str, object]) -> ApiError:
    try:
        CampaignSpec.model_validate(data)
    except ValidationError as exc:
        return from_validation(exc)
    raise AssertionError("expected a validation error")


def test_cross_reference_error_names_the_field_from_its_message() -> None:
    err = _spec_error(
        {
            "name": "x",
            "tasks": [{"name": "a", "type": "call"}],
            "rules": [{"from": "a", "status": "success", "to": "b"}],
        }
    )
    assert err.status == 422
    assert err.field == "rules.0.to"
    assert err.message.startswith("'b' is not a task")


def test_nested_error_field() -> None:
    err = _spec_error({"name": "x", "tasks": [{"name": "a", "type": "fax"}]})
    assert err.field == "tasks.0.type"


def test_unknown_key_message() -> None:
    err = _spec_error({"name": "x", "tasks": [{"name": "a", "type": "call"}], "speed": 3})
    assert (err.field, err.message) == ("speed", "unknown key")


def test_message_without_field_keeps_field_none() -> None:
    err = _spec_error(
        {"name": "x", "tasks": [{"name": "a", "type": "call"}], "schedule": {"status": "automatic"}}
    )
    assert err.field == "schedule"
    assert "periods" in err.message
