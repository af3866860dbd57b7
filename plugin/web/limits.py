"""Per-client rate limits on the public rating routes (Flask-Limiter; counted in Redis when REDIS_URL is set)."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address


def init_app(app: Flask, limited: list[Blueprint]) -> Limiter:
    """A limiter of this app's own (tests build many apps), applied to the `limited` blueprints."""
    settings = app.extensions["opencsat"].settings
    if settings.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind PROXY_COUNT trusted proxies the client address is theirs to tell (X-Forwarded-For).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count)
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        key_prefix="opencsat-limits",
        default_limits=[],
    )
    for blueprint in limited:
        limiter.limit(settings.rating_rate_limit)(blueprint)
    # Sign-ins have limits of their own (per address and per admin email): plugin/admin/login_limit.py.
    return limiter
