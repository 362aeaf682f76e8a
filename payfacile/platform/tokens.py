"""Single-use, expiring tokens sent by email: invitations, sign-in links, resets, email changes.

The raw token (32 random bytes) appears only in the link; the table holds its SHA-256. A new
token of one purpose for one person voids the older ones. `peek` checks a token without using
it (to show a form, or a "continue" button that mail scanners cannot use up); `consume` uses
it, at most once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from payfacile.platform.errors import PayFacileError
from payfacile.platform.models import SessionKind, Token, TokenPurpose
from payfacile.platform.text import Message, _l

LIFETIMES = {
    TokenPurpose.INVITATION: timedelta(days=7),
    TokenPurpose.PASSWORD_RESET: timedelta(hours=1),
    TokenPurpose.SIGN_IN: timedelta(minutes=15),
    TokenPurpose.EMAIL_CHANGE: timedelta(hours=24),
}


class TokenUnusable(PayFacileError):
    status = 410
    code = "link_unusable"
    title = "This link can no longer be used"

    def __init__(self, message: Message, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def issue(
    *,
    purpose: TokenPurpose,
    subject_kind: SessionKind,
    subject_id: int,
    store_id: int | None,
    payload: dict[str, Any] | None = None,
) -> tuple[str, Token]:
    """A new token; every older unused token of this purpose for this person stops working."""
    now = datetime.now(UTC)
    await void(subject_kind=subject_kind, subject_id=subject_id, purposes=(purpose,))
    raw = secrets.token_urlsafe(32)
    token = await Token.create(
        purpose=purpose,
        token_hash=_hash(raw),
        subject_kind=subject_kind,
        subject_id=subject_id,
        store_id=store_id,
        payload=payload or {},
        expires_at=now + LIFETIMES[purpose],
    )
    return raw, token


async def void(
    *, subject_kind: SessionKind, subject_id: int, purposes: tuple[TokenPurpose, ...]
) -> None:
    """Every unused token of these purposes for this person stops working ("a newer link was
    sent"), as when their address changes before they used its link."""
    await Token.filter(
        purpose__in=purposes, subject_kind=subject_kind, subject_id=subject_id, used_at=None
    ).update(used_at=datetime.now(UTC), payload={"voided": True})


async def peek(
    raw: str, *, purpose: TokenPurpose, subject_kind: SessionKind, store_id: int | None
) -> Token:
    """The token if it can still be used here; raises `TokenUnusable` saying why not."""
    token = None
    if raw and len(raw) <= 128:
        token = await Token.get_or_none(token_hash=_hash(raw))
    if (
        token is None
        or token.purpose != purpose
        or token.subject_kind != subject_kind
        or token.store_id != store_id
    ):
        raise TokenUnusable(
            _l("This link is not valid. Check that you copied all of it."), reason="unknown"
        )
    if token.used_at is not None:
        if (token.payload or {}).get("voided"):
            raise TokenUnusable(
                _l("A newer link was sent since this one. Use the link in the latest email."),
                reason="replaced",
            )
        raise TokenUnusable(_l("This link has already been used."), reason="used")
    if token.expires_at <= datetime.now(UTC):
        raise TokenUnusable(_l("This link has expired."), reason="expired")
    return token


async def consume(
    raw: str, *, purpose: TokenPurpose, subject_kind: SessionKind, store_id: int | None
) -> Token:
    """Use the token once. A second use, even a concurrent one, raises `TokenUnusable`."""
    token = await peek(raw, purpose=purpose, subject_kind=subject_kind, store_id=store_id)
    now = datetime.now(UTC)
    used = await Token.filter(id=token.id, used_at=None, expires_at__gt=now).update(used_at=now)
    if not used:
        raise TokenUnusable(_l("This link has already been used."), reason="used")
    token.used_at = now
    return token
