"""What Zendesk does for an app with `"signedUrls": true`: sign a JWT (RS256) with the app's private key and POST
the sidebar's first page with it in the form field `token`. Here with a test RSA key made by cryptography.

Claims as Zendesk sets them (https://developer.zendesk.com/documentation/apps/app-developer-guide/
using-the-apps-framework/#jwt-claims): iss (the account's host), aud (the installation's API URL), iat, nbf, exp
(5 minutes later), sub (the user looking), qsh, cnf.jku and context {product, location}. The form of sub
(the user's API URL) is an assumption; plugin/sidebar/zendesk.py also reads a bare id.
"""

from __future__ import annotations

import hashlib
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LIFETIME_SECONDS = 300


class ZafSigner:
    """One app installation's key pair; mints the JWT Zendesk would send for a user."""

    def __init__(self, subdomain: str = "acme", installation_id: str = "360001234", app_id: str = "987654") -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.issuer = f"{subdomain}.zendesk.com"
        self.subdomain, self.installation_id, self.app_id = subdomain, installation_id, app_id

    @property
    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def audience(self) -> str:
        return f"https://{self.issuer}/api/v2/apps/installations/{self.installation_id}.json"

    def claims(self, user_id: int, *, issued: int | None = None, **changes) -> dict:
        issued = int(time.time()) if issued is None else issued
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "iat": issued,
            "nbf": issued,
            "exp": issued + LIFETIME_SECONDS,
            "sub": f"https://{self.issuer}/api/v2/users/{user_id}.json",
            "qsh": hashlib.sha256(uuid.uuid4().bytes).hexdigest(),
            "cnf": {"jku": f"https://{self.issuer}/api/v2/apps/{self.app_id}/public_key.pem"},
            "context": {"product": "support", "location": "ticket_sidebar"},
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, user_id: int, *, key=None, algorithm: str = "RS256", **changes) -> str:
        return jwt.encode(self.claims(user_id, **changes), key or self.key, algorithm=algorithm)
