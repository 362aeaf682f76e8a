"""Passwords: argon2id, hashed and checked in a thread so the event loop never waits on it."""

from __future__ import annotations

import asyncio
import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import _l

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when an account does not exist, so a miss costs what a hit costs.
    Made by the first check (a hit or a miss alike), not on import: a command that checks no
    password does not pay for a hash."""
    return _hasher.hash("payfacile-dummy-password")


def _verify(stored_hash: str | None, password: str) -> bool:
    dummy = _dummy_hash()
    return _hasher.verify(stored_hash or dummy, password)


def check_new_password(password: str, confirm: str | None = None, *, email: str = "") -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            _l("Choose a password of at least %(count)s characters.", count=MIN_LENGTH),
            field="password",
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(
            _l("A password is %(count)s characters at most.", count=MAX_LENGTH), field="password"
        )
    if email and password.strip().lower() == email.strip().lower():
        raise InvalidInput(_l("Your password cannot be your email address."), field="password")
    if confirm is not None and confirm != password:
        raise InvalidInput(_l("The two passwords do not match."), field="confirm")
    return password


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; False otherwise, in about the same time either way."""
    try:
        matched = await asyncio.to_thread(_verify, stored_hash, password[:MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        return False
    return bool(matched) and stored_hash is not None
