"""What a contact's editable values may be, checked the same way wherever they are written.

The API's bodies, the bulk edit (API and ``dialerd edit``) and the store's own guard call these,
so a value refused in one place is not stored through another: an unknown time zone makes a
contact undialable for good, an over-long name fails a PostgreSQL write, and a non-finite number
is stored as JSON no reader can parse.
"""

from __future__ import annotations

import math
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dialerd.domain.contact_import import MAX_FIELD_VALUE, MAX_LENGTH
from dialerd.domain.phone import ZONE_SET_PREFIX, zones_of
from dialerd.domain.selection import split_field

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_CUSTOM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,63}")

#: Whole numbers in custom fields fit a signed 64-bit integer, as every JSON reader here needs.
_INT_RANGE = (-(2**63), 2**63 - 1)


def check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    if value.startswith(ZONE_SET_PREFIX):  # as dialerd derives it for a multi-zone number
        if not zones_of(value):
            raise ValueError(f"unknown zone set {value!r}")
        return value
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (an IANA name like 'Europe/Berlin')"
        ) from None
    return value


def check_email(value: str | None) -> str | None:
    if value is not None and value != "" and not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address")
    return value or None


def check_custom_name(name: str) -> str:
    """Custom field names as the importer accepts them, so every writer uses the same keys."""
    if not _CUSTOM_NAME.fullmatch(name):
        raise ValueError(f"custom field name {name!r}: 1-64 letters, digits, '_', '-', '.', spaces")
    return name


def check_custom_value(name: str, value: Any) -> Any:
    """A custom field's value: text, a finite number, true/false or ``None`` (removes it)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise ValueError(f"custom field {name!r}: {value} is out of the 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"custom field {name!r}: {value} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_FIELD_VALUE:
            raise ValueError(
                f"custom field {name!r}: {len(value)} characters, at most {MAX_FIELD_VALUE}"
            )
        return value
    raise ValueError(f"custom field {name!r}: a {type(value).__name__} is not a field value")


#: The standard attributes a bulk edit may set; the others are the taskflow's or the dialer's.
EDITABLE = frozenset(
    {"first_name", "last_name", "company", "email", "timezone", "external_id", "list_name"}
)


def check_standard_value(name: str, value: Any) -> Any:
    """An editable standard attribute (``first_name``, ``email``, ``timezone`` ...)."""
    if name not in EDITABLE:
        raise ValueError(
            f"field {name!r} cannot be edited in bulk "
            f"(editable: {', '.join(sorted(EDITABLE))} or custom fields)"
        )
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected text, got {type(value).__name__}")
    limit = MAX_LENGTH.get(name)
    if limit is not None and len(value) > limit:
        raise ValueError(f"{name}: {len(value)} characters, at most {limit}")
    if name == "external_id" and not value:
        # As adding one requires: "" would be an id that every other "" also is.
        raise ValueError("external_id: at least 1 character (null removes it)")
    if name == "email":
        return check_email(value)
    if name == "timezone":
        return check_zone(value)
    return value


def check_edit(fields: dict[str, Any]) -> dict[str, Any]:
    """A bulk edit's ``field → value`` (standard attributes, custom fields by name or
    ``fields.name``), each value checked as a single contact's change would check it."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        custom, name = split_field(key)
        if custom:
            out[key] = check_custom_value(check_custom_name(name), value)
        else:
            out[key] = check_standard_value(name, value)
    return out


def is_detail_text(value: str) -> bool:
    """A status_detail's form, whoever sets it (an agent, the API, a webhook's receiver): 1 to
    100 characters (its column), no control characters."""
    return 0 < len(value) <= 100 and not any(ord(ch) < 32 for ch in value)
