"""`payfacile demo`: a store with enough data to try every feature of the portal: a coffee
roaster in Lyon that speaks French (its portal, its buyer's emails and invoices, its
products' names), as a French merchant's store would.

Idempotent: a store that already has the demo buyer is left as it is; `--reset` deletes the
demo store, its owner's account and everything in them, and makes them again as new.
Everything is written in one transaction, so an interrupted run leaves nothing half-made.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from PIL import Image, ImageDraw, ImageFont
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.models import Session, SessionKind, Token
from payfacile.platform.passwords import hash_password
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import (
    Customer,
    Invoice,
    InvoiceCounter,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentMethodKind,
    PaymentStatus,
    Subscription,
    SubscriptionStatus,
)
from payfacile.portal.orders import Line, place_order
from payfacile.tenants import stores
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import (
    CancellationMode,
    Membership,
    MerchantUser,
    Product,
    ProductKind,
    Store,
    StoreLogo,
)
from payfacile.tenants.scope import Scope, scoped

DEMO_BUYER = "buyer@example.com"
DEMO_PASSWORD = "payfacile-demo"  # noqa: S105 - printed by `payfacile demo`, a demo account
VAT_BP = 2000


@dataclass(frozen=True)
class DemoResult:
    store: Store
    created: bool


# Rows that refer to others go first: the store's own deletion cascades to the rest.
RESET_ORDER = (
    Invoice,
    Payment,
    OrderLine,
    Order,
    Subscription,
    PaymentMethod,
    Customer,
    Product,
    InvoiceCounter,
    StoreLogo,
    Membership,
)


def owner_email(slug: str) -> str:
    return f"owner@{slug}.example.com"


async def seed_demo(
    settings: Settings, hosts: HostResolver, *, slug: str = "demo", reset: bool = False
) -> DemoResult:
    slug = stores.validate_slug(slug, settings)
    store = await Store.get_or_none(slug=slug)
    if (
        not reset
        and store is not None
        and await scoped(store).query(Customer).filter(email=DEMO_BUYER).exists()
    ):
        return DemoResult(store=store, created=False)
    async with in_transaction():
        if reset:
            await _delete(store, slug)
            store = None
        if store is None:
            store = await stores.create_store(
                settings=settings,
                hosts=hosts,
                name="Atelier Lumière",
                slug=slug,
                owner_email=owner_email(slug),
            )
        await _brand(store)
        await stores.set_logo(store, _logo(store.brand_color), hosts=hosts)
        await _seed_store(scoped(store))
    await hosts.invalidate_store(store)
    return DemoResult(store=store, created=True)


async def _delete(store: Store | None, slug: str) -> None:
    """The demo store with every row in it, and its owner's account, sessions and links."""
    if store is not None:
        scope = scoped(store)
        for model in RESET_ORDER:
            await scope.query(model).delete()
        await Store.filter(id=store.id).delete()  # sessions and links of the store go with it
    owner = await MerchantUser.get_or_none(email=owner_email(slug))
    if owner is not None:
        await Session.filter(kind=SessionKind.MERCHANT, subject_id=owner.id).delete()
        await Token.filter(subject_kind=SessionKind.MERCHANT, subject_id=owner.id).delete()
        await owner.delete()


async def _brand(store: Store) -> None:
    values = {
        "support_email": f"support@{store.slug}.example.com",
        "address_line1": "12 rue des Artisans",
        "postal_code": "69002",
        "city": "Lyon",
        "country": "FR",
        "vat_number": "FR11123456782",  # made up, but valid: the settings page checks it
        "legal_form": "SAS",
        "company_registration": "12345678200010",
        "registration_office": "Lyon",
        "share_capital": 1_000_000,
        "brand_color": "#0f766e",
        "locale": "fr",
        "currency": "EUR",
    }
    await Store.filter(id=store.id).update(**values)
    for name, value in values.items():
        setattr(store, name, value)


