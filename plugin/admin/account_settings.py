"""The account settings an admin may change from /admin (the same ones `accounts create` sets). No Flask."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from babel import Locale, UnknownLocaleError

from plugin.models import Account
from plugin.surveys.scales import SCALES


@dataclass(frozen=True)
class Limit:
    label: str
    maximum: int


NUMBERS = {
    "delay_minutes": Limit("Delay before the survey is sent (minutes)", 60 * 24 * 14),
    "throttle_days": Limit("One survey per customer every (days)", 365),
    "settle_minutes": Limit("Settle window for a lone click (minutes)", 60 * 24),
    "edit_days": Limit("Customers may change their rating for (days)", 365),
}
FIELDS = ("scale", "locale", *NUMBERS)


def current(account: Account) -> dict[str, str]:
    """The account's settings as form values."""
    return {name: str(getattr(account, name)) for name in FIELDS}


def validate(form: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """Clean values and an error sentence per field that cannot be used."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    scale = (form.get("scale") or "").strip()
    if scale in SCALES:
        values["scale"] = scale
    else:
        errors["scale"] = f"Choose one of {', '.join(SCALES)}."
    locale = (form.get("locale") or "").strip()
    try:
        Locale.parse(locale.replace("-", "_"))
        values["locale"] = locale
    except (ValueError, UnknownLocaleError):
        errors["locale"] = "Use a language code such as en, pl, pt_BR or zh_Hant."
    for name, limit in NUMBERS.items():
        raw = (form.get(name) or "").strip()
        if not raw.isdigit():
            errors[name] = "Use a whole number, 0 or more."
        elif int(raw) > limit.maximum:
            errors[name] = f"Use at most {limit.maximum}."
        else:
            values[name] = int(raw)
    return values, errors


def update(account: Account, form: Mapping[str, str]) -> dict[str, str]:
    """Apply the form to the account when every field is valid; the errors otherwise (nothing changed)."""
    values, errors = validate(form)
    if not errors:
        for name, value in values.items():
            setattr(account, name, value)
    return errors
