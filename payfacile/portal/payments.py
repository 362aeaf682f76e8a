"""A buyer's payment methods: the default pays for every live subscription. A new method
becomes the default; any other can be made the default; the default can be replaced but
never removed, so a live subscription always has a method (Stripe's rule).

A SEPA account is saved with its Direct Debit mandate: the form shows the mandate's text with
a reference made for it (`new_mandate_reference`), and saving the account signs it."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.errors import Conflict
from payfacile.platform.text import _l
from payfacile.portal.gateway import Tokenized
from payfacile.portal.models import (
    Customer,
    PaymentMethod,
    PaymentMethodKind,
    Subscription,
    SubscriptionStatus,
)
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

# A mandate's reference: at most 35 of the characters SEPA allows; ours "PF-" and 12 letters
# and digits that cannot be mistaken for one another.
REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MANDATE_REFERENCE = re.compile(rf"PF-[{REFERENCE_ALPHABET}]{{12}}")
REFERENCE_TAKEN = _l("This mandate was saved already. Check the new mandate below and save again.")


def new_mandate_reference() -> str:
    return "PF-" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(12))


def creditor(store: Store) -> tuple[str, str]:
    """Whom a SEPA mandate lets debit the account: the store's name with its legal form, and
    its postal address on one line."""
    name = " ".join(part for part in (store.name, store.legal_form) if part)
    town = " ".join(part for part in (store.postal_code, store.city) if part)
    parts = (store.address_line1, store.address_line2, town, store.country)
    return name, ", ".join(part for part in parts if part)


def is_expired(method: PaymentMethod, now: datetime | None = None) -> bool:
    """A card is good until the end of its expiry month."""
    if not method.exp_year:
        return False
    today = now or datetime.now(UTC)
    return (method.exp_year, method.exp_month or 12) < (today.year, today.month)


def method_label(method: PaymentMethod) -> str:
    """How a method is named to a buyer, in any language: "Visa •••• 4242", "SEPA DE •••• 3000"."""
    prefix = f"SEPA {method.brand}" if method.kind == PaymentMethodKind.SEPA else method.brand
    return f"{prefix} •••• {method.last4}"


async def methods_of(store: Store, customer: Customer) -> list[PaymentMethod]:
    """The default first, then the newest."""
    return list(
        await scoped(store)
        .query(PaymentMethod)
        .filter(customer_id=customer.id)
        .order_by("-is_default", "-created_at", "-id")
    )


async def make_default(
    store: Store, customer: Customer, tokenized: Tokenized, *, mandate_reference: str | None = None
) -> PaymentMethod:
    """Keep `tokenized` as the buyer's default method and move their live subscriptions to it;
    a SEPA account with the mandate `mandate_reference` the buyer signed by saving it (a
    `Conflict` if the store holds that reference already).

    The same card or account added again (same fingerprint) replaces its older entry, so
    a renewed card does not show twice.
    """
    scope = scoped(store)
    signed_at = datetime.now(UTC) if mandate_reference else None
    with db.unique_or_conflict(REFERENCE_TAKEN):
        async with in_transaction():
            mine = scope.query(PaymentMethod).filter(customer_id=customer.id)
            await mine.filter(fingerprint=tokenized.fingerprint).delete()
            await mine.filter(is_default=True).update(is_default=False)
            method = await scope.create(
                PaymentMethod,
                customer_id=customer.id,
                kind=tokenized.kind,
                brand=tokenized.brand,
                last4=tokenized.last4,
                exp_month=tokenized.exp_month,
                exp_year=tokenized.exp_year,
                gateway_token=tokenized.token,
                fingerprint=tokenized.fingerprint,
                is_default=True,
                mandate_reference=mandate_reference,
                mandate_signed_at=signed_at,
            )
            await _pay_subscriptions_with(store, customer, method)
    return method


async def set_default(store: Store, customer: Customer, method_id: int) -> PaymentMethod:
    """Make the buyer's method `method_id` the default (another buyer's is a 404; an expired
    card is refused) and move their live subscriptions to it."""
    scope = scoped(store)
    method = await scope.get(PaymentMethod, id=method_id, customer_id=customer.id)
    if is_expired(method):
        raise Conflict(_l("An expired card cannot pay. Add a new one instead."))
    async with in_transaction():
        mine = scope.query(PaymentMethod).filter(customer_id=customer.id)
        await mine.filter(is_default=True).exclude(id=method.id).update(is_default=False)
        await mine.filter(id=method.id).update(is_default=True)
        await _pay_subscriptions_with(store, customer, method)
    return method


async def _pay_subscriptions_with(store: Store, customer: Customer, method: PaymentMethod) -> None:
    await (
        scoped(store)
        .query(Subscription)
        .filter(customer_id=customer.id)
        .exclude(status=SubscriptionStatus.CANCELED)
        .update(payment_method_id=method.id)
    )


async def has_live_subscription(store: Store, customer: Customer) -> bool:
    return await (
        scoped(store)
        .query(Subscription)
        .filter(customer_id=customer.id)
        .exclude(status=SubscriptionStatus.CANCELED)
        .exists()
    )


async def remove(store: Store, customer: Customer, method_id: int) -> None:
    """Remove a method; another buyer's or store's is a 404. The default goes only while no
    subscription is live, and the newest other method (if any) becomes the default."""
    scope = scoped(store)
    method = await scope.get(PaymentMethod, id=method_id, customer_id=customer.id)
    if method.is_default and await has_live_subscription(store, customer):
        raise Conflict(
            _l(
                "This is the method your subscriptions use. "
                "Make another one the default, or add one, first."
            )
        )
    async with in_transaction():
        await scope.delete(method)
        if method.is_default:
            rest = scope.query(PaymentMethod).filter(customer_id=customer.id)
            newest = await rest.order_by("-created_at", "-id").first()
            if newest is not None:
                await rest.filter(id=newest.id).update(is_default=True)
