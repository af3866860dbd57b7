"""A requester's phone number as E.164, from whatever a helpdesk stored: "+44 20 7946 0018", "0048 500 100 200",
or, with the account's phone region, a national number such as "020 7946 0018" (GB) or "(415) 555-0100" (US).

Parsing is libphonenumber's (the `phonenumbers` port), so national prefixes, trunk zeros and extensions are read
the way each country writes them. Without a region only numbers written with their country code are used: a
national number's country cannot be told from the number (docs/channels.md, "Phone numbers").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import phonenumbers

REGIONS = frozenset(phonenumbers.SUPPORTED_REGIONS)  # ISO 3166-1 alpha-2 codes libphonenumber has rules for
E164 = re.compile(r"\+[1-9]\d{6,14}")  # ITU-T E.164: country code and number, 15 digits at most
_PUNCTUATION = re.compile(r"[\s().\-/]")
PHONE_CHANNELS = frozenset({"sms", "whatsapp"})
_LONGEST = 64  # a helpdesk field longer than this is not one phone number (and parsing it would be wasted work)


@dataclass(frozen=True)
class Phone:
    """The number in E.164, or why the written value cannot be used (None, None when there was no number)."""

    e164: str | None = None
    problem: str | None = None


def parse(value: object, region: str | None = None) -> Phone:
    """Read one written number; `region` (e.g. "GB") is the country of numbers written without a country code."""
    if not isinstance(value, str) or not value.strip():
        return Phone()
    text = value.strip()
    if len(text) > _LONGEST:
        return Phone(problem="not a phone number")
    compact = _PUNCTUATION.sub("", text)
    if compact.startswith("00"):
        # 00 is the international prefix in most of the world (the ITU's recommendation, E.164 annex); written
        # without the account's region it still names the country. Assumption: no national number starts with 00.
        text = "+" + compact[2:]
    elif not compact.startswith("+") and not region:
        return Phone(problem="written without a country code, and the account has no phone region")
    try:
        number = phonenumbers.parse(text, region if region in REGIONS else None)
    except phonenumbers.NumberParseException as exc:
        return Phone(problem=_parse_problem(exc))
    # Possible = the right length for its country and type; IS_POSSIBLE_LOCAL_ONLY (a number dialled without its
    # area code) cannot be reached from abroad either. Validity against each country's number plan is not asked:
    # the plans lag behind new ranges, and a provider refuses a dead number with its own error code.
    if phonenumbers.is_possible_number_with_reason(number) != phonenumbers.ValidationResult.IS_POSSIBLE:
        return Phone(problem="not a possible number for its country (wrong length)")
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not E164.fullmatch(formatted):  # a few plans allow 4-digit numbers (+43 0100): no SMS provider routes them
        return Phone(problem="not a possible number for its country (wrong length)")
    return Phone(e164=formatted)


def e164(value: object, region: str | None = None) -> str | None:
    """The number in E.164 (+ and up to 15 digits), or None when it cannot be used."""
    return parse(value, region).e164


def check_region(value: str) -> str:
    """An account's phone region, upper-cased; ValueError for a code libphonenumber does not know."""
    code = value.strip().upper()
    if code not in REGIONS:
        raise ValueError(f"the phone region must be an ISO 3166 alpha-2 country code such as GB or US; got {value!r}")
    return code


def _parse_problem(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "no such country code",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, "not a phone number")


def wanted(options: Mapping | None) -> bool:
    """Whether the account's channel order (option `channels`) has a phone channel: only then is a helpdesk asked
    for the requester's number in an extra API call."""
    names = {name.strip().lower() for name in str((options or {}).get("channels") or "").split(",")}
    return bool(names & PHONE_CHANNELS)


def pick(values: Iterable[object], options: Mapping | None = None) -> str | None:
    """The first of a contact's numbers (in the platform's order of preference: mobile first) that reads as E.164
    with the account's phone region; else the first one written at all, so its problem becomes the skip reason."""
    written = [value.strip() for value in values if isinstance(value, str) and value.strip()]
    region = str((options or {}).get("phone_region") or "").strip().upper() or None
    return next((value for value in written if e164(value, region)), written[0] if written else None)
