"""Secrets at rest: helpdesk secrets encrypted (Fernet), API keys stored as hashes only."""

from __future__ import annotations

import hashlib
import secrets

from cryptography.fernet import InvalidToken

from plugin.keys import KeyRing


class SecretBox:
    """Encrypts account secrets with the current key (derived from SECRET_KEY); reads those of earlier keys too."""

    def __init__(self, keys: KeyRing | str) -> None:
        self._fernet = (keys if isinstance(keys, KeyRing) else KeyRing(keys)).fernet()

    def encrypt(self, plaintext: str | None) -> str | None:
        return None if plaintext is None else self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str | None) -> str | None:
        if ciphertext is None:
            return None
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError(
                "a stored secret cannot be decrypted: was SECRET_KEY changed without keeping the old one in "
                "SECRET_KEY_FALLBACKS?"
            ) from None

    def rotate(self, ciphertext: str | None) -> str | None:
        """The same secret encrypted under the current key (ValueError when no known key reads it)."""
        if ciphertext is None:
            return None
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS") from None


def new_api_key() -> str:
    """A fresh API key, shown once to the admin."""
    return "ocs_" + secrets.token_urlsafe(32)


def new_account_key() -> str:
    """The public, unguessable account id that appears in webhook URLs."""
    return secrets.token_urlsafe(12)


def hash_api_key(api_key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is enough: no dictionary to defend against.
    return hashlib.sha256(api_key.encode()).hexdigest()
