"""An account's messaging providers: add, list, remove, load (secrets decrypted only here), and its channel order."""

from __future__ import annotations

import importlib
import json
import re

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from plugin import egress
from plugin.channels import phones
from plugin.channels.base import Provider, ProviderConfig
from plugin.models import Account, ChannelConfig
from plugin.security import SecretBox

SENDER_MAX, API_URL_MAX, VALUE_MAX = 100, 500, 2000  # the columns' sizes; tokens are far shorter than 2000
# provider -> the channel it carries
PROVIDERS = {
    "twilio": "sms",
    "vonage": "sms",
    "whatsapp": "whatsapp",
    "twilio-whatsapp": "whatsapp",
    "chatwoot": "chat",
}
# provider -> (module under plugin.channels, its provider object): WhatsApp through Twilio shares twilio.py
MODULES = {"chatwoot": ("chat", "PROVIDER"), "twilio-whatsapp": ("twilio", "WHATSAPP_PROVIDER")}
CHANNELS = ("email", "sms", "whatsapp", "chat")
MESSAGING = phones.PHONE_CHANNELS  # the channels whose address is a phone number
# Which fields of `channels add` are secrets (encrypted, never printed), which are settings, which are required.
SECRETS = {
    "twilio": ("auth_token",),
    "twilio-whatsapp": ("auth_token",),
    "vonage": ("api_secret", "signature_secret"),
    "whatsapp": ("access_token", "app_secret", "verify_token"),
    "chatwoot": ("webhook_secret",),
}
SETTINGS = {
    "twilio": ("account_sid", "messaging_service_sid"),
    "twilio-whatsapp": ("account_sid", "messaging_service_sid", "content_sid"),
    "vonage": ("api_key", "signature_method"),
    "whatsapp": ("template", "template_language", "api_version"),
    "chatwoot": (),
}
REQUIRED = {
    "twilio": ("account_sid", "auth_token"),
    "twilio-whatsapp": ("account_sid", "auth_token", "content_sid"),
    "vonage": ("api_key", "api_secret", "sender"),
    "whatsapp": ("sender", "access_token", "app_secret", "verify_token", "template"),
    "chatwoot": (),
}
CONTENT_SID = r"HX[0-9a-fA-F]{32}"  # a Twilio Content template: https://www.twilio.com/docs/api/errors/21655


def provider_module(name: str) -> Provider:
    """The provider's module object (plugin.channels.<name>.PROVIDER); KeyError for an unknown one."""
    if name not in PROVIDERS:
        raise KeyError(name)
    module, attribute = MODULES.get(name, (name, "PROVIDER"))
    return getattr(importlib.import_module(f"plugin.channels.{module}"), attribute)


def inbound_url(public_url: str, provider: str, account_key: str) -> str:
    return f"{public_url.rstrip('/')}/inbound/{provider}/{account_key}"


def add(
    session: Session,
    box: SecretBox,
    account: Account,
    provider: str,
    *,
    api_url: str | None = None,
    sender: str = "",
    values: dict | None = None,
    keep_secrets: bool = False,
) -> ChannelConfig:
    """Set up (or replace) the account's `provider`; ValueError with a sentence for anything that cannot work.

    With `keep_secrets` a secret not given keeps its stored value (the settings page's "leave empty to keep").
    """
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDERS)}")
    values = {key: str(value).strip() for key, value in (values or {}).items() if value not in (None, "")}
    _check_text(values, sender, api_url)
    if keep_secrets:
        values = {**stored_secrets(session, box, account, provider), **values}
    unknown = set(values) - set(SECRETS[provider]) - set(SETTINGS[provider])
    if unknown:
        raise ValueError(f"{provider} does not take {', '.join(sorted(unknown))}")
    given = {**values, "sender": sender.strip()} if sender else values
    missing = [name for name in REQUIRED[provider] if not given.get(name)]
    if provider in ("twilio", "twilio-whatsapp") and not (sender or values.get("messaging_service_sid")):
        missing.append("from (or messaging_service_sid)")
    if missing:
        raise ValueError(f"{provider} needs {', '.join('--' + name.replace('_', '-') for name in missing)}")
    if provider in ("twilio", "vonage") and sender and not phones.e164(sender) and not sender.isalnum():
        raise ValueError("--from must be a number in E.164 (+15551234567) or an alphanumeric sender id")
    if provider == "twilio-whatsapp":
        sender = sender.strip().removeprefix("whatsapp:")
        if sender and not phones.e164(sender):
            raise ValueError("--from must be the WhatsApp sender's number in E.164 (+15551234567)")
        if not re.fullmatch(rf"{CONTENT_SID}|(\w+={CONTENT_SID})(,\w+={CONTENT_SID})*", values["content_sid"]):
            raise ValueError(
                "--content-sid must be a Content template's sid (HX and 32 hex digits), or one per language: "
                "en=HX...,el=HX..."
            )
    if api_url and not re.fullmatch(r"https?://[^\s]+", api_url):
        raise ValueError("--api-url must be an http(s) URL")
    if api_url:
        try:
            egress.check_url(api_url)
        except egress.EgressRefused as exc:
            raise ValueError(f"--api-url cannot be used: {exc}") from None
    if provider == "chatwoot" and account.platform != "chatwoot":
        raise ValueError("the chatwoot channel is for Chatwoot accounts (it posts into their conversations)")
    secrets = {name: values[name] for name in SECRETS[provider] if name in values}
    settings = {name: values[name] for name in SETTINGS[provider] if name in values}
    session.execute(
        delete(ChannelConfig).where(ChannelConfig.account_id == account.id, ChannelConfig.provider == provider)
    )
    row = ChannelConfig(
        account_id=account.id,
        provider=provider,
        api_url=api_url.rstrip("/") if api_url else None,
        sender=phones.e164(sender) or sender.strip(),
        settings=settings,
        secrets_encrypted=box.encrypt(json.dumps(secrets)),
    )
    session.add(row)
    session.flush()
    return row


