"""Central-host accounts: platform admins and merchants. Their invitations and reset links.

Both sign in on the central host; the kernel's account machinery does the rest
(`payfacile.platform.accounts`).
"""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.transactions import in_transaction

from payfacile.platform import tokens
from payfacile.platform.accounts import Account, normalise_email
from payfacile.platform.config import Settings
from payfacile.platform.i18n import language_of, link_expiry
from payfacile.platform.mail import queue_email
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.urls import central_url
from payfacile.platform.zones import UTC_ZONE
from payfacile.tenants.models import MerchantUser, PlatformAdmin, Store

ADMIN_LOGIN = "/admin/login"
MERCHANT_LOGIN = "/account/login"
PATHS = {
    SessionKind.ADMIN: {"set": "/admin/set-password/", "reset": "/admin/reset-password/"},
    SessionKind.MERCHANT: {"set": "/account/set-password/", "reset": "/account/reset-password/"},
}


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


async def create_admin(settings: Settings, email: str) -> tuple[PlatformAdmin, str]:
    """The admin (new or existing) and a one-time link to set their password, also emailed."""
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
    template: str = "",
    context: dict[str, str] | None = None,
) -> str:
    """Email `account` a link to choose a password; returns the link. Older links stop working.
    A `store`'s dates, and its language when `template` (an invitation of its own, with its
    own `context`) is given.

    Call inside the transaction of the event that causes it."""
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    raw, token = await tokens.issue(
        purpose=purpose, subject_kind=kind, subject_id=account.id, store_id=None
    )
    link = central_url(settings, PATHS[kind]["set" if invitation else "reset"] + raw)
    language = language_of(store.locale) if store and template else None
    if not template and invitation and kind == SessionKind.MERCHANT:
        template = "store_invitation"
    elif not template:
        template = "admin_invitation" if invitation else "password_reset"
    zone = store.zone if store else UTC_ZONE
    await queue_email(
        settings,
        to=account.email,
        template=template,
        context={
            "expires": link_expiry(token.expires_at, language or "en", zone=zone),
            "store_name": store.name if store else "",
            "sign_in_url": central_url(
                settings, ADMIN_LOGIN if kind == SessionKind.ADMIN else MERCHANT_LOGIN
            ),
            **(context or {}),
        },
        language=language,
        sealed={"url": link},
    )
    return link


async def email_reset_link(settings: Settings, directory: CentralDirectory, email: str) -> None:
    """Email a reset link if the account exists; otherwise do nothing. Runs after the
    answer, which the request gave the same either way."""
    account = await directory.find(email)
    if account is None:
        return
    async with in_transaction():
        await send_password_link(settings, directory.kind, account, invitation=False)
