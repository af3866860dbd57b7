"""Per-client rate limits on the public rating routes (Flask-Limiter; counted in Redis when REDIS_URL is set)."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

LOGIN_LIMIT = "10 per minute"


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
        # Redis away must not take the rating pages down (docs/reliability.md): count in this process's memory
        # meanwhile (Flask-Limiter logs "falling back to in-memory storage") and return to Redis when it answers.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
        storage_options={"socket_connect_timeout": 2, "socket_timeout": 2} if settings.redis_url else {},
    )
    for blueprint in limited:
        limiter.limit(settings.rating_rate_limit)(blueprint)
    if "admin.login" in app.view_functions:
        # Password guessing: a few tries a minute per address is plenty for a person.
        app.view_functions["admin.login"] = limiter.limit(LOGIN_LIMIT, methods=["POST"])(
            app.view_functions["admin.login"]
        )
    return limiter
