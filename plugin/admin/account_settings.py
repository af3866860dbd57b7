"""The account settings an admin may change from /admin: what `accounts create` / `accounts update` set. No Flask.

Columns (scale, locale, delay...) and the account options read elsewhere (branding in plugin.channels.email,
the question in plugin.surveys.scales, delivery rules in plugin.surveys.scheduling, alerts in plugin.alerts,
require_rendered_page in plugin.jobs.tasks). Each value is checked the way the code that reads it expects, so a
value that code would silently ignore is an error here; options are stored as `--option KEY=VALUE` stores them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import getaddresses
from types import SimpleNamespace

from sqlalchemy.orm import Session

from plugin import i18n
from plugin.accounts import HIDDEN, SLACK_URL, public_options, update_account
from plugin.adapters import get_adapter
from plugin.channels.email import branding
from plugin.models import Account
from plugin.outbound import check_url
from plugin.security import SecretBox
from plugin.surveys import bands
from plugin.surveys.scales import CSAT10_EIGHT_OPTION, SCALES, TRUE_WORDS


@dataclass(frozen=True)
class Limit:
    label: str
    maximum: int


@dataclass(frozen=True)
class Field:
    """One form field; `kind` picks the input (text, textarea, number, select, checkbox)."""

    name: str
    label: str
    kind: str = "text"
    hint: str = ""


@dataclass(frozen=True)
class Fieldset:
    legend: str
    fields: tuple[Field, ...]
    more_label: str = ""  # a collapsed part, for fields most accounts leave empty
    more: tuple[Field, ...] = ()


NUMBERS = {
    "delay_minutes": Limit("Delay before the survey is sent (minutes)", 60 * 24 * 14),
    "throttle_days": Limit("One survey per customer every (days)", 365),
    "settle_minutes": Limit("Settle window for a lone click (minutes)", 60 * 24),
    "edit_days": Limit("Customers may change their rating for (days)", 365),
}
COLUMNS = ("scale", "locale", *NUMBERS)
LANGUAGE_NAMES = {
    "en": "English",
    "pl": "Polish",
    "el": "Greek",
    "it": "Italian",
    "zh_Hant": "Chinese (Traditional)",
    "zh_Hans": "Chinese (Simplified)",
    "nb": "Norwegian Bokmål",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "pt": "Portuguese",
    "ar": "Arabic",
}
QUESTION_MAX = 300
BRANDING = ("sender_name", "sender_address", "reply_to", "company_name", "logo_url", "accent_color", "footer")
# The limits plugin.channels.email.branding cuts at: a longer value would be shortened without a word.
TEXT_LIMITS = {"sender_name": 200, "company_name": 200, "footer": 1000, "exclude_tags": 1000}
REQUIRE_RENDERED = "require_rendered_page"
# Checkboxes: (option, whether an absent option means on). Only a value that differs from the default is stored.
CHECKBOXES = {CSAT10_EIGHT_OPTION: False, "alert_on_comment": False, REQUIRE_RENDERED: True}
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_ADDRESS = re.compile(r"[^@\s<>\"(),;:\[\]\\]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def _question_fields() -> tuple[Field, ...]:
    return tuple(Field(f"question_{code}", f"Question in {name}") for code, name in LANGUAGE_NAMES.items())


def _followup_fields() -> tuple[Field, ...]:
    """Per language: the reason tags (line by line, as the list above) and the three follow-up questions."""
    fields = []
    for code, name in LANGUAGE_NAMES.items():
        fields.append(Field(f"reason_tags_{code}", f"Reasons in {name}", "textarea", "Same order as above."))
        fields += [Field(f"followup_{band}_{code}", f"{band.capitalize()} follow-up in {name}") for band in bands.BANDS]
    return tuple(fields)


FIELDSETS = (
    Fieldset(
        "Surveys",
        (
            Field("scale", "Rating scale for new surveys", "select"),
            Field("delay_minutes", NUMBERS["delay_minutes"].label, "number"),
            Field("throttle_days", NUMBERS["throttle_days"].label, "number", "0 turns the throttle off."),
            Field(
                CSAT10_EIGHT_OPTION,
                "On the 10-point scale, 8 counts as satisfied too",
                "checkbox",
                "Otherwise only 9 and 10 do. Applies to every report, the sidebar, alerts and write-backs.",
            ),
        ),
    ),
    Fieldset(
        "Language and question",
        (
            Field("locale", "Default language (when the helpdesk does not say)", "select"),
            Field(
                "question",
                "Your own question, in every language",
                hint="Leave empty for the scale's own question, translated.",
            ),
        ),
        "Your question per language (wins over the one above)",
        _question_fields(),
    ),
    Fieldset(
        "Follow-up after the answer",
        (
            Field("followup_negative", "Question after a negative answer", hint="Default: What could we improve?"),
            Field(
                "followup_neutral", "Question after a neutral answer", hint="Default: What would have made it better?"
            ),
            Field("followup_positive", "Question after a positive answer", hint="Default: What did we do well?"),
            Field(
                "reason_tags",
                "Reasons a customer may pick after a negative answer",
                "textarea",
                f"One per line, in the default language; at most {bands.MAX_REASONS}. Reports count them per agent.",
            ),
        ),
        "Follow-up and reasons per language",
        _followup_fields(),
    ),
    Fieldset(
        "Branding",
        (
            Field("sender_name", "Sender name", hint="Default: the account's name."),
            Field(
                "sender_address",
                "Sender address",
                hint="Your SMTP relay must be allowed to send for its domain; if unsure, leave empty and set Reply-To.",
            ),
            Field("reply_to", "Reply-To address"),
            Field("company_name", "Company name", hint="Shown at the top (without a logo) and in the footer."),
            Field("logo_url", "Logo URL", hint="An https:// image, shown 40 px high."),
            Field("accent_color", "Accent colour", hint="#rgb or #rrggbb; default #0969da."),
            Field("footer", "Footer", "textarea", "Address, legal line; new lines are kept."),
        ),
    ),
    Fieldset(
        "Delivery rules",
        (
            Field(
                "internal_domains", "Your own domains (never surveyed)", hint="Comma-separated, e.g. acme.com, acme.io"
            ),
            Field(
                "exclude_tags", "Tickets with these tags are not surveyed", hint="Comma-separated, e.g. vip, no-survey"
            ),
            Field("sample_percent", "Survey this share of tickets (%)", hint="0 to 100; empty means 100."),
        ),
    ),
    Fieldset(
        "Channels",
        (
            Field(
                "channels",
                "Channel order",
                hint="e.g. whatsapp,sms,email: the first that reaches the customer is used (docs/channels.md). "
                "Empty: email only. Providers: Channel providers, below this form.",
            ),
            Field("quiet_hours", "Quiet hours for SMS and WhatsApp", hint="e.g. 21:00-08:00; empty: none."),
            Field("timezone", "Time zone of the quiet hours", hint="e.g. Europe/Warsaw; empty: UTC."),
            Field(
                "phone_region",
                "Country of phone numbers written without a country code",
                hint="ISO 3166 code, e.g. GB: then 020 7946 0018 reads as +44 20 7946 0018. Empty: only numbers "
                "written with their country code (+44..., 0044...) are used.",
            ),
        ),
    ),
    Fieldset(
        "Counting clicks",
        (
            Field("settle_minutes", NUMBERS["settle_minutes"].label, "number"),
            Field("edit_days", NUMBERS["edit_days"].label, "number"),
            Field(
                REQUIRE_RENDERED,
                "A lone click counts only if its page was shown in a browser",
                "checkbox",
                "On: a click whose page never reported being shown waits for the customer's Confirm, which stops"
                " link checkers that only fetch pages. Off: such clicks count after the settle window too, which"
                " helps customers whose browsers run no JavaScript, but lets a link checker that slipped past the"
                " other rules count.",
            ),
        ),
    ),
    Fieldset(
        "Alerts",
        (
            Field(
                "alert_threshold",
                "Alert on a score at or below",
                "number",
                "Empty: the scale's default (csat5: 2, csat3: 1, thumbs: 1, csat10: 4, nps: 6, ces7: 3).",
            ),
            Field("alert_slack_url", "Slack incoming-webhook URL"),
            Field("alert_emails", "Email alerts to", hint="Comma-separated addresses."),
            Field("alert_on_comment", "Alert on every comment, whatever the score", "checkbox"),
        ),
    ),
)
FIELDSETS = (
    *FIELDSETS,
    Fieldset(
        "Closing the loop",
        (
            Field(
                "negative_action",
                "On a negative rating (at or below the alert threshold), in the helpdesk",
                hint="Empty: nothing. reopen: reopen the ticket with an internal note. task: an internal note "
                "asking for a follow-up, the ticket left as it is. Team leads set the follow-up status on the "
                "dashboard either way.",
            ),
            Field(
                "follow_up_group_id",
                "Zendesk: assign the follow-up to this group (id)",
                hint="A number from Admin Center > People > Groups; empty keeps the ticket's group.",
            ),
        ),
    ),
)
FIELDS = tuple(f.name for fieldset in FIELDSETS for f in (*fieldset.fields, *fieldset.more))
OPTIONS = tuple(name for name in FIELDS if name not in COLUMNS)


def current(account: Account) -> dict[str, str]:
    """The account's settings as form values (a checkbox is "true" when on, "" when off)."""
    options = account.options or {}
    values = {name: str(getattr(account, name)) for name in COLUMNS}
    values["locale"] = i18n.normalise(account.locale)
    for name in OPTIONS:
        values[name] = str(options.get(name, "")).strip()
    for name, default in CHECKBOXES.items():
        values[name] = "true" if _is_on(name, options.get(name), default) else ""
    # A secret is never shown back; submitting the placeholder unchanged keeps it (plugin.accounts.public_options).
    values[SLACK_URL] = public_options(options).get(SLACK_URL, "")
    return values


