"""Phone numbers to E.164, and the time zone a number belongs to.

Every layer that takes a number from a person (import files, the API, the DNC list) normalises it
here, so that the same number written two ways is one number everywhere.

Speed matters: an import of a million rows spends most of its time in ``phonenumbers.parse``.
Input that already looks like E.164 (``+`` and digits, after removing spaces and punctuation)
skips the parser: the country code is split off by the same rule ``phonenumbers`` uses, and the
number is still *validated* by ``phonenumbers`` against its country's patterns. Input whose
national part the parser could still rewrite (a national prefix written after the country code,
e.g. ``+49 030 ...``) takes the full parser, so both paths always agree (a property test checks
it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    is_number_type_geographical,
    national_significant_number,
    region_code_for_country_code,
)
from phonenumbers.timezone import UNKNOWN_TIMEZONE
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

__all__ = [
    "ZONE_SET_PREFIX",
    "InvalidPhone",
    "PhoneNormalizer",
    "normalize_phone",
    "zone_set_key",
    "zones_of",
]

# Characters people put into numbers that carry no meaning.
_PUNCTUATION = str.maketrans("", "", " \t-./()\u00a0\u2010\u2011\u2012\u2013\u2014")
_E164_LIKE = re.compile(r"\+[1-9][0-9]{5,15}")
# A number a spreadsheet wrote as a float: ``4930123456.0`` (a trailing ``.0``), ``4.93012E+09``
# (exponent notation). Left to the parser, the ``.0`` becomes a last digit and the exponent form
# loses digits: both give a valid-looking *wrong* number that would be dialled.
_FLOAT_EXPORT = re.compile(r"[0-9]{6,}[.,]0+|[0-9]+(?:[.,][0-9]+)?[eE][+-]?[0-9]{1,3}")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


class InvalidPhone(ValueError):
    """A number that cannot be dialled; the message says why, for a person."""


class PhoneNormalizer:
    """Normalises numbers for one default region (used for numbers written without ``+``).

    Keeps small per-country caches (metadata, compiled patterns, whether a fast path is safe),
    so one instance per import (per worker process) is the intended use.
    """

    def __init__(self, region: str = "DE") -> None:
        region = region.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {region!r} (expected an ISO 3166 code like DE, US)")
        self.region = region
        self._prefix_rule: dict[int, re.Pattern[str] | None] = {}
        self._national = _NationalRule.for_region(region)

    def normalize(self, raw: str) -> tuple[str, str | None]:
        """``(e164, time zone or None)``; raises :class:`InvalidPhone` with the reason.

        The time zone comes from ``phonenumbers.timezone``. A number whose area spans zones
        with different clocks (a US or Canadian mobile maps to the whole continent, a Russian
        mobile to eleven zones, a few area codes to two) gets its *zone set*
        (:func:`zone_set_key`, e.g. ``zones:+7``): the calling-hours guard then calls it only
        while it is within the hours in every one of them, since the person may be in any. A
        time-zone column, where the data has one, is more precise. Numbers with no known zone
        get ``None``; the calling-hours guard then uses the campaign's zone.
        """
        if ("." in raw or "," in raw or "e" in raw or "E" in raw) and _FLOAT_EXPORT.fullmatch(
            raw.strip()
        ):
            raise InvalidPhone(
                "looks like a number exported as a float (a '.0' at the end or an exponent, as a "
                "spreadsheet writes a cell formatted as a number), so its digits cannot be "
                "trusted: format the column as text and export the file again"
            )
        text = raw.translate(_PUNCTUATION)
        fast = self._international(text) if text[:1] == "+" else self._national_fast(text)
        if fast is None:
            num = self._parse(raw)
            cc = num.country_code or 0
            nsn = national_significant_number(num)
        else:
            cc, nsn = fast
        ntype = _number_type(cc, nsn)
        # The same test as phonenumbers.is_valid_number(): the number matches its region's
        # patterns for some type. Computing the type once serves validity and time zone.
        if ntype == PhoneNumberType.UNKNOWN:
            raise InvalidPhone("not a valid number")
        e164 = f"+{cc}{nsn}"
        if is_number_type_geographical(ntype, cc):
            key, zones = _geo_zones(cc, e164)
        else:
            key, zones = _country_zones(cc)
        if not zones or zones[0] == UNKNOWN_TIMEZONE:
            return e164, None
        return e164, (zone_set_key(key) if _apart(key, zones) else zones[0])

    def _international(self, text: str) -> tuple[int, str] | None:
        """``+`` and digits: split the country code the way the parser does."""
        if not _E164_LIKE.fullmatch(text):
            return None
        digits = text[1:]
        for n in (1, 2, 3):
            cc = int(digits[:n])
            if cc in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None  # let the parser word the error
        national = digits[n:]
        if len(national) < 2 or national[0] == "0" or self._parser_would_rewrite(cc, national):
            return None
        return cc, national

    def _national_fast(self, text: str) -> tuple[int, str] | None:
        rule = self._national
        if rule is None or not (3 <= len(text) <= 17 and text.isascii() and text.isdigit()):
            return None
        return rule.split(text)

    def _parser_would_rewrite(self, cc: int, national: str) -> bool:
        if cc not in self._prefix_rule:
            meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
                cc, region_code_for_country_code(cc)
            )
            pattern = meta.national_prefix_for_parsing if meta is not None else None
            self._prefix_rule[cc] = re.compile(pattern) if pattern else None
        rule = self._prefix_rule[cc]
        return rule is not None and rule.match(national) is not None

    def _parse(self, raw: str) -> PhoneNumber:
        try:
            return phonenumbers.parse(raw, self.region)
        except NumberParseException as exc:
            reason = _PARSE_REASONS.get(exc.error_type, "not a phone number")
            raise InvalidPhone(reason) from None


class _NationalRule:
    """Digits-only national input for regions whose national prefix is a plain digit string.

    Mirrors what ``phonenumbers.parse`` does with such input, and gives up (returns ``None``,
    so the parser decides) wherever the parser could do something else: an international
    call prefix (``00``), the region's own country code at the start, a number that would still
    be viable with its national prefix, a leading zero left over.
    """

    def __init__(self, cc: int, prefix: str, idd: re.Pattern[str], general: re.Pattern[str]):
        self.cc = cc
        self.cc_text = str(cc)
        self.prefix = prefix
        self.idd = idd
        self.general = general

    @classmethod
    def for_region(cls, region: str) -> _NationalRule | None:
        meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if meta is None or meta.country_code is None or meta.national_prefix_transform_rule:
            return None
        prefix = meta.national_prefix_for_parsing or ""
        if prefix and not prefix.isdigit():
            return None
        general = meta.general_desc.national_number_pattern if meta.general_desc else None
        if not meta.international_prefix or not general:
            return None
        return cls(
            meta.country_code, prefix, re.compile(meta.international_prefix), re.compile(general)
        )

    def split(self, text: str) -> tuple[int, str] | None:
        if self.idd.match(text) or text.startswith(self.cc_text):
            return None
        nsn = text
        if self.prefix and text.startswith(self.prefix):
            if self.general.fullmatch(text):
                return None
            nsn = text[len(self.prefix) :]
        if len(nsn) < 2 or nsn[0] == "0":
            return None
        return self.cc, nsn


_Desc = tuple[frozenset[int], re.Pattern[str]] | None


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern)


def _matches(desc: _Desc, nsn: str) -> bool:
    # phonenumbers' _is_number_matching_desc: possible lengths first, then a full match.
    if desc is None:
        return False
    lengths, pattern = desc
    if lengths and len(nsn) not in lengths:
        return False
    return pattern.fullmatch(nsn) is not None


_OTHER_TYPES = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)


class _TypeMatcher:
    """``phonenumbers``' number-type decision for one region, with patterns compiled once.

    ``phonenumbers`` looks every pattern up in ``re``'s cache on every call; for a million
    numbers that lookup costs more than the matching. Same order of tests, same result (a
    property test compares the two).
    """

    def __init__(self, meta: Any) -> None:
        self.general = _desc(meta.general_desc)
        self.others = [(t, _desc(getattr(meta, name))) for name, t in _OTHER_TYPES]
        self.others = [(t, d) for t, d in self.others if d is not None]
        # One alternation of all the rarer types: a number matching none of them (nearly all)
        # is ruled out in one regex call instead of eight.
        self.any_other = (
            re.compile("|".join(f"(?:{d[1].pattern})" for _, d in self.others if d))
            if self.others
            else None
        )
        self.fixed = _desc(meta.fixed_line)
        self.mobile = _desc(meta.mobile)
        self.same = bool(meta.same_mobile_and_fixed_line_pattern)
        self.leading = re.compile(meta.leading_digits) if meta.leading_digits else None

    def type_of(self, nsn: str) -> int:
        if not _matches(self.general, nsn):
            return PhoneNumberType.UNKNOWN
        if self.any_other is not None and self.any_other.fullmatch(nsn):
            for ntype, desc in self.others:
                if _matches(desc, nsn):
                    return ntype
        if _matches(self.fixed, nsn):
            if self.same or _matches(self.mobile, nsn):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not self.same and _matches(self.mobile, nsn):
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN


_MATCHERS: dict[tuple[int, str], _TypeMatcher | None] = {}


def _matcher(cc: int, region: str) -> _TypeMatcher | None:
    key = (cc, region)
    if key not in _MATCHERS:
        meta = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
        _MATCHERS[key] = _TypeMatcher(meta) if meta is not None else None
    return _MATCHERS[key]


def _number_type(cc: int, nsn: str) -> int:
    """``phonenumbers.number_type`` for country code + national significant number."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(cc)
    if not regions:
        return PhoneNumberType.UNKNOWN
    region: str | None = regions[0]
    if len(regions) > 1:
        # phonenumbers' region_code_for_number: leading digits if the region has them,
        # otherwise the first region where the number is of a known type.
        region = None
        for candidate in regions:
            m = _matcher(cc, candidate)
            if m is None:
                continue
            if m.leading is not None:
                if m.leading.match(nsn):
                    region = candidate
                    break
            else:
                found = m.type_of(nsn)
                if found != PhoneNumberType.UNKNOWN:
                    return found  # the type in the region it was found in
    if region is None:
        return PhoneNumberType.UNKNOWN
    m = _matcher(cc, region)
    return PhoneNumberType.UNKNOWN if m is None else m.type_of(nsn)


