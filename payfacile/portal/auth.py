"""How buyers get into a store's portal: password, emailed sign-in link, invitation, reset,
and changing their email or password.

Buyer accounts are per store: every lookup goes through the store's scope, and every token
names the store that issued it, so a link or a cookie from one store does nothing at another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.transactions import in_transaction

from payfacile.platform import db, tokens
from payfacile.platform.accounts import Account, authenticate, normalise_email
from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.i18n import language_of, link_expiry
from payfacile.platform.mail import queue_email
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.passwords import check_new_password, hash_password, verify_password
from payfacile.platform.text import _l
from payfacile.portal.models import Customer
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped
from payfacile.tenants.urls import store_url

if TYPE_CHECKING:
    from payfacile.platform.ratelimit import RateLimiter

HOME = "/portal/"
LINK_REQUESTS = "5/hour"
# Per buyer, from a signed-in session (both account forms).
PASSWORD_CHECKS = "10/15minutes"  # noqa: S105 - a rate, not a password
EMAIL_CHANGES = "5/day"  # per buyer
LINK_PATHS = {
    TokenPurpose.INVITATION: "/portal/invitation/",
    TokenPurpose.SIGN_IN: "/portal/sign-in/",
    TokenPurpose.PASSWORD_RESET: "/portal/reset-password/",
    TokenPurpose.EMAIL_CHANGE: "/portal/email/",
}
TEMPLATES = {
    TokenPurpose.INVITATION: "portal_invitation",
    TokenPurpose.SIGN_IN: "portal_sign_in",
    TokenPurpose.PASSWORD_RESET: "portal_password_reset",
    TokenPurpose.EMAIL_CHANGE: "portal_email_change",
}


@dataclass(frozen=True)
class Buyers:
    """One store's buyer accounts, as a `Directory` for sign-in and set-password."""

    store: Store
    kind: SessionKind = SessionKind.BUYER

    @property
    def store_id(self) -> int:
        return self.store.id

    async def find(self, email: str) -> Customer | None:
        email = email.strip().lower()
        return await scoped(self.store).find(Customer, email=email)

    async def get(self, account_id: int) -> Customer | None:
        return await scoped(self.store).find(Customer, id=account_id)

    async def save_password(self, account_id: int, password_hash: str) -> None:
        buyers = scoped(self.store).query(Customer).filter(id=account_id)
        await buyers.update(password_hash=password_hash)
        await buyers.filter(activated_at=None).update(activated_at=datetime.now(UTC))


def _language(store: Store, customer: Customer) -> str:
    return language_of(customer.language or store.locale)


async def send_link(
    settings: Settings,
    store: Store,
    customer: Customer,
    purpose: TokenPurpose,
    *,
    to: str | None = None,
    payload: dict[str, Any] | None = None,
) -> str:
    """Email `customer` a single-use link for `purpose`; returns it. Older links of the same
    purpose stop working. Call inside the transaction of the event that causes it."""
    raw, token = await tokens.issue(
        purpose=purpose,
        subject_kind=SessionKind.BUYER,
        subject_id=customer.id,
        store_id=store.id,
        payload=payload,
    )
    link = await store_url(settings, store, LINK_PATHS[purpose] + raw)
    language = _language(store, customer)
    await queue_email(
        settings,
        to=to or customer.email,
        template=TEMPLATES[purpose],
        context={
            "name": customer.name,
            "expires": link_expiry(token.expires_at, language, store.zone),
            "portal_url": await store_url(settings, store, "/portal/"),
        },
        brand=brand_of(store),
        store_id=store.id,
        language=language,
        sealed={"url": link},
    )
    return link


async def customer_by_email(store: Store, email: str) -> Customer:
    """The store's customer with this email; a `NotFound` that says so otherwise."""
    customer = await Buyers(store).find(normalise_email(email))
    if customer is None:
        raise NotFound(
            _l("%(store)s has no customer with the email %(email)s.", store=store.name, email=email)
        )
    return customer


async def invite(settings: Settings, store: Store, email: str) -> str:
    """ "Invite to portal": a link to choose a password (7 days), emailed to the customer."""
    customer = await customer_by_email(store, email)
    async with in_transaction():
        link = await send_link(settings, store, customer, TokenPurpose.INVITATION)
        await scoped(store).update(customer, invited_at=datetime.now(UTC))
    return link


async def count_link_request(
    limiter: RateLimiter, store: Store, email: str, *, client: str
) -> None:
    """Count a sign-in or reset link request per client and per address: the same cost for
    a buyer's address and any other (the caller sends the link after its answer)."""
    email = email.strip().lower()
    await limiter.hit(LINK_REQUESTS, "portal-link", str(store.id), client)
    await limiter.hit(LINK_REQUESTS, "portal-link-account", str(store.id), email)


async def email_a_link(
    settings: Settings,
    store: Store,
    email: str,
    purpose: TokenPurpose,
    *,
    next_path: str = HOME,
) -> None:
    """Email a sign-in or reset link if the address is a buyer of this store; otherwise do
    nothing. Runs after the answer, which the request gave the same either way. A sign-in
    link leads to `next_path` (a portal path) once followed."""
    customer = await Buyers(store).find(email)
    if customer is None:
        return
    next_path = portal_next(next_path)
    payload = {"next": next_path} if next_path != HOME else None
    async with in_transaction():
        await send_link(settings, store, customer, purpose, payload=payload)