def _check_text(values: dict[str, str], sender: str, api_url: str | None) -> None:
    """One line each, within the columns: a pasted value with a line break or NUL is a mistake, not a setting."""
    given = {**{"--" + k.replace("_", "-"): v for k, v in values.items()}, "--from": sender, "--api-url": api_url or ""}
    broken = sorted(name for name, value in given.items() if re.search(r"[\x00-\x1f\x7f]", value))
    if broken:
        raise ValueError(f"{', '.join(broken)}: use one line of text, without control characters")
    limits = {"--from": SENDER_MAX, "--api-url": API_URL_MAX}
    long = sorted(name for name, value in given.items() if len(value) > limits.get(name, VALUE_MAX))
    if long:
        raise ValueError(f"{', '.join(long)}: too long (at most {limits.get(long[0], VALUE_MAX)} characters)")


def stored_secrets(session: Session, box: SecretBox, account: Account, provider: str) -> dict[str, str]:
    """The provider's stored secrets (decrypted), {} when it is not set up."""
    row = session.scalar(
        select(ChannelConfig).where(ChannelConfig.account_id == account.id, ChannelConfig.provider == provider)
    )
    return json.loads(box.decrypt(row.secrets_encrypted) or "{}") if row else {}


def remove(session: Session, account: Account, provider: str) -> bool:
    return bool(
        session.execute(
            delete(ChannelConfig).where(ChannelConfig.account_id == account.id, ChannelConfig.provider == provider)
        ).rowcount
    )


def rows(session: Session, account_id: int) -> list[ChannelConfig]:
    return list(
        session.scalars(select(ChannelConfig).where(ChannelConfig.account_id == account_id).order_by(ChannelConfig.id))
    )


def describe(row: ChannelConfig, account: Account, public_url: str, box: SecretBox) -> dict:
    """The provider as the CLI and the settings page show it: never a secret, only which ones are set."""
    secrets = json.loads(box.decrypt(row.secrets_encrypted) or "{}")
    return {
        "provider": row.provider,
        "channel": PROVIDERS[row.provider],
        "inbound_url": inbound_url(public_url, row.provider, account.key),
        "api_url": row.api_url,
        "from": row.sender,
        **dict(row.settings or {}),
        "secrets_set": sorted(name for name, value in secrets.items() if value),
    }


def load(session: Session, box: SecretBox, account: Account, provider: str, public_url: str) -> ProviderConfig | None:
    """The account's provider with its secrets decrypted, or None when it is not set up."""
    row = session.scalar(
        select(ChannelConfig).where(ChannelConfig.account_id == account.id, ChannelConfig.provider == provider)
    )
    if provider == "chatwoot":
        return _chatwoot(box, account, row, public_url)
    if row is None:
        return None
    return ProviderConfig(
        account_id=account.id,
        account_key=account.key,
        provider=provider,
        api_url=row.api_url,
        sender=row.sender,
        settings=dict(row.settings or {}),
        secrets=json.loads(box.decrypt(row.secrets_encrypted) or "{}"),
        inbound_url=inbound_url(public_url, provider, account.key),
    )


def channel_order(account: Account) -> list[str]:
    """The account's `channels` preference (option, e.g. "whatsapp,sms,email"); email alone when unset."""
    raw = str((account.options or {}).get("channels") or "email")
    return [name.strip() for name in raw.split(",") if name.strip() in CHANNELS] or ["email"]


def parse_order(text: str) -> str:
    """A validated channel order for `accounts update --channels`; ValueError naming a bad entry."""
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    bad = [name for name in names if name not in CHANNELS]
    if bad or not names:
        raise ValueError(f"--channels takes a comma-separated order of {', '.join(CHANNELS)}; got {text!r}")
    if len(set(names)) != len(names):
        raise ValueError("--channels lists a channel twice")
    return ",".join(names)


def providers_for(session: Session, account: Account) -> dict[str, str]:
    """channel -> the provider that carries it for this account (twilio before vonage for sms)."""
    found: dict[str, str] = {}
    for row in rows(session, account.id):
        found.setdefault(PROVIDERS[row.provider], row.provider)
        if row.provider == "twilio":
            found["sms"] = "twilio"
    if account.platform == "chatwoot":
        found.setdefault("chat", "chatwoot")
    return found


def _chatwoot(box: SecretBox, account: Account, row: ChannelConfig | None, public_url: str) -> ProviderConfig | None:
    """In-chat runs on the Chatwoot account's own API credentials; a channel row may only give the webhook secret."""
    if account.platform != "chatwoot":
        return None
    own = json.loads(box.decrypt(row.secrets_encrypted) or "{}") if row else {}
    return ProviderConfig(
        account_id=account.id,
        account_key=account.key,
        provider="chatwoot",
        api_url=account.api_url,
        sender="",
        settings={"account_id": (account.options or {}).get("account_id")},
        secrets={
            "api_token": box.decrypt(account.api_token_encrypted),
            "webhook_secret": own.get("webhook_secret") or box.decrypt(account.webhook_secret_encrypted),
        },
        inbound_url=inbound_url(public_url, "chatwoot", account.key),
    )
