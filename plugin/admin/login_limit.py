"""Password guessing on /admin/login: failed sign-ins counted per address, per admin email, and per both.

Counted where every worker sees them (Redis when REDIS_URL is set; memory in a single process otherwise), so a
gunicorn with several workers does not multiply the allowance. Only failures count: an admin who types the password
right is never slowed by their own earlier sign-ins. Per email, so guessing one admin's password from many
addresses is slowed too; per address, so one address spraying many emails is; both, with room for a person's typos.
Behind a reverse proxy set PROXY_COUNT, or every admin shares the proxy's address (docs/security.md).
"""

from __future__ import annotations

import hashlib
import time

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

PER_ADDRESS_AND_EMAIL = parse("5 per minute")
PER_EMAIL = parse("20 per hour")
PER_ADDRESS = parse("30 per minute")


class LoginLimiter:
    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def _keys(self, address: str, email: str):
        # The email is hashed: the limiter's store needs no list of who tried to sign in.
        who = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return (
            (PER_ADDRESS_AND_EMAIL, ("opencsat-login", "pair", address, who)),
            (PER_EMAIL, ("opencsat-login", "email", who)),
            (PER_ADDRESS, ("opencsat-login", "address", address)),
        )

    def retry_after(self, address: str, email: str) -> int | None:
        """Seconds to wait when one of the limits is used up, else None."""
        for limit, key in self._keys(address, email):
            if not self._limiter.test(limit, *key):
                reset, _ = self._limiter.get_window_stats(limit, *key)
                return max(1, int(reset - time.time()) + 1)
        return None

    def failed(self, address: str, email: str) -> None:
        for limit, key in self._keys(address, email):
            self._limiter.hit(limit, *key)
