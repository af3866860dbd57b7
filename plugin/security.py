"""Secrets at rest: helpdesk secrets encrypted (Fernet), API keys stored as hashes only."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretBox:
    """Encrypts and decrypts account secrets with a key derived from SECRET_KEY."""

    def __init__(self, secret_key: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"opencsat secrets at rest").derive(
            secret_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def encrypt(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str | None) -> str | None:
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted: was SECRET_KEY changed?") from None


def new_api_key() -> str:
    """A fresh API key, shown once to the admin."""
    return "ocs_" + secrets.token_urlsafe(32)


def new_account_key() -> str:
    """The public, unguessable account id that appears in webhook URLs."""
    return secrets.token_urlsafe(12)


def hash_api_key(api_key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is enough: no dictionary to defend against.
    return hashlib.sha256(api_key.encode()).hexdigest()
