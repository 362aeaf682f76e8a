from __future__ import annotations

from datetime import UTC, datetime

from quart.typing import TestClientProtocol as Client

from payfacile.demo import DEMO_BUYER, seed_demo
from payfacile.platform.config import Settings
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderLine,
    Payment,
    PaymentMethod,
    Subscription,
)
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import Product, ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.conftest import RunningApp


async def test_demo_covers_every_portal_feature(settings: Settings, hosts: HostResolver) -> None:
    result = await seed_demo(settings, hosts, slug="demo")
    assert result.created
    store = result.store
    for detail in (store.name, store.support_email, store.city, store.vat_number):
        assert detail
    assert store.locale == "en"
    scope = scoped(store)
    buyer = await scope.get(Customer, email=DEMO_BUYER)

    orders = await scope.query(Order).filter(customer_id=buyer.id)
    assert len(orders) >= 5
    assert len({order.status for order in orders}) >= 5
    for order in orders:
        assert await scope.query(OrderLine).filter(order_id=order.id).exists()
        assert order.total > 0
    assert await scope.query(Payment).filter(order_id__in=[o.id for o in orders]).count() >= 4
    invoices = await scope.query(Invoice).filter(customer_id=buyer.id)
    assert len(invoices) >= 3
    assert len({invoice.number for invoice in invoices}) == len(invoices)
    assert all(invoice.snapshot["lines"] for invoice in invoices)

    products = await scope.query(Product).filter(kind=ProductKind.SUBSCRIPTION)
    assert {product.portal_cancellation_allowed for product in products} == {True, False}
    subscribed = await scope.query(Subscription).filter(customer_id=buyer.id)
    assert {s.product_id for s in subscribed} == {p.id for p in products}

    cards = await scope.query(PaymentMethod).filter(customer_id=buyer.id)
    now = datetime.now(UTC)
    assert any((card.exp_year, card.exp_month) < (now.year, now.month) for card in cards)
    assert await scope.query(Customer).count() >= 3


async def test_demo_is_idempotent_and_takes_any_slug(
    settings: Settings, hosts: HostResolver
) -> None:
    first = await seed_demo(settings, hosts, slug="showroom")
    counts = [await scoped(first.store).query(m).count() for m in (Customer, Order, Invoice)]
    second = await seed_demo(settings, hosts, slug="showroom")
    assert not second.created
    assert second.store.id == first.store.id
    assert [await scoped(first.store).query(m).count() for m in (Customer, Order, Invoice)] == (
        counts
    )
    assert await Store.all().count() == 1


async def test_demo_portal_page_opens(client: Client, services: RunningApp) -> None:
    await seed_demo(services.settings, services.hosts, slug="demo")
    response = await client.get("/portal/login", headers={"Host": "demo.payfacile.localhost:8000"})
    assert response.status_code == 200
    page = await response.get_data(as_text=True)
    assert "Atelier Lumière" in page
    assert "#0f766e" in page