def _is_on(name: str, raw: object, default: bool) -> bool:
    text = str(raw if raw is not None else "").strip().lower()
    if not text:
        return default
    if name == REQUIRE_RENDERED:
        return text != "false"  # plugin.jobs.tasks turns the check off only for "false"
    return text in TRUE_WORDS


def validate(form: Mapping[str, str]) -> tuple[dict[str, object], dict[str, str]]:
    """Clean values (columns typed, options as strings, "" to remove one) and an error sentence per unusable field."""
    values: dict[str, object] = {}
    errors: dict[str, str] = {}
    text = {name: (form.get(name) or "").strip() for name in FIELDS}
    if text["scale"] in SCALES:
        values["scale"] = text["scale"]
    else:
        errors["scale"] = f"Choose one of {', '.join(SCALES)}."
    locale = i18n.match(text["locale"])
    if locale:
        values["locale"] = locale
    else:
        errors["locale"] = f"Choose one of the supported languages: {', '.join(i18n.LOCALES)}."
    for name, limit in NUMBERS.items():
        raw = text[name]
        if not raw.isdigit():
            errors[name] = "Use a whole number, 0 or more."
        elif int(raw) > limit.maximum:
            errors[name] = f"Use at most {limit.maximum}."
        else:
            values[name] = int(raw)
    for name in OPTIONS:
        values[name] = text[name]
    if text[SLACK_URL] == HIDDEN:
        del values[SLACK_URL]  # left as it was: keep the stored URL
    for name, default in CHECKBOXES.items():
        on = bool(text[name])
        values[name] = "" if on == default else ("true" if on else "false")
    for name in ("question", *(f.name for f in _question_fields())):
        if len(text[name]) > QUESTION_MAX:
            errors[name] = f"Use at most {QUESTION_MAX} characters."
    for name, limit in TEXT_LIMITS.items():
        if len(text[name]) > limit:
            errors[name] = f"Use at most {limit} characters."
    errors.update(_followup_errors(text))
    errors.update(_branding_errors(text))
    errors.update(_delivery_errors(text))
    errors.update(_channel_errors(text, values))
    errors.update(_alert_errors(text, values.get("scale")))
    if text["negative_action"] not in ("", "reopen", "task"):
        errors["negative_action"] = "Use reopen, task, or leave empty."
    if text["follow_up_group_id"] and not text["follow_up_group_id"].isdigit():
        errors["follow_up_group_id"] = "Use the group's number, or leave empty."
    return values, errors


