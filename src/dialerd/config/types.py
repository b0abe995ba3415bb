"""Value types of the configuration file: durations and names.

Durations are written the way operators think of them (``"72h"``, ``"500ms"``, ``"1h30m"``) or
as plain seconds, with the same parser campaign files use; the program sees float seconds
(base units, like the metrics).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator

from dialerd.domain.campaign_spec import parse_duration
from dialerd.domain.phone import dial_template_problem


def parse_seconds(value: Any) -> Any:
    """Turn ``"1h30m"``/``"500ms"``/``90`` into float seconds; leave other types to pydantic."""
    if isinstance(value, bool | int | float | str):
        return parse_duration(value).total_seconds()
    return value


Seconds = Annotated[float, BeforeValidator(parse_seconds)]
"""A duration in seconds, written as a number or as ``"30s"``, ``"5m"``, ``"72h"``."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def check_name(value: str) -> str:
    value = value.strip()
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a name: 1-64 letters, digits, '_', '.', '-' (no spaces or '/')"
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]
"""Names of servers, agents, campaigns and tokens: they appear in metric labels and MQTT topics,
so no spaces, slashes or MQTT wildcards."""


def check_dial_template(value: str) -> str:
    problem = dial_template_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} {problem}")
    return value


DialTemplate = Annotated[str, AfterValidator(check_dial_template)]
"""The Originate channel of a number: ``{number}`` (E.164 as stored) or ``{digits}`` (without
``+``) in a channel such as ``PJSIP/{digits}@trunk`` (checked: no spaces or line breaks, no
other field)."""
