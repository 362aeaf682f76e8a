"""A buyer's payment methods: the new one becomes the default and pays for every subscription."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from payfacile.platform.errors import Conflict
from payfacile.platform.text import _l
from payfacile.portal.gateway import Tokenized
from payfacile.portal.models import Customer, PaymentMethod, Subscription, SubscriptionStatus
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped


def is_expired(method: PaymentMethod, now: datetime | None = None) -> bool:
    """A card is good until the end of its expiry month."""
    if not method.exp_year:
        return False
    today = now or datetime.now(UTC)
    return (method.exp_year, method.exp_month or 12) < (today.year, today.month)


async def methods_of(store: Store, customer: Customer) -> list[PaymentMethod]:
    """The default first, then the newest."""
    return list(
        await scoped(store)
        .query(PaymentMethod)
        .filter(customer_id=customer.id)
        .order_by("-is_default", "-created_at", "-id")
    )


async def make_default(store: Store, customer: Customer, tokenized: Tokenized) -> PaymentMethod:
    """Keep `tokenized` as the buyer's default method and move their live subscriptions to it.

    The same card or account added again (same fingerprint) replaces its older entry, so
    a renewed card does not show twice.
    """
    scope = scoped(store)
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
        )
        await (
            scope.query(Subscription)
            .filter(customer_id=customer.id)
            .exclude(status=SubscriptionStatus.CANCELED)
            .update(payment_method_id=method.id)
        )
    return method


async def remove(store: Store, customer: Customer, method_id: int) -> None:
    """Remove a method that is not the default; another buyer's or store's is a 404."""
    scope = scoped(store)
    method = await scope.get(PaymentMethod, id=method_id, customer_id=customer.id)
    if method.is_default:
        raise Conflict(_l("This is the method your subscriptions use. Add another one first."))
    await scope.delete(method)
