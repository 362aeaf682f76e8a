"""Plain async factories: each makes one row with sensible defaults."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from payfacile.platform.config import Settings
from payfacile.platform.crypto import seal
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from payfacile.portal.orders import Line, place_order
from payfacile.tenants.models import Domain, DomainStatus, Product, ProductKind, Store, StoreStatus
from payfacile.tenants.scope import scoped
from payfacile.tls.issuance import renewal_time
from payfacile.tls.models import Certificate
from payfacile.tls.sni import KEY_PURPOSE

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


async def make_certificate(
    settings: Settings,
    store: Store,
    domain_id: int,
    *,
    expires_in: timedelta,
    lifetime: timedelta = timedelta(days=90),
) -> Certificate:
    """A stored certificate row of a domain, its key sealed: for pages and sweeps, which
    read its dates (its chain is no real certificate)."""
    not_after = datetime.now(UTC) + expires_in
    not_before = not_after - lifetime
    return await scoped(store).create(
        Certificate,
        domain_id=domain_id,
        chain_pem="-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n",
        key_encrypted=seal(settings, KEY_PURPOSE, b"a key"),
        not_before=not_before,
        not_after=not_after,
        renew_at=renewal_time(not_before, not_after),
        serial="1f",
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


async def make_product(store: Store, name: str | None = None, **values: Any) -> Product:
    """A one-time product unless `kind` says otherwise; a subscription renews monthly."""
    n = next(_counter)
    kind = values.pop("kind", ProductKind.ONE_TIME)
    default_interval = "month" if kind is ProductKind.SUBSCRIPTION else ""
    return await scoped(store).create(
        Product,
        name=name or f"Product {n}",
        kind=kind,
        price=values.pop("price", 1000),
        interval=values.pop("interval", default_interval),
        **values,
    )


async def make_payment_method(store: Store, customer: Customer, **values: Any) -> PaymentMethod:
    """A Visa card ending in 4242 that has not expired."""
    n = next(_counter)
    return await scoped(store).create(
        PaymentMethod,
        customer_id=customer.id,
        kind=values.pop("kind", PaymentMethodKind.CARD),
        brand=values.pop("brand", "Visa"),
        last4=values.pop("last4", "4242"),
        exp_month=values.pop("exp_month", 12),
        exp_year=values.pop("exp_year", datetime.now(UTC).year + 3),
        gateway_token=values.pop("gateway_token", f"tok_test_{n}"),
        **values,
    )


async def make_subscription(
    store: Store, customer: Customer, product: Product, **values: Any
) -> Subscription:
    """An active subscription that renews in 30 days."""
    return await scoped(store).create(
        Subscription,
        customer_id=customer.id,
        product_id=product.id,
        status=values.pop("status", SubscriptionStatus.ACTIVE),
        current_period_end=values.pop("current_period_end", datetime.now(UTC) + timedelta(days=30)),
        **values,
    )


async def make_placed_order(
    store: Store,
    customer: Customer,
    number: str,
    items: Sequence[tuple[Product, int]],
    *,
    tax_rate_bp: int = 0,
    **values: Any,
) -> Order:
    """An order with one line per (product, quantity), through `place_order`."""
    return await place_order(
        store,
        customer,
        number=number,
        lines=[
            Line(
                product.name,
                quantity,
                product.price,
                tax_rate_bp=tax_rate_bp,
                product_id=product.id,
            )
            for product, quantity in items
        ],
        placed_at=values.pop("placed_at", datetime.now(UTC)),
        **values,
    )


async def make_payment(store: Store, order: Order, **values: Any) -> Payment:
    """A succeeded payment of the whole order."""
    return await scoped(store).create(
        Payment,
        order_id=order.id,
        status=values.pop("status", PaymentStatus.SUCCEEDED),
        amount=values.pop("amount", order.total),
        currency=values.pop("currency", order.currency),
        created_at=values.pop("created_at", order.placed_at),
        **values,
    )


async def make_invoice(store: Store, order: Order, issued_at: datetime | None = None) -> Invoice:
    """The order's invoice, through `issue_invoice`, issued when the order was placed."""
    return await issue_invoice(store, order, issued_at=issued_at or order.placed_at)
