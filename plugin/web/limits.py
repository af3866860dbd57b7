"""Rate limits on the public rating routes: one fixed-window counter per link and client, in Redis when REDIS_URL is
set (every gunicorn worker shares the count), in this process's memory otherwise.

A limit is per link and client address, never per address alone: a company's many readers behind one address (or
a router in front of the service) do not share one bucket. A request on a rating link that is refused with 429 is
still kept as an event (kind "limited"): every request on a rating link is evidence.

The check is the `limits` library's fixed window called directly (one Redis round trip: INCR with its expiry in one
script), not Flask-Limiter: its per-request limit resolution cost more than the rating click's SQL (issue 15).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Flask, abort, request
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

log = logging.getLogger(__name__)

KEY_PREFIX = "opencsat-limits"
# With Redis away each try costs up to its connect timeout, so the counts stay in memory this long before Redis is
# tried again (docs/reliability.md).
REDIS_RETRY_SECONDS = 5.0


def client_and_link() -> str:
    """The limit's key: the client address and the link it asks for (a rating token, an agent's signature link
    with its ticket, an unsubscribe token)."""
    link = "/".join(str(value) for value in (request.view_args or {}).values())
    if request.endpoint == "signature.rate":
        link += "?" + request.args.get("ticket", "")[:64]
    return f"{request.remote_addr or '127.0.0.1'}|{request.endpoint}|{link[:400]}"


class LinkLimiter:
    """RATING_RATE_LIMIT ("60 per minute", or several: "10/second;60/minute") per key; counted in Redis, in memory
    while Redis does not answer (never a 500)."""

    def __init__(self, limits: str, redis_url: str | None) -> None:
        self.limits: list[RateLimitItem] = parse_many(limits)
        self._local = FixedWindowRateLimiter(MemoryStorage())
        self._shared = (
            FixedWindowRateLimiter(storage_from_string(redis_url, socket_connect_timeout=2, socket_timeout=2))
            if redis_url
            else None
        )
        self._redis_again_at = 0.0

    def breached(self, key: str) -> RateLimitItem | None:
        """Count one request under `key` in each limit, in order; the first limit already reached, if any (the ones
        after it are not counted, as Flask-Limiter did)."""
        for limit in self.limits:
            if not self._hit(limit, key):
                return limit
        return None

    def _hit(self, limit: RateLimitItem, key: str) -> bool:
        if self._shared is not None and time.monotonic() >= self._redis_again_at:
            try:
                return self._shared.hit(limit, KEY_PREFIX, key)
            except Exception as exc:  # Redis away must not take the rating pages down (docs/reliability.md)
                self._redis_again_at = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning(
                    "rate limit storage unreachable (%s): falling back to in-memory storage for %ss",
                    type(exc).__name__,
                    REDIS_RETRY_SECONDS,
                )
        return self._local.hit(limit, KEY_PREFIX, key)


def init_app(app: Flask, limited: list[Blueprint]) -> LinkLimiter:
    """A limiter of this app's own (tests build many apps), checked before every route of the `limited`
    blueprints."""
    settings = app.extensions["opencsat"].settings
    if settings.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind PROXY_COUNT trusted proxies the client address is theirs to tell (X-Forwarded-For).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count)
    limiter = LinkLimiter(settings.rating_rate_limit, settings.redis_url)

    def check_limit() -> None:
        breached = limiter.breached(client_and_link())
        if breached is not None:
            _keep_limited_request()
            abort(429, str(breached))

    for blueprint in limited:
        app.before_request_funcs.setdefault(blueprint.name, []).append(check_limit)
    app.extensions["opencsat_limiter"] = limiter
    # Sign-ins have limits of their own (per address and per admin email): plugin/admin/login_limit.py.
    return limiter


def _keep_limited_request() -> None:
    """Keep a refused request on a rating link as an event; the 429 is answered whatever happens here."""
    if request.endpoint not in ("ratings.click", "ratings.submit"):
        return
    try:
        from plugin.web.ratings import record_limited

        record_limited(request.view_args.get("token", ""))
    except Exception:  # a refused request must still be answered 429, never 500
        log.exception("a rate-limited request on a rating link could not be kept")