def _logo(color: str) -> bytes:
    """A round badge in the brand colour with the store's initials, as a PNG."""
    image = Image.new("RGBA", (192, 192), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((0, 0, 191, 191), fill=color)
    font = ImageFont.load_default(size=84)
    draw.text((96, 98), "AL", fill="white", font=font, anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def _seed_store(scope: Scope) -> None:
    cancellable = await scope.create(
        Product,
        name="Café du mois",
        kind=ProductKind.SUBSCRIPTION,
        price=1900,
        interval="month",
        portal_cancellation_allowed=True,
        cancellation_mode=CancellationMode.END_OF_PERIOD,
    )
    locked = await scope.create(
        Product,
        name="Contrat d’entretien annuel de la machine à expresso",
        kind=ProductKind.SUBSCRIPTION,
        price=14900,
        interval="year",
        portal_cancellation_allowed=False,
    )
    beans = await scope.create(Product, name="Grains d’Éthiopie Yirgacheffe, 1 kg", price=3200)
    grinder = await scope.create(Product, name="Moulin à café manuel", price=8900)
    buyer = await scope.create(
        Customer,
        email=DEMO_BUYER,
        name="Camille Martin",
        address_line1="5 avenue Foch",
        postal_code="75116",
        city="Paris",
        country="FR",
        phone="+33612345678",
        language="fr",
        password_hash=await hash_password(DEMO_PASSWORD),
        activated_at=datetime.now(UTC),
    )
    for email, name in (("lea@example.com", "Léa Dubois"), ("sam@example.com", "Sam Carter")):
        await scope.create(Customer, email=email, name=name, country="FR")
    now = datetime.now(UTC)
    expired = await scope.create(
        PaymentMethod,
        customer_id=buyer.id,
        kind=PaymentMethodKind.CARD,
        brand="Visa",
        last4="4242",
        exp_month=8,
        exp_year=now.year - 1,
        gateway_token="tok_demo_expired_visa",  # noqa: S106 - a test-gateway token, no secret
        fingerprint="demo-visa-4242",
        is_default=True,
    )
    await scope.create(
        Subscription,
        customer_id=buyer.id,
        product_id=cancellable.id,
        status=SubscriptionStatus.ACTIVE,
        current_period_end=now + timedelta(days=12),
        payment_method_id=expired.id,
    )
    await scope.create(
        Subscription,
        customer_id=buyer.id,
        product_id=locked.id,
        status=SubscriptionStatus.ACTIVE,
        current_period_end=now + timedelta(days=200),
        payment_method_id=expired.id,
    )
    history = [
        (1001, 120, OrderStatus.FULFILLED, [(grinder, 1), (beans, 2)], PaymentStatus.SUCCEEDED),
        (1002, 90, OrderStatus.REFUNDED, [(beans, 1)], PaymentStatus.REFUNDED),
        (1003, 60, OrderStatus.PAID, [(locked, 1)], PaymentStatus.SUCCEEDED),
        (1004, 40, OrderStatus.CANCELED, [(grinder, 1)], None),
        (1005, 30, OrderStatus.FULFILLED, [(cancellable, 1)], PaymentStatus.SUCCEEDED),
        (1006, 2, OrderStatus.FAILED, [(cancellable, 1)], PaymentStatus.FAILED),
        (1007, 0, OrderStatus.PENDING, [(beans, 3)], None),
    ]
    for number, days_ago, status, items, payment in history:
        placed = now - timedelta(days=days_ago, hours=3)
        order = await place_order(
            scope.store,
            buyer,
            number=str(number),
            placed_at=placed,
            status=status,
            lines=[
                Line(p.name, quantity, p.price, tax_rate_bp=VAT_BP, product_id=p.id)
                for p, quantity in items
            ],
        )
        if payment is not None:
            await scope.create(
                Payment,
                order_id=order.id,
                status=payment,
                amount=order.total,
                currency=order.currency,
                method_summary="Visa •••• 4242",
                payment_method_id=expired.id,
                failure_reason="expired_card" if payment is PaymentStatus.FAILED else "",
                created_at=placed,
            )
        if payment in {PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED}:
            await issue_invoice(scope.store, order, issued_at=placed)
