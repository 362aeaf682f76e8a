from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quart.typing import TestClientProtocol as Client

from payfacile.demo import DEMO_BUYER, seed_demo
from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.models import OutboxEmail, Session, SessionKind
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderLine,
    Payment,
    PaymentMethod,
    Subscription,
)
from payfacile.schema import MODEL_MODULES
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import MerchantUser, Product, ProductKind, Store
from payfacile.tenants.scope import scoped
from tests.conftest import RunningApp, opened, run_sync
from tests.test_cli import payfacile


async def test_demo_covers_every_portal_feature(settings: Settings, hosts: HostResolver) -> None:
    result = await seed_demo(settings, hosts, slug="demo")
    assert result.created
    store = result.store
    for detail in (store.name, store.support_email, store.city, store.vat_number):
        assert detail
    assert (store.locale, store.city) == ("fr", "Lyon")  # a store in Lyon speaks French
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
    assert {invoice.snapshot["language"] for invoice in invoices} == {"fr"}

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
    assert '<html lang="fr">' in page


async def _counts(store: Store) -> list[int]:
    scope = scoped(store)
    return [await scope.query(m).count() for m in (Customer, Order, Invoice, Subscription)]


async def _use_the_demo(settings: Settings) -> tuple[list[int], int]:
    """The demo as new (its counts, its id), then as someone left it after trying it: the
    owner chose a password and signed in; the buyer renamed themself, canceled and removed
    their cards; a customer was added."""
    await db.init_db(settings, MODEL_MODULES)
    try:
        store = await Store.get(slug="demo")
        new = await _counts(store)
        scope = scoped(store)
        owner = await MerchantUser.get(email="owner@demo.example.com")
        await MerchantUser.filter(id=owner.id).update(password_hash="chosen")
        now = datetime.now(UTC)
        await Session.create(
            id_hash="x" * 64,
            kind=SessionKind.MERCHANT,
            subject_id=owner.id,
            created_at=now,
            last_seen_at=now,
            expires_at=now + timedelta(days=1),
        )
        buyer = await scope.get(Customer, email=DEMO_BUYER)
        await scope.update(buyer, name="Someone else")
        await scope.query(Subscription).update(cancel_at_period_end=True)
        await scope.query(PaymentMethod).delete()
        await scope.create(Customer, email="new@example.com", name="New")
        assert await _counts(store) != new
        return new, store.id
    finally:
        await db.close_db()


async def _check_as_new(settings: Settings, new_counts: list[int], used_id: int) -> None:
    await db.init_db(settings, MODEL_MODULES)
    try:
        store = await Store.get(slug="demo")
        assert store.id != used_id
        assert await _counts(store) == new_counts
        scope = scoped(store)
        buyer = await scope.get(Customer, email=DEMO_BUYER)
        assert buyer.name == "Camille Martin"
        assert await scope.query(PaymentMethod).filter(customer_id=buyer.id).exists()
        assert not await scope.query(Subscription).filter(cancel_at_period_end=True).exists()
        owner = await MerchantUser.get(email="owner@demo.example.com")
        assert owner.password_hash is None  # chosen again, from a new invitation
        assert not await Session.filter(kind=SessionKind.MERCHANT).exists()
        invitations = await OutboxEmail.filter(to_address=owner.email).order_by("id")
        assert len(invitations) == 2  # the first run's, and a new one
        assert "/account/set-password/" in opened(invitations[-1]).text_body
        assert await Store.all().count() == 1
    finally:
        await db.close_db()


def test_demo_reset_puts_the_demo_back_as_new(settings: Settings) -> None:
    assert payfacile(settings, "demo").returncode == 0
    new_counts, used_id = run_sync(_use_the_demo(settings))
    reset = payfacile(settings, "demo", "--reset")
    assert reset.returncode == 0, reset.stderr
    assert "Store owner: owner@demo.example.com" in reset.stdout
    run_sync(_check_as_new(settings, new_counts, used_id))
