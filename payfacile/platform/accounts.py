"""Central-host accounts: platform admins and merchants. Invitations, sign-in, password reset.

No answer reveals whether an account exists: a failed sign-in and a reset request for an
unknown address look exactly like those for a known one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from babel.dates import format_datetime
from tortoise.transactions import in_transaction

from payfacile.platform import tokens
from payfacile.platform.config import Settings
from payfacile.platform.errors import InvalidInput
from payfacile.platform.mail import queue_email
from payfacile.platform.models import PlatformAdmin, SessionKind, TokenPurpose
from payfacile.platform.passwords import check_new_password, hash_password, verify_password
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.text import _l
from payfacile.platform.urls import central_url
from payfacile.tenants.models import MerchantUser, Store

SIGN_IN_FAILURES = "10/15minutes"
RESET_REQUESTS = "5/hour"

PATHS = {
    SessionKind.ADMIN: {"set": "/admin/set-password/", "reset": "/admin/reset-password/"},
    SessionKind.MERCHANT: {"set": "/account/set-password/", "reset": "/account/reset-password/"},
}


class Account(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def email(self) -> str: ...

    password_hash: str | None


class Directory(Protocol):
    """Where one kind of account lives: admins, merchants, or one store's buyers."""

    @property
    def kind(self) -> SessionKind: ...
    @property
    def store_id(self) -> int | None: ...

    async def find(self, email: str) -> Account | None: ...
    async def get(self, account_id: int) -> Account | None: ...
    async def save_password(self, account_id: int, password_hash: str) -> None: ...


@dataclass(frozen=True)
class CentralDirectory:
    """Platform admins or merchants: accounts of the central host."""

    kind: SessionKind
    store_id: int | None = None

    @property
    def model(self) -> type[PlatformAdmin] | type[MerchantUser]:
        return PlatformAdmin if self.kind == SessionKind.ADMIN else MerchantUser

    async def find(self, email: str) -> Account | None:
        found: Account | None = await self.model.get_or_none(email=email.strip().lower())
        return found

    async def get(self, account_id: int) -> Account | None:
        found: Account | None = await self.model.get_or_none(id=account_id)
        return found

    async def save_password(self, account_id: int, password_hash: str) -> None:
        await self.model.filter(id=account_id).update(password_hash=password_hash)


ADMINS = CentralDirectory(SessionKind.ADMIN)
MERCHANTS = CentralDirectory(SessionKind.MERCHANT)


def central(kind: SessionKind) -> CentralDirectory:
    return ADMINS if kind == SessionKind.ADMIN else MERCHANTS


async def find(kind: SessionKind, email: str) -> Account | None:
    return await central(kind).find(email)


async def get(kind: SessionKind, account_id: int) -> Account | None:
    return await central(kind).get(account_id)


def _expiry(token_expires: datetime) -> str:
    return format_datetime(token_expires, format="d MMMM y, HH:mm 'UTC'", locale="en")


async def create_admin(settings: Settings, email: str) -> tuple[PlatformAdmin, str]:
    """The admin (new or existing) and a one-time link to set their password, also emailed."""
    from payfacile.tenants.service import normalise_email

    email = normalise_email(email)
    async with in_transaction():
        admin, _ = await PlatformAdmin.get_or_create(email=email)
        link = await send_password_link(settings, SessionKind.ADMIN, admin, invitation=True)
    return admin, link


async def send_password_link(
    settings: Settings,
    kind: SessionKind,
    account: Account,
    *,
    invitation: bool,
    store: Store | None = None,
) -> str:
    """Email `account` a link to choose a password; returns the link. Older links stop working.

    Call inside the transaction of the event that causes it."""
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    raw, token = await tokens.issue(
        purpose=purpose, subject_kind=kind, subject_id=account.id, store_id=None
    )
    link = central_url(settings, PATHS[kind]["set" if invitation else "reset"] + raw)
    if invitation and kind == SessionKind.MERCHANT:
        template = "store_invitation"
    elif invitation:
        template = "admin_invitation"
    else:
        template = "password_reset"
    await queue_email(
        settings,
        to=account.email,
        template=template,
        context={
            "url": link,
            "expires": _expiry(token.expires_at),
            "store_name": store.name if store else "",
            "sign_in_url": central_url(
                settings, "/admin/login" if kind == SessionKind.ADMIN else "/account/login"
            ),
        },
    )
    return link


async def request_password_reset(
    settings: Settings, limiter: RateLimiter, kind: SessionKind, email: str, *, client: str
) -> None:
    """Email a reset link if the account exists; otherwise do nothing, visibly the same."""
    email = email.strip().lower()
    await limiter.hit(RESET_REQUESTS, "reset", kind.value, client)
    await limiter.hit(RESET_REQUESTS, "reset-account", kind.value, email)
    account = await find(kind, email)
    if account is None:
        return
    async with in_transaction():
        await send_password_link(settings, kind, account, invitation=False)


async def set_password(
    directory: Directory, raw_token: str, *, invitation: bool, password: str, confirm: str
) -> Account:
    """Choose a password with an emailed link; the link is used up."""
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    kind, store_id = directory.kind, directory.store_id
    token = await tokens.peek(raw_token, purpose=purpose, subject_kind=kind, store_id=store_id)
    account = await directory.get(token.subject_id)
    if account is None:
        raise tokens.TokenUnusable(_l("This link is not valid."), reason="unknown")
    check_new_password(password, confirm, email=account.email)
    hashed = await hash_password(password)
    async with in_transaction():
        await tokens.consume(raw_token, purpose=purpose, subject_kind=kind, store_id=store_id)
        await directory.save_password(account.id, hashed)
    account.password_hash = hashed
    return account


async def authenticate(
    limiter: RateLimiter, directory: Directory, email: str, password: str, *, client: str
) -> Account:
    """The account for these credentials, or `InvalidInput` that names neither part.

    10 failures in 15 minutes, per account or per client address, lock sign-in with a 429.
    """
    email = (email or "").strip().lower()
    realm = f"{directory.kind.value}:{directory.store_id or ''}"
    await limiter.check(SIGN_IN_FAILURES, "sign-in-client", realm, client)
    await limiter.check(SIGN_IN_FAILURES, "sign-in-account", realm, email)
    account = await directory.find(email) if email else None
    if await verify_password(account.password_hash if account else None, password or ""):
        assert account is not None
        await limiter.clear(SIGN_IN_FAILURES, "sign-in-account", realm, email)
        return account
    await limiter.hit(SIGN_IN_FAILURES, "sign-in-client", realm, client)
    await limiter.hit(SIGN_IN_FAILURES, "sign-in-account", realm, email)
    raise InvalidInput(_l("That email and password do not match an account."), field="email")