def _followup_errors(text: Mapping[str, str]) -> dict[str, str]:
    errors = {}
    for name in text:
        if name.startswith("followup_") and len(text[name]) > QUESTION_MAX:
            errors[name] = f"Use at most {QUESTION_MAX} characters."
    wanted = len(bands.reason_lines(text["reason_tags"]))
    for name in ("reason_tags", *(f"reason_tags_{code}" for code in LANGUAGE_NAMES)):
        problem = bands.check_option(text[name])
        lines = len(bands.reason_lines(text[name]))
        if problem:
            errors[name] = f"Use {problem}."
        elif name != "reason_tags" and lines and lines != wanted:
            errors[name] = f"Give {wanted} lines, one per reason above, in the same order ({lines} given)."
    return errors


def _branding_errors(text: Mapping[str, str]) -> dict[str, str]:
    """What plugin.channels.email.branding would not use as given (it falls back to a default without a word)."""
    brand = branding(SimpleNamespace(name="", options={k: text[k] for k in BRANDING}), "")
    used = {
        "sender_address": brand.sender_address,
        "reply_to": brand.reply_to,
        "logo_url": brand.logo_url,
        "accent_color": brand.accent,
    }
    messages = {
        "sender_address": "Use one email address, such as support@example.com.",
        "reply_to": "Use one email address, such as support@example.com.",
        "logo_url": "Use an image address starting with https://.",
        "accent_color": "Use a colour as #rgb or #rrggbb, such as #0969da.",
    }
    errors = {name: messages[name] for name, value in used.items() if text[name] and value != text[name]}
    if text["logo_url"] and not text["logo_url"].startswith("https://") and "logo_url" not in errors:
        errors["logo_url"] = messages["logo_url"]  # http:// images are blocked by most mail clients
    for name in ("sender_name", "company_name"):
        if re.search(r"[\x00-\x1f\x7f]", text[name]):
            errors[name] = "Use one line of text."
    return errors


