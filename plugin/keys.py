"""One root secret, a key per purpose: HKDF-SHA256 with a label per use, and older roots kept for reading.

SECRET_KEY is the root. Each purpose (the admin session cookie, each kind of link token, secrets at rest, the
sidebar) gets its own key, derived with HKDF (RFC 5869) and the purpose's label, so a key leaked or misused in one
place signs nothing elsewhere. SECRET_KEY_FALLBACKS lists earlier roots: what they signed or encrypted still reads,
nothing new is made with them (`flask --app plugin keys rotate` re-encrypts stored secrets under the current root).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# Labels are part of the derived keys: renaming one invalidates everything made under it.
SESSION = "admin session"
SECRETS_AT_REST = "secrets at rest"
SIDEBAR = "sidebar"


def derive(root: str, purpose: str) -> bytes:
    """The 32-byte key for `purpose` under `root`."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"opencsat {purpose}".encode()).derive(
        root.encode()
    )


class KeyRing:
    """The current root and the earlier ones still read, and the per-purpose keys made from them."""

    def __init__(self, current: str, fallbacks: Sequence[str] = ()) -> None:
        self.current, self.fallbacks = current, tuple(fallbacks)

    @property
    def roots(self) -> tuple[str, ...]:
        """Newest first."""
        return (self.current, *self.fallbacks)

    def key(self, purpose: str) -> bytes:
        """The key that signs or encrypts anything new for `purpose`."""
        return derive(self.current, purpose)

    def signing_keys(self, purpose: str, *, legacy_roots: bool = False) -> list[str]:
        """For itsdangerous (and Flask's session): every key that may have signed, OLDEST FIRST, so the last signs.

        `legacy_roots` also accepts what the roots themselves signed before keys were derived per purpose, so links
        already sitting in customers' mailboxes keep working; those roots never sign anything new.
        """
        derived = [derive(root, purpose).hex() for root in reversed(self.roots)]
        return [*reversed(self.roots), *derived] if legacy_roots else derived

    def fernet(self, purpose: str = SECRETS_AT_REST) -> MultiFernet:
        """Encrypts with the current root's key, decrypts with any root's."""
        return MultiFernet([Fernet(base64.urlsafe_b64encode(derive(root, purpose))) for root in self.roots])
