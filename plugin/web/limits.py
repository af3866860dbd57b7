"""Rate limits on the public rating routes (Flask-Limiter; counted in Redis when REDIS_URL is set).

A limit is per link and client address, never per address alone: a company's many readers behind one address (or
a router in front of the service) do not share one bucket. A request on a rating link that is refused with 429 is
still kept as an event (kind "limited"): every request on a rating link is evidence.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, request
from flask_limiter import Limiter, RequestLimit
from flask_limiter.util import get_remote_address

log = logging.getLogger(__name__)


def client_and_link() -> str:
    """The limit's key: the client address and the link it asks for (a rating token, an agent's signature link
    with its ticket, an unsubscribe token)."""
    link = "/".join(str(value) for value in (request.view_args or {}).values())
    if request.endpoint == "signature.rate":
        link += "?" + request.args.get("ticket", "")[:64]
    return f"{get_remote_address()}|{request.endpoint}|{link[:400]}"


def init_app(app: Flask, limited: list[Blueprint]) -> Limiter:
    """A limiter of this app's own (tests build many apps), applied to the `limited` blueprints."""
    settings = app.extensions["opencsat"].settings
    if settings.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind PROXY_COUNT trusted proxies the client address is theirs to tell (X-Forwarded-For).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count)
    limiter = Limiter(
        key_func=client_and_link,
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
        limiter.limit(settings.rating_rate_limit, on_breach=_keep_limited_request)(blueprint)
    # Sign-ins have limits of their own (per address and per admin email): plugin/admin/login_limit.py.
    return limiter


def _keep_limited_request(limit: RequestLimit) -> None:
    """Keep a refused request on a rating link as an event; the 429 is answered whatever happens here."""
    if request.endpoint not in ("ratings.click", "ratings.submit"):
        return None
    try:
        from plugin.web.ratings import record_limited

        record_limited(request.view_args.get("token", ""))
    except Exception:  # a refused request must still be answered 429, never 500
        log.exception("a rate-limited request on a rating link could not be kept")
    return None
