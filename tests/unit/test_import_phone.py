"""Phone numbers to E.164: the fast path must agree with phonenumbers' own parser."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from dialerd.domain.phone import (
    ZONE_SET_PREFIX,
    InvalidPhone,
    PhoneNormalizer,
    _number_type,
    normalize_phone,
    zones_of,
)
from dialerd.taskflow.calling_hours import inside


def reference(raw: str, region: str) -> tuple[str, object] | None:
    """What phonenumbers says, the slow documented way."""
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    zones = tuple(pn_timezone.time_zones_for_number(num))
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    if zones[0] == pn_timezone.UNKNOWN_TIMEZONE:
        return e164, None
    # zones whose clocks differ: the whole set (the guard calls only while all are in hours)
    return e164, zones if len({_clocks(z) for z in zones}) > 1 else zones[0]


def _clocks(zone: str) -> tuple[object, ...]:
    probes = (datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC))
    return tuple(at.astimezone(ZoneInfo(zone)).utcoffset() for at in probes)


def ours(raw: str, region: str) -> tuple[str, object] | None:
    try:
        e164, zone = PhoneNormalizer(region).normalize(raw)
    except InvalidPhone:
        return None
    return e164, (zones_of(zone) if zone and zone.startswith(ZONE_SET_PREFIX) else zone)


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


@settings(max_examples=400, deadline=None)
@given(
    cc=st.sampled_from(COUNTRY_CODES),
    national=st.text(alphabet="0123456789", min_size=2, max_size=13),
    sep=st.sampled_from(["", " ", "-", "."]),
)
def test_international_input_agrees_with_phonenumbers(cc: int, national: str, sep: str) -> None:
    raw = f"+{cc}{sep}{national}"
    assert ours(raw, "DE") == reference(raw, "DE")


@settings(max_examples=200, deadline=None)
@given(
    region=st.sampled_from(["DE", "US", "GB", "FR", "AT", "CH", "IT", "BR", "IN"]),
    national=st.text(alphabet="0123456789 -/()", min_size=3, max_size=16),
)
def test_national_input_agrees_with_phonenumbers(region: str, national: str) -> None:
    assert ours(national, region) == reference(national, region)


@pytest.mark.parametrize(
    ("raw", "region", "e164", "zone"),
    [
        ("030 1234567", "DE", "+49301234567", "Europe/Berlin"),
        ("+49 (0)30 1234567", "DE", "+49301234567", "Europe/Berlin"),
        ("0049 89 12345678", "DE", "+498912345678", "Europe/Berlin"),
        ("+1 (212) 555-2368", "DE", "+12125552368", "America/New_York"),
        ("(312) 555-2368", "US", "+13125552368", "America/Chicago"),
        ("+39 06 1234 5678", "DE", "+390612345678", "Europe/Rome"),  # Italian leading zero
        ("+44 20 7946 0958", "DE", "+442079460958", "Europe/London"),
    ],
)
def test_known_numbers(raw: str, region: str, e164: str, zone: str) -> None:
    assert PhoneNormalizer(region).normalize(raw) == (e164, zone)


def test_a_number_spanning_zones_gets_them_all_and_is_called_only_when_all_are_in_hours() -> None:
    # A Russian mobile may be anywhere from Kaliningrad to Kamchatka (the audit's case: it was
    # stored as Asia/Almaty, 19:08 there, and dialed at midnight in Vladivostok).
    zone = PhoneNormalizer("DE").normalize("+7 914 123 45 67")[1]
    assert zone == "zones:+7"
    assert {"Asia/Vladivostok", "Europe/Moscow", "Asia/Almaty"} <= set(zones_of(zone))
    at = datetime(2026, 12, 7, 14, 8, tzinfo=UTC)  # 19:08 Almaty, 00:08 Vladivostok
    assert inside(at, "Asia/Almaty", time(8), time(21))
    assert not inside(at, zone, time(8), time(21))
    noon_moscow = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 05:00 Moscow, 12:00 Vladivostok
    assert not inside(noon_moscow, zone, time(8), time(21))
    # a US toll-free number: the whole continent, Hawaii to Newfoundland
    assert PhoneNormalizer("US").normalize("+1 800 234 5678")[1] == "zones:+1"
    # an area code in one zone keeps that zone; several zones with one clock keep the first
    assert PhoneNormalizer("US").normalize("+1 212 555 1234")[1] == "America/New_York"
    assert PhoneNormalizer("DE").normalize("+49 30 1234567")[1] == "Europe/Berlin"
    # an unknown zone set is never within hours
    assert not inside(at, "zones:+999", time(0), time(23, 59))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [("12", "not a valid number"), ("hello", "not a phone number"), ("+999 1234567", "unknown")],
)
def test_unusable_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(InvalidPhone, match=reason):
        PhoneNormalizer("DE").normalize(raw)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("4930123456.0", "DE"),  # was +49301234560: the .0 became a digit
        ("030123456.0", "DE"),
        ("4.930123456E9", "DE"),  # was +49301234569
        ("4,93012E+09", "DE"),  # a German spreadsheet's exponent notation
        ("2125552368.0", "US"),
    ],
)
def test_numbers_exported_as_floats_are_refused_not_misread(raw: str, region: str) -> None:
    with pytest.raises(InvalidPhone, match="looks like a number exported as a float"):
        PhoneNormalizer(region).normalize(raw)
    # Dots as separators are still separators.
    assert normalize_phone("212.555.2368", "US") == "+12125552368"


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown region"):
        PhoneNormalizer("XX")


def test_normalize_phone_for_one_off_numbers() -> None:
    assert normalize_phone("030 1234567") == "+49301234567"
    assert normalize_phone("(212) 555-2368", "US") == "+12125552368"


@settings(max_examples=400, deadline=None)
@given(
    cc=st.sampled_from(COUNTRY_CODES),
    national=st.text(alphabet="0123456789", min_size=2, max_size=15),
)
def test_number_type_agrees_with_phonenumbers(cc: int, national: str) -> None:
    num = phonenumbers.PhoneNumber(country_code=cc, national_number=int(national))
    nsn = phonenumbers.national_significant_number(num)
    assert _number_type(cc, nsn) == phonenumbers.number_type(num)


@pytest.mark.parametrize("region", ["US", "CA", "GB", "RU", "KZ", "IT", "VA", "FI"])
def test_number_type_for_shared_country_codes(region: str) -> None:
    for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        nsn = phonenumbers.national_significant_number(example)
        assert example.country_code is not None
        assert _number_type(example.country_code, nsn) == phonenumbers.number_type(example)
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        assert ours(e164, "DE") == reference(e164, "DE")
