""" "Did you mean" for a misspelt key of a TOML table read into a pydantic model.

Shared by the daemon configuration and the campaign files, so a typo gets the same help in both.
"""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel


def known_keys(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The keys (aliases where set) of the table at ``loc`` under ``model``."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        is_model = isinstance(current, type) and issubclass(current, BaseModel)
        field = _field(current, str(part)) if is_model else None
        if field is None:
            return []
        ann = field.annotation
        candidates = [ann, *getattr(ann, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if current is None:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items() if n != "source"]
    return []


def _field(model: type[BaseModel], key: str) -> Any:
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            return field
    return None


def unknown_key(model: type[BaseModel], loc: tuple[int | str, ...]) -> str:
    """The message for the unknown key at ``loc``, with the closest known key if any."""
    close = difflib.get_close_matches(str(loc[-1]), known_keys(model, loc[:-1]), n=1)
    return "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")


def one_name(data: Any, name: str, old: str) -> Any:
    """For a model's ``mode="before"`` validator: ``old`` is an older name of key ``name``
    (the field takes both, ``AliasChoices(name, old)``). A client moving to the new name may
    send both for a while: the same value is taken once, different values are refused."""
    if isinstance(data, dict) and name in data and old in data:
        if data[name] != data[old]:
            raise ValueError(f"{name!r} and its old name {old!r} differ: give one of them")
        data = {k: v for k, v in data.items() if k != old}
    return data
