"""Accounts: creating one (secrets encrypted, API key hashed), finding one, and its decrypted credentials."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from plugin import egress
from plugin.adapters import PLATFORMS, AccountCredentials, supported_platforms
from plugin.models import Account
from plugin.security import SecretBox, hash_api_key, new_account_key, new_api_key
from plugin.surveys.scales import get_scale


@dataclass(frozen=True)
class NewAccount:
    account: Account
    api_key: str  # shown once; only its hash is stored


def create_account(
    session: Session,
    box: SecretBox,
    *,
    platform: str,
    name: str,
    webhook_secret: str | None = None,
    api_url: str | None = None,
    api_user: str | None = None,
    api_token: str | None = None,
    locale: str = "en",
    scale: str = "csat5",
    delay_minutes: int = 60,
    throttle_days: int = 7,
    settle_minutes: int = 10,
    edit_days: int = 7,
    options: dict | None = None,
) -> NewAccount:
    """A new account; ValueError with a sentence for any setting that cannot work."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    if platform not in supported_platforms():
        raise ValueError(f"platform {platform!r} is not supported yet; available: {', '.join(supported_platforms())}")
    if not name.strip():
        raise ValueError("the account needs a name")
    get_scale(scale)
    for label, value in (
        ("delay-minutes", delay_minutes),
        ("throttle-days", throttle_days),
        ("settle-minutes", settle_minutes),
        ("edit-days", edit_days),
    ):
        if value < 0:
            raise ValueError(f"--{label} cannot be negative")
    api_url = _checked_api_url(api_url)
    api_key = new_api_key()
    account = Account(
        key=new_account_key(),
        name=name.strip(),
        platform=platform,
        api_key_hash=hash_api_key(api_key),
        webhook_secret_encrypted=box.encrypt(webhook_secret),
        api_url=api_url,
        api_user=api_user,
        api_token_encrypted=box.encrypt(api_token),
        locale=locale,
        scale=scale,
        delay_minutes=delay_minutes,
        throttle_days=throttle_days,
        settle_minutes=settle_minutes,
        edit_days=edit_days,
        options=seal_options(box, {}, options or {}),
    )
    session.add(account)
    session.flush()
    return NewAccount(account, api_key)


SETTINGS = ("locale", "scale", "delay_minutes", "throttle_days", "settle_minutes", "edit_days", "api_url", "api_user")


def update_account(
    session: Session,
    box: SecretBox,
    account: Account,
    *,
    webhook_secret: str | None = None,
    api_token: str | None = None,
    options: dict | None = None,
    **settings,
) -> Account:
    """Change the given settings (None leaves one alone); options are merged, an empty value removes one."""
    unknown = set(settings) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    changes = {name: value for name, value in settings.items() if value is not None}
    if "scale" in changes:
        get_scale(changes["scale"])
    for name in ("delay_minutes", "throttle_days", "settle_minutes", "edit_days"):
        if changes.get(name, 0) < 0:
            raise ValueError(f"--{name.replace('_', '-')} cannot be negative")
    if "api_url" in changes:
        changes["api_url"] = _checked_api_url(changes["api_url"])
    for name, value in changes.items():
        setattr(account, name, value)
    if webhook_secret is not None:
        account.webhook_secret_encrypted = box.encrypt(webhook_secret)
    if api_token is not None:
        account.api_token_encrypted = box.encrypt(api_token)
    if options:
        account.options = seal_options(box, account.options or {}, options)
    session.flush()
    return account


SLACK_URL, SLACK_URL_SEALED = "alert_slack_url", "alert_slack_url_encrypted"
SECRET_OPTIONS = (SLACK_URL, SLACK_URL_SEALED)
HIDDEN = "(set; not shown)"


def seal_options(box: SecretBox, current: dict, changes: dict) -> dict:
    """`current` with `changes` merged ("" removes one); a Slack URL is checked and stored encrypted only."""
    changes = dict(changes)
    merged = dict(current)
    if SLACK_URL in changes:
        url = str(changes.pop(SLACK_URL) or "").strip()
        merged.pop(SLACK_URL, None)  # a plain-text one from before encryption goes as well
        merged.pop(SLACK_URL_SEALED, None)
        if url:
            from plugin.outbound import check_url

            merged[SLACK_URL_SEALED] = box.encrypt(check_url(url))
    merged.update(changes)
    return {key: value for key, value in merged.items() if value != ""}