def _delivery_errors(text: Mapping[str, str]) -> dict[str, str]:
    errors = {}
    domains = [d.strip().lower().lstrip("@") for d in text["internal_domains"].split(",") if d.strip()]
    wrong = [d for d in domains if not _DOMAIN.fullmatch(d)]
    if wrong:
        errors["internal_domains"] = (
            f"Not a domain: {', '.join(wrong)}. Use names such as acme.com, separated by commas."
        )
    if text["sample_percent"]:
        try:
            percent = float(text["sample_percent"].rstrip("%"))
        except ValueError:
            percent = math.nan
        if not 0 <= percent <= 100:  # NaN fails too
            errors["sample_percent"] = "Use a number from 0 to 100."
    return errors


def _channel_errors(text: Mapping[str, str], values: dict[str, object]) -> dict[str, str]:
    """The channel order, quiet hours and time zone as plugin.channels reads them."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from plugin.channels.configs import parse_order
    from plugin.channels.phones import check_region

    errors = {}
    if text["channels"]:
        try:
            values["channels"] = parse_order(text["channels"])
        except ValueError:
            errors["channels"] = "Use channel names separated by commas, each once: email, sms, whatsapp, chat."
    if text["quiet_hours"] and not re.fullmatch(
        r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", text["quiet_hours"]
    ):
        errors["quiet_hours"] = "Use HH:MM-HH:MM, such as 21:00-08:00."
    if text["timezone"]:
        try:
            ZoneInfo(text["timezone"])
        except (ValueError, ZoneInfoNotFoundError):
            errors["timezone"] = "Use a time zone name such as Europe/Warsaw."
    if text["phone_region"]:
        try:
            values["phone_region"] = check_region(text["phone_region"])
        except ValueError:
            errors["phone_region"] = "Use a two-letter country code such as GB or US, or leave empty."
    return errors


def _alert_errors(text: Mapping[str, str], scale: object) -> dict[str, str]:
    errors = {}
    highest = SCALES[scale].max_score if scale in SCALES else max(s.max_score for s in SCALES.values())
    raw = text["alert_threshold"]
    if raw and (not raw.isdigit() or int(raw) > highest):
        errors["alert_threshold"] = f"Use a whole number from 0 to {highest} (the top of the scale), or leave empty."
    slack = text["alert_slack_url"]
    if slack and slack != HIDDEN and (re.search(r"\s", slack) or not _is_url(slack)):
        errors["alert_slack_url"] = _url_error(slack) or "Use the URL Slack gives you, starting with https://."
    wrong = [part.strip() for part in text["alert_emails"].split(",") if part.strip() and not _one_address(part)]
    if wrong:
        errors["alert_emails"] = f"Not an email address: {', '.join(wrong)}. Separate addresses with commas."
    return errors


def _url_error(value: str) -> str | None:
    """The outbound policy's sentence when it refuses the URL (a private or loopback address, say)."""
    try:
        check_url(value)
    except ValueError as exc:
        return str(exc) if "cannot be used" in str(exc) else None
    return None


def _is_url(value: str) -> bool:
    try:
        check_url(value)
    except ValueError:
        return False
    return True


def _one_address(part: str) -> bool:
    """One address, optionally with a name (`Lead <lead@acme.test>`), as plugin.alerts reads the list."""
    parsed = getaddresses([part])
    return len(parsed) == 1 and bool(_ADDRESS.fullmatch(parsed[0][1]))


def update(session: Session, box: SecretBox, account: Account, form: Mapping[str, str]) -> dict[str, str]:
    """Apply the form to the account when every field is valid; the errors otherwise (nothing changed).

    Goes through plugin.accounts.update_account, the same path as `accounts update --option KEY=VALUE`: options are
    merged into Account.options and an empty value removes one.
    """
    values, errors = validate(form)
    if values.get("negative_action") and not hasattr(get_adapter(account.platform), "follow_up"):
        errors["negative_action"] = f"{account.platform} cannot reopen tickets or add tasks from OpenCSAT yet."
    if errors:
        return errors
    columns = {name: values.pop(name) for name in COLUMNS}
    update_account(session, box, account, options=values, **columns)
    return {}
