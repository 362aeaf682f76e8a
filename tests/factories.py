"""Plain async factories: each makes one row with sensible defaults."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from payfacile.portal.models import Customer, Order, OrderStatus
from payfacile.tenants.models import Domain, DomainStatus, Store, StoreStatus
from payfacile.tenants.scope import scoped

_counter = itertools.count(1)


async def make_store(slug: str | None = None, **values: Any) -> Store:
    n = next(_counter)
    return await Store.create(
        slug=slug or f"store{n}",
        name=values.pop("name", f"Store {n}"),
        status=values.pop("status", StoreStatus.ACTIVE),
        support_email=values.pop("support_email", f"support{n}@example.com"),
        **values,
    )


async def make_domain(
    store: Store, hostname: str, status: DomainStatus = DomainStatus.VERIFIED, **values: Any
) -> Domain:
    return await scoped(store).create(
        Domain, hostname=hostname, status=status, verification_token="t" * 32, **values
    )


async def make_customer(store: Store, email: str | None = None, **values: Any) -> Customer:
    n = next(_counter)
    return await scoped(store).create(
        Customer,
        email=email or f"buyer{n}@example.com",
        name=values.pop("name", f"Buyer {n}"),
        **values,
    )


async def make_order(store: Store, customer: Customer, number: str, **values: Any) -> Order:
    return await scoped(store).create(
        Order,
        customer_id=customer.id,
        number=number,
        status=values.pop("status", OrderStatus.PAID),
        currency=values.pop("currency", "EUR"),
        total=values.pop("total", 1000),
        placed_at=values.pop("placed_at", datetime.now(UTC)),
        **values,
    )
