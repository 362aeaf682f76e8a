"""Encryption at rest with the secret key: what the database must hold but not reveal.

Fernet (AES-128-CBC with HMAC-SHA256) under a key derived for each purpose from each
`SECRET_KEY` with HKDF-SHA256. The newest key seals and any listed key opens, so rotating
`SECRET_KEY` (new key first, old one kept a while) leaves sealed rows readable.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise.queryset import QuerySet

from payfacile.platform.config import Settings

__all__ = ["InvalidToken", "SealedColumn", "reseal", "seal", "unseal"]


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


def reseal(settings: Settings, purpose: str, sealed: str) -> str:
    """`sealed` sealed again under the newest key (`InvalidToken` if no listed key opens it)."""
    return _fernet(settings, purpose).rotate(sealed.encode()).decode()


@dataclass(frozen=True)
class SealedColumn:
    """A column holding values sealed for `purpose`, which `payfacile keys rotate` seals
    again under the newest key. `rows` is every row of its table (a part whose rows are
    tenant-owned passes its own cross-store query); an empty value holds nothing."""

    name: str  # what the command's progress calls it ("certificate keys")
    rows: Callable[[], QuerySet[Any]]
    field: str
    purpose: str


async def reseal_column(
    settings: Settings, column: SealedColumn, *, batch: int = 200
) -> AsyncIterator[tuple[int, int]]:
    """Seal every value of `column` again under the newest key, `batch` rows at a time,
    yielding (done, total) after each batch. A row changed meanwhile keeps its new value
    (each write is conditional on the value read)."""
    total = await column.rows().exclude(**{column.field: ""}).count()
    done, after = 0, 0
    while True:
        rows = await (
            column.rows()
            .exclude(**{column.field: ""})
            .filter(id__gt=after)
            .order_by("id")
            .limit(batch)
            .values_list("id", column.field)
        )
        if not rows:
            return
        for row_id, sealed in rows:
            fresh = reseal(settings, column.purpose, str(sealed))
            await (
                column.rows()
                .filter(id=row_id, **{column.field: sealed})
                .update(**{column.field: fresh})
            )
            after = row_id
        done += len(rows)
        yield done, total
