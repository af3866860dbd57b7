"""The account's messaging providers as the settings page lists and edits them. No Flask.

The fields are `channels add`'s (plugin/cli_channels.py) and go through the same plugin.channels.configs.add, so
the page and the CLI store, encrypt and refuse alike. Secrets are write-only: the form never shows one back, and a
secret left empty keeps its stored value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from plugin.channels import configs
from plugin.models import Account
from plugin.security import SecretBox

TITLES = {
    "twilio": "Twilio SMS",
    "vonage": "Vonage SMS",
    "whatsapp": "WhatsApp Cloud API",
    "twilio-whatsapp": "WhatsApp through Twilio",
    "chatwoot": "Chatwoot in-chat",
}
# the form field that fills `sender`
SENDER = {"twilio": "from", "vonage": "from", "whatsapp": "phone_number_id", "twilio-whatsapp": "from"}


@dataclass(frozen=True)
class ProviderField:
    name: str
    label: str
    hint: str = ""
    secret: bool = False


LABELS = {
    "from": ("From: your number or sender id (--from)", "E.164 such as +15017122661, or an alphanumeric sender id."),
    "phone_number_id": ("Phone number ID (--phone-number-id)", "Meta's id of your business number, not the number."),
    "account_sid": ("Account SID (--account-sid)", "AC..., from the Twilio Console."),
    "auth_token": ("Auth token (--auth-token)", ""),
    "messaging_service_sid": ("Messaging Service SID (--messaging-service-sid)", "MG...; instead of From, or with it."),
    "api_key": ("API key (--api-key)", ""),
    "api_secret": ("API secret (--api-secret)", ""),
    "signature_secret": ("Signature secret (--signature-secret)", "Signs Vonage's inbound webhooks."),
    "signature_method": ("Signature method (--signature-method)", "As set in the Vonage dashboard, e.g. sha256."),
    "access_token": ("Access token (--access-token)", "A system user's permanent token."),
    "app_secret": ("App secret (--app-secret)", "Meta signs its webhooks with it (X-Hub-Signature-256)."),
    "verify_token": ("Verify token (--verify-token)", "Any text; type the same into Meta's webhook setup."),
    "content_sid": (
        "Content template SID (--content-sid)",
        "HX..., or one per language: en=HX...,el=HX... (docs/channels.md, WhatsApp through Twilio).",
    ),
    "template": ("Template name (--template)", "The approved utility template (docs/channels.md)."),
    "template_language": ("Template language (--template-language)", "e.g. en_US; empty: the survey's language."),
    "api_version": ("Graph API version (--api-version)", "Empty: the version OpenCSAT was tested with."),
    "webhook_secret": ("Webhook secret (--webhook-secret)", "Empty: the account's own Chatwoot webhook secret."),
    "api_url": ("API base URL (--api-url)", "Empty: the provider's own API."),
}
KEEP = "Set; leave empty to keep it."


def fields(provider: str) -> tuple[ProviderField, ...]:
    """The form of one provider: sender, settings, secrets, API base (the order `channels add --help` gives)."""
    names = [*((SENDER[provider],) if provider in SENDER else ()), *configs.SETTINGS[provider]]
    secrets = configs.SECRETS[provider]
    out = [ProviderField(name, *LABELS[name]) for name in names]
    out += [ProviderField(name, *LABELS[name], secret=True) for name in secrets]
    if provider != "chatwoot":
        out.append(ProviderField("api_url", *LABELS["api_url"]))
    return tuple(out)


def addable(account: Account) -> tuple[str, ...]:
    """The providers this account may add (in-chat only posts into a Chatwoot account's conversations)."""
    return tuple(name for name in configs.PROVIDERS if name != "chatwoot" or account.platform == "chatwoot")


def listed(session: Session, box: SecretBox, account: Account, public_url: str) -> list[dict]:
    """Each provider as `channels list` prints it, with its title, the sender shown, and a status sentence."""
    order = configs.channel_order(account)
    carriers = configs.providers_for(session, account)
    out = []
    for row in configs.rows(session, account.id):
        described = configs.describe(row, account, public_url, box)
        channel = described["channel"]
        if channel not in order:
            status = f"Not used: add {channel} to the channel order (Channels, above)."
        elif carriers.get(channel) != row.provider:
            status = f"Standby: {carriers.get(channel)} carries {channel} for this account."
        else:
            status = f"In use for {channel} (position {order.index(channel) + 1} of the channel order)."
        out.append({**described, "title": TITLES[row.provider], "status": status})
    return out


def current(session: Session, box: SecretBox, account: Account, provider: str) -> tuple[dict[str, str], set[str]]:
    """The form's values for an edit (never a secret) and the names of the secrets that are set."""
    row = next((r for r in configs.rows(session, account.id) if r.provider == provider), None)
    if row is None:
        return {}, set()
    values = {name: str(value) for name, value in (row.settings or {}).items()}
    if provider in SENDER:
        values[SENDER[provider]] = row.sender or ""
    values["api_url"] = row.api_url or ""
    return values, {name for name, value in configs.stored_secrets(session, box, account, provider).items() if value}


def save(session: Session, box: SecretBox, account: Account, provider: str, form: Mapping[str, str]) -> None:
    """Add or replace the provider from the form; ValueError with configs.add's sentence (nothing stored then)."""
    if provider not in addable(account):
        raise ValueError(f"{provider} cannot be set up for this account")
    given = {f.name: (form.get(f.name) or "").strip() for f in fields(provider)}
    sender = given.pop(SENDER[provider], "") if provider in SENDER else ""
    api_url = given.pop("api_url", "") or None
    configs.add(session, box, account, provider, api_url=api_url, sender=sender, values=given, keep_secrets=True)