#: A contact's ``timezone`` naming the zones of a number prefix of phonenumbers' table, for
#: numbers that may be in any of several zones with different clocks.
ZONE_SET_PREFIX = "zones:+"


def zone_set_key(prefix: str) -> str:
    return f"{ZONE_SET_PREFIX}{prefix}"


def zones_of(timezone: str) -> tuple[str, ...]:
    """The IANA zones a contact's ``timezone`` stands for: itself, or a zone set's members
    (none for an unknown set, which the guard then never finds within hours)."""
    if not timezone.startswith(ZONE_SET_PREFIX):
        return (timezone,)
    return tuple(TIMEZONE_DATA.get(timezone[len(ZONE_SET_PREFIX) :], ()))


_APART: dict[str, bool] = {}
# Two instants half a year apart: zones whose clocks agree at both agree all year (DST too).
_PROBES = (datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC))


def _apart(key: str, zones: tuple[str, ...]) -> bool:
    """Whether the clocks of ``zones`` (the table's entry ``key``) ever differ."""
    apart = _APART.get(key)
    if apart is None:
        try:
            clocks = {
                tuple(at.astimezone(ZoneInfo(z)).utcoffset() for at in _PROBES) for z in zones
            }
            apart = len(clocks) > 1
        except (ZoneInfoNotFoundError, ValueError):
            apart = len(zones) > 1  # a zone this system lacks: be careful
        _APART[key] = apart
    return apart


