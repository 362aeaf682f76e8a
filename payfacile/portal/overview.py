"""What the portal's home shows a buyer: what needs them, their live subscriptions, their
latest orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from payfacile.portal.models import (
    Customer,
    Order,
    OrderStatus,
    PaymentMethod,
    Subscription,
    SubscriptionStatus,
)
from payfacile.portal.payments import is_expired
from payfacile.portal.subscriptions import has_ended
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

FAILED_PAYMENTS_SHOWN_FOR = timedelta(days=60)
LATEST_ORDERS = 5


@dataclass(frozen=True)
class Overview:
    expired: list[PaymentMethod]  # the default method, when it has expired
    failed: list[Order]  # orders whose payment failed lately
    subscriptions: list[Subscription]  # live ones, soonest renewal first
    orders: list[Order]  # the latest


async def overview(store: Store, customer: Customer, *, now: datetime | None = None) -> Overview:
    scope = scoped(store)
    today = now or datetime.now(UTC)
    methods = await scope.query(PaymentMethod).filter(customer_id=customer.id)
    live = (
        await scope.query(Subscription)
        .filter(customer_id=customer.id)
        .exclude(status=SubscriptionStatus.CANCELED)
        .select_related("product")
        .order_by("current_period_end")
    )
    failed = (
        await scope.query(Order)
        .filter(
            customer_id=customer.id,
            status=OrderStatus.FAILED,
            placed_at__gte=today - FAILED_PAYMENTS_SHOWN_FOR,
        )
        .order_by("-placed_at")
    )
    orders = (
        await scope.query(Order)
        .filter(customer_id=customer.id)
        .order_by("-placed_at", "-id")
        .limit(LATEST_ORDERS)
    )
    return Overview(
        # A replaced card may stay listed, expired: only the one that pays needs attention.
        expired=[method for method in methods if method.is_default and is_expired(method, today)],
        failed=list(failed),
        subscriptions=[sub for sub in live if not has_ended(sub, today)],
        orders=list(orders),
    )
