"""Settings from the environment (12-factor), parsed strictly: junk fails start-up with a sentence."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """A setting is present but cannot be used; the message says which and why."""


def _url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    value = (env.get(name) or "").strip()
    if not value:
        return None
    scheme = urlsplit(value).scheme
    if scheme not in schemes and not any(scheme.startswith(s + "+") for s in schemes):
        raise SettingsError(f"{name} must start with one of {', '.join(s + '://' for s in schemes)}; got {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number; got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}; got {value}")
    return value


MIN_SECRET_KEY_CHARS = 32
GENERATE_KEY_HINT = "generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def _secret_key(env: Mapping[str, str], instance_path: Path) -> str:
    """SECRET_KEY from the environment, else one generated once and kept under instance/."""
    value = (env.get("SECRET_KEY") or "").strip()
    if value:
        _check_key_length("SECRET_KEY", value)
        return value
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def _check_key_length(name: str, value: str) -> None:
    if len(value) < MIN_SECRET_KEY_CHARS:
        raise SettingsError(
            f"{name} must be at least {MIN_SECRET_KEY_CHARS} characters long (it has {len(value)}); {GENERATE_KEY_HINT}"
        )


def _fallback_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    """SECRET_KEY_FALLBACKS: earlier keys, comma-separated, still read (tokens, sessions, stored secrets) but never
    used to sign or encrypt anything new; drop one once `flask --app plugin keys rotate` has run and its links aged."""
    keys = tuple(k.strip() for k in (env.get("SECRET_KEY_FALLBACKS") or "").split(",") if k.strip())
    for key in keys:
        _check_key_length("every key in SECRET_KEY_FALLBACKS", key)
    return keys


def _networks(env: Mapping[str, str], name: str) -> tuple:
    from plugin.egress import parse_networks

    try:
        return parse_networks(env.get(name) or "")
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the service reads from its environment; see the README's configuration table."""

    instance_path: Path
    secret_key: str
    database_url: str
    secret_key_fallbacks: tuple[str, ...] = ()
    outbound_allowed_networks: tuple = ()  # CIDRs the outbound policy may call although private (plugin/egress.py)
    redis_url: str | None = None
    smtp_url: str | None = None
    port: int = 5000
    public_url: str = "http://127.0.0.1:5000"
    mail_from: str = "OpenCSAT <surveys@localhost>"
    max_body_bytes: int = 256 * 1024
    sweep_seconds: int = 5
    lease_seconds: int | None = None  # LEASE_SECONDS: one lease for every job instead of each job's own (2-5 min)
    rating_rate_limit: str = "60 per minute"
    proxy_count: int = 0
    outbox_path: Path = field(default=Path("instance/outbox"))
    templates_override_path: Path = field(default=Path("instance/templates"))  # admins' email templates

    @classmethod
    def from_env(cls, env: Mapping[str, str], instance_path: Path) -> Settings:
        instance_path = Path(instance_path)
        port = _int(env, "PORT", 5000, minimum=1)
        public_url = _url(env, "PUBLIC_URL", ("http", "https")) or f"http://127.0.0.1:{port}"
        database_url = _url(env, "DATABASE_URL", ("sqlite", "postgresql", "postgres"))
        if database_url is None:
            instance_path.mkdir(parents=True, exist_ok=True)
            database_url = f"sqlite:///{instance_path / 'opencsat.sqlite3'}"
        return cls(
            instance_path=instance_path,
            secret_key=_secret_key(env, instance_path),
            secret_key_fallbacks=_fallback_keys(env),
            outbound_allowed_networks=_networks(env, "OUTBOUND_ALLOWED_NETWORKS"),
            database_url=_normalise_database_url(database_url),
            redis_url=_url(env, "REDIS_URL", ("redis", "rediss", "unix")),
            smtp_url=_url(env, "SMTP_URL", ("smtp", "smtps")),
            port=port,
            public_url=public_url.rstrip("/"),
            mail_from=(env.get("MAIL_FROM") or "").strip() or cls.mail_from,
            max_body_bytes=_int(env, "MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            sweep_seconds=_int(env, "SWEEP_SECONDS", cls.sweep_seconds, minimum=1),
            lease_seconds=_int(env, "LEASE_SECONDS", 0, minimum=0) or None,
            rating_rate_limit=_rate_limit(env, "RATING_RATE_LIMIT", cls.rating_rate_limit),
            proxy_count=_int(env, "PROXY_COUNT", 0),
            outbox_path=instance_path / "outbox",
            templates_override_path=Path(
                (env.get("TEMPLATES_OVERRIDE_PATH") or "").strip() or instance_path / "templates"
            ),
        )


def _rate_limit(env: Mapping[str, str], name: str, default: str) -> str:
    from limits import parse_many

    value = (env.get(name) or "").strip() or default
    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(f"{name} must look like '60 per minute' or '10/second'; got {value!r}") from None
    return value


def _normalise_database_url(url: str) -> str:
    """postgres:// and postgresql:// both mean psycopg 3 here."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load(overrides: Mapping[str, object] | None, instance_path: Path) -> Settings:
    """Settings from os.environ with test or caller overrides on top (None removes a variable)."""
    env = dict(os.environ)
    for key, value in (overrides or {}).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return Settings.from_env(env, instance_path)