def _country_zones(cc: int) -> tuple[str, tuple[str, ...]]:
    # phonenumbers.timezone._country_level_time_zones_for_number: the country code, then its
    # first two digits.
    text = str(cc)
    for prefix in (text, text[:2]):
        zones = TIMEZONE_DATA.get(prefix)
        if zones is not None:
            return prefix, tuple(zones)
    return "", ()


_ZONE_PREFIX_LENGTHS: dict[str, tuple[int, ...]] = {}


def _prefix_lengths(first_digit: str) -> tuple[int, ...]:
    """Prefix lengths of the time-zone table for numbers starting with one digit, longest first."""
    lengths = _ZONE_PREFIX_LENGTHS.get(first_digit)
    if lengths is None:
        found = {len(k) for k in TIMEZONE_DATA if k[:1] == first_digit}
        lengths = tuple(sorted((n for n in found if n <= TIMEZONE_LONGEST_PREFIX), reverse=True))
        _ZONE_PREFIX_LENGTHS[first_digit] = lengths
    return lengths


_ONE_ZONE_SET: dict[int, tuple[str, ...] | None] = {}


def _country_wide_zones(cc: int) -> tuple[str, ...] | None:
    """The zones of every number of a country whose table entries all agree (DE, FR...)."""
    if cc not in _ONE_ZONE_SET:
        text = str(cc)
        # Country codes are prefix-free, so every key starting with ``text`` belongs to cc.
        values = {tuple(v) for k, v in TIMEZONE_DATA.items() if k.startswith(text)}
        _ONE_ZONE_SET[cc] = values.pop() if len(values) == 1 and text in TIMEZONE_DATA else None
    return _ONE_ZONE_SET[cc]


