"""Encryption at rest with the secret key: what the database must hold but not reveal.

Fernet (AES-128-CBC with HMAC-SHA256) under a key derived for each purpose from each
`SECRET_KEY` with HKDF-SHA256. The newest key seals and any listed key opens, so rotating
`SECRET_KEY` (new key first, old one kept a while) leaves sealed rows readable.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from payfacile.platform.config import Settings

__all__ = ["InvalidToken", "seal", "unseal"]


def _fernet(settings: Settings, purpose: str) -> MultiFernet:
    keys = []
    for secret in settings.secret_keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"payfacile:{purpose}".encode()
        ).derive(secret)
        keys.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(keys)


def seal(settings: Settings, purpose: str, data: bytes) -> str:
    """`data` encrypted and authenticated for `purpose`, as text for a database column."""
    return _fernet(settings, purpose).encrypt(data).decode()


def unseal(settings: Settings, purpose: str, sealed: str) -> bytes:
    """What `seal` sealed; `InvalidToken` if no current key opens it or it was altered."""
    return _fernet(settings, purpose).decrypt(sealed.encode())