def slack_url(account: Account, box: SecretBox) -> str | None:
    """The account's Slack incoming-webhook URL, decrypted (a plain one stored before encryption still reads)."""
    options = account.options or {}
    if options.get(SLACK_URL_SEALED):
        return box.decrypt(options[SLACK_URL_SEALED])
    return str(options.get(SLACK_URL) or "").strip() or None


def public_options(options: dict | None) -> dict:
    """Options as they may be printed or shown: a secret one says only that it is set."""
    shown = {k: v for k, v in (options or {}).items() if k not in SECRET_OPTIONS}
    if any((options or {}).get(k) for k in SECRET_OPTIONS):
        shown[SLACK_URL] = HIDDEN
    return shown


def _checked_api_url(api_url: str | None) -> str | None:
    """The helpdesk API URL, refused with a sentence when the outbound policy would never call it."""
    if not api_url:
        return api_url
    try:
        return egress.check_url(api_url.strip())
    except egress.EgressRefused as exc:
        raise ValueError(f"--api-url cannot be used: {exc}") from None


def by_key(session: Session, key: str) -> Account | None:
    return session.scalar(select(Account).where(Account.key == key))


@dataclass(frozen=True)
class Known:
    """An account as a web process holds it between requests: detached, read-only, its secrets decrypted."""

    account: Account
    credentials: AccountCredentials


class AccountCache:
    """Accounts by webhook key, kept per process so that a webhook needs no SELECT and no decryption.

    The cache is never the judge: every ingest inserts its event only while the account row still has the
    `version` the copy was read at (plugin/intake.py), and a signature that fails against a copy is checked again
    against the row. A change made anywhere (CLI, admin page, another process) therefore takes effect on the next
    webhook; `forget` drops the copy then. Bounded, least recently used first out.
    """

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, box: SecretBox, key: str) -> tuple[Known | None, bool]:
        """The account for `key` (None when there is none), and whether it came from memory."""
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return known, True
        account = by_key(session, key)
        if account is None:
            return None, False  # not kept: a key that does not exist must not fill the cache
        session.expunge(account)  # detached with every column loaded (expire_on_commit is off)
        known = Known(account, credentials(account, box))
        with self._lock:
            self._known[key] = known
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return known, False

    def forget(self, key: str) -> None:
        with self._lock:
            self._known.pop(key, None)


_caches: WeakKeyDictionary[Engine, AccountCache] = WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> AccountCache:
    """This process's account cache for one database (tests run several apps, each on its own)."""
    with _caches_lock:
        cache = _caches.get(engine)
        if cache is None:
            cache = _caches[engine] = AccountCache()
        return cache


def by_api_key(session: Session, api_key: str) -> Account | None:
    return session.scalar(select(Account).where(Account.api_key_hash == hash_api_key(api_key)))


def credentials(account: Account, box: SecretBox) -> AccountCredentials:
    """The account's secrets decrypted, for an adapter."""
    return AccountCredentials(
        account_key=account.key,
        webhook_secret=box.decrypt(account.webhook_secret_encrypted),
        api_url=account.api_url,
        api_user=account.api_user,
        api_token=box.decrypt(account.api_token_encrypted),
        options=dict(account.options or {}),
    )


def describe(account: Account, public_url: str) -> dict:
    """The account as the CLI prints it (no secrets)."""
    return {
        "account_key": account.key,
        "name": account.name,
        "platform": account.platform,
        "webhook_url": f"{public_url}/webhooks/{account.platform}/{account.key}",
        "api_url": account.api_url,
        "locale": account.locale,
        "scale": account.scale,
        "delay_minutes": account.delay_minutes,
        "throttle_days": account.throttle_days,
        "settle_minutes": account.settle_minutes,
        "edit_days": account.edit_days,
        "options": public_options(account.options),
    }