def _geo_zones(cc: int, e164: str) -> tuple[str, tuple[str, ...]]:
    # Same longest-prefix lookup as phonenumbers.timezone.time_zones_for_geographical_number,
    # without formatting the number again, and trying only prefix lengths the table has.
    same = _country_wide_zones(cc)
    if same is not None:
        return str(cc), same
    digits = e164[1:]
    for n in _prefix_lengths(digits[:1]):
        if n <= len(digits):
            zones = TIMEZONE_DATA.get(digits[:n])
            if zones is not None:
                return digits[:n], tuple(zones)
    return "", ()


_DEFAULT: dict[str, PhoneNormalizer] = {}


def normalize_phone(raw: str, region: str = "DE") -> str:
    """E.164 form of ``raw`` (raises :class:`InvalidPhone`); for one-off numbers (API, DNC)."""
    normalizer = _DEFAULT.get(region)
    if normalizer is None:
        normalizer = _DEFAULT[region] = PhoneNormalizer(region)
    return normalizer.normalize(raw)[0]


DIAL_TEMPLATE_FIELDS = ("number", "digits")
"""What a dial template may name: ``{number}`` as stored (E.164, ``+49...``), ``{digits}``
without the leading ``+`` (what most SIP trunks and dialplans expect)."""


def dial_template_problem(template: str) -> str | None:
    """Why ``template`` cannot turn a number into an Originate channel (``None``: it can).

    It is sent as the ``Channel:`` header: a line break would end the header and start another
    (AMI injection), a space or control character is no part of a channel name; it must be
    ``Tech/resource`` (``PJSIP/{digits}@trunk``, ``Local/{number}@from-dialer``), name the
    number (else every contact gets the same call) and nothing but ``{number}``/``{digits}``
    (``str.format`` would fail at the first call, or format the number with a spec)."""
    import string

    if any(ch.isspace() or not ch.isprintable() for ch in template):
        return "must not contain spaces, line breaks or control characters"
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"is not a valid template ({exc}; write a literal brace as {{{{ or }}}})"
    named = set()
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in DIAL_TEMPLATE_FIELDS:
            return (
                f"names {{{field}}}: only {{number}} (as stored, E.164) and {{digits}} (without +)"
            )
        if spec or conversion:
            return f"{{{field}}} takes no format spec or conversion"
        named.add(field)
    if not named:
        return "must contain {number} or {digits}"
    literal = template.split("{", 1)[0]
    if "/" not in literal or literal.startswith("/"):
        return (
            "must begin with a channel technology, "
            "like PJSIP/{digits}@trunk or Local/{number}@context"
        )
    return None