async def sign_in(
    limiter: RateLimiter, store: Store, email: str, password: str, *, client: str
) -> Account:
    return await authenticate(limiter, Buyers(store), email, password, client=client)


async def check_link(store: Store, raw: str, purpose: TokenPurpose) -> Customer:
    """The buyer a still-usable link of this store is for (the link is not used up)."""
    token = await tokens.peek(
        raw, purpose=purpose, subject_kind=SessionKind.BUYER, store_id=store.id
    )
    customer = await Buyers(store).get(token.subject_id)
    if customer is None:
        raise tokens.TokenUnusable(_l("This link is not valid."), reason="unknown")
    return customer


async def use_sign_in_link(store: Store, raw: str) -> tuple[Customer, str]:
    """The buyer the link signs in, and the portal path it leads to (home by default)."""
    customer = await check_link(store, raw, TokenPurpose.SIGN_IN)
    token = await tokens.consume(
        raw, purpose=TokenPurpose.SIGN_IN, subject_kind=SessionKind.BUYER, store_id=store.id
    )
    return customer, portal_next(str((token.payload or {}).get("next", "")))


def portal_next(target: str | None) -> str:
    """A portal path on this host to go to after signing in; anything else → home."""
    from payfacile.platform.views import safe_next  # here: a views module loads Quart

    path = safe_next(target, default=HOME)
    return path if path == "/portal" or path.startswith("/portal/") else HOME


async def _check_current_password(
    limiter: RateLimiter, store: Store, customer: Customer, password: str, *, field: str
) -> None:
    """A signed-in buyer proving it is them: limited per buyer (counted before the check) so
    a stolen session cannot be used to guess the password."""
    if not customer.password_hash:
        return
    await limiter.hit(PASSWORD_CHECKS, "account-password", str(store.id), str(customer.id))
    if not await verify_password(customer.password_hash, password):
        message = (
            _l("Your current password is not right.")
            if field == "current"
            else _l("Your password is not right.")
        )
        raise InvalidInput(message, field=field)


async def change_password(
    limiter: RateLimiter,
    store: Store,
    customer: Customer,
    *,
    current: str,
    password: str,
    confirm: str,
) -> None:
    await _check_current_password(limiter, store, customer, current, field="current")
    check_new_password(password, confirm, email=customer.email)
    hashed = await hash_password(password)
    await Buyers(store).save_password(customer.id, hashed)
    customer.password_hash = hashed


async def request_email_change(
    settings: Settings,
    limiter: RateLimiter,
    store: Store,
    customer: Customer,
    *,
    new_email: str,
    password: str,
) -> None:
    """Send a confirmation link to the new address; nothing changes until it is followed.

    The buyer sees the same answer whether or not another account of the store uses the
    address: that address is told instead, and gets no link."""
    await _check_current_password(limiter, store, customer, password, field="password")
    new_email = normalise_email(new_email, field="new_email")
    if new_email == customer.email:
        raise InvalidInput(_l("This is already your email address."), field="new_email")
    await limiter.hit(EMAIL_CHANGES, "email-change", str(store.id), str(customer.id))
    taken = await Buyers(store).find(new_email) is not None
    async with in_transaction():
        await scoped(store).update(customer, pending_email=new_email)
        if not taken:
            await send_link(
                settings,
                store,
                customer,
                TokenPurpose.EMAIL_CHANGE,
                to=new_email,
                payload={"email": new_email},
            )
            return
        await _tell(settings, store, customer, "portal_email_taken", to=new_email)


async def _tell(
    settings: Settings, store: Store, customer: Customer, template: str, *, to: str, **extra: str
) -> None:
    """A notice with no link to use (only the portal's address) about `customer`'s account."""
    language = _language(store, customer)
    await queue_email(
        settings,
        to=to,
        template=template,
        context={"portal_url": await store_url(settings, store, "/portal/"), **extra},
        brand=brand_of(store),
        store_id=store.id,
        language=language,
    )


async def confirm_email_change(settings: Settings, store: Store, raw: str) -> Customer:
    """Make the pending address the buyer's; the old address is told. The caller ends the
    buyer's other sessions."""
    token = await tokens.peek(
        raw, purpose=TokenPurpose.EMAIL_CHANGE, subject_kind=SessionKind.BUYER, store_id=store.id
    )
    customer = await Buyers(store).get(token.subject_id)
    new_email = str((token.payload or {}).get("email", ""))
    if customer is None or not new_email:
        raise tokens.TokenUnusable(_l("This link is not valid."), reason="unknown")
    taken = _l("Another account of this store now uses that address.")
    if await Buyers(store).find(new_email) is not None:
        raise Conflict(taken)
    old_email = customer.email
    with db.unique_or_conflict(taken):  # another change to this address, at the same moment
        async with in_transaction():
            await tokens.consume(
                raw,
                purpose=TokenPurpose.EMAIL_CHANGE,
                subject_kind=SessionKind.BUYER,
                store_id=store.id,
            )
            await scoped(store).update(customer, email=new_email, pending_email="")
            await _tell(
                settings,
                store,
                customer,
                "portal_email_changed",
                to=old_email,
                name=customer.name,
                email=new_email,
            )
    return customer
