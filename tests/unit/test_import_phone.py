"""Phone numbers to E.164: the fast path must agree with phonenumbers' own parser."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import timezone as pn_timezone

from dialerd.domain.phone import InvalidPhone, PhoneNormalizer, _number_type, normalize_phone


def reference(raw: str, region: str) -> tuple[str, str | None] | None:
    """What phonenumbers says, the slow documented way."""
    try:
        num = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    zone = pn_timezone.time_zones_for_number(num)[0]
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return e164, (None if zone == pn_timezone.UNKNOWN_TIMEZONE else zone)


def ours(raw: str, region: str) -> tuple[str, str | None] | None:
    try:
        return PhoneNormalizer(region).normalize(raw)
    except InvalidPhone:
        return None


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


def test_number_spanning_zones_gets_the_first_zone_deterministically() -> None:
    # A US toll-free number belongs to the whole country: several candidate zones.
    num = phonenumbers.parse("+18002345678")
    candidates = pn_timezone.time_zones_for_number(num)
    assert len(candidates) > 1
    assert PhoneNormalizer("US").normalize("+1 800 234 5678")[1] == candidates[0]


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
