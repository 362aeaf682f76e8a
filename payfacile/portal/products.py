"""A store's subscription products as its dashboard edits them: name, price excluding VAT,
VAT rate, interval, and the switch "Customers can cancel from the portal" with its mode.

Owner and staff create products and edit their name, price and interval; only the owner
changes the cancellation switch and mode (`Member.must_be_owner`, on the server). The portal
reads the product on every request (`subscriptions.cancellable`), so a change shows at once
for every subscription on the product: nothing caches it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision
from tortoise.expressions import Q
from tortoise.functions import Count

from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import _l
from payfacile.portal import customer_list
from payfacile.portal.models import Subscription, SubscriptionStatus
from payfacile.portal.orders import MAX_RATE_BP, exact_units
from payfacile.tenants.dashboard import Member
from payfacile.tenants.models import CancellationMode, Product, ProductKind, Store
from payfacile.tenants.scope import scoped

SHOWN = 50  # products a page of the list shows, by name
MAX_NAME = 200
MAX_PRICE = 10**11  # minor units: a billion euros is a typing mistake
INTERVALS = ("month", "year")


@dataclass(frozen=True)
class ProductRow:
    product: Product
    live: int  # subscriptions not ended


@dataclass(frozen=True)
class ProductList:
    rows: list[ProductRow]
    next: int | None  # the last product shown, when more follow: `?after=` it
    later: bool  # a page after the first (offer the way back to it)


DAMAGED = _l("This page link is damaged. Start again from your products.")


def page_after(text: str | None) -> int | None:
    """The product id a `?after=` holds; a damaged one is a clear 422."""
    return customer_list.page_link(text, DAMAGED)


async def product_list(store: Store, *, after: int | None = None) -> ProductList:
    """A page of the store's subscription products by name (keyset on name and id, after
    the product `after`), each with its live subscriptions, counted in one grouped query:
    two or three queries whatever the number of products or subscriptions."""
    query = scoped(store).query(Product).filter(kind=ProductKind.SUBSCRIPTION)
    if after is not None:
        names = await query.filter(id=after).values_list("name", flat=True)
        if not names:
            raise InvalidInput(DAMAGED, field="cursor")
        name = str(names[0])
        query = query.filter(Q(name__gt=name) | Q(name=name, id__gt=after))
    found = list(await query.order_by("name", "id").limit(SHOWN + 1))
    products = found[:SHOWN]
    counts = await live_counts(store, [product.id for product in products])
    return ProductList(
        rows=[ProductRow(product, counts.get(product.id, 0)) for product in products],
        next=products[-1].id if len(found) > SHOWN else None,
        later=after is not None,
    )


async def live_counts(store: Store, product_ids: list[int]) -> dict[int, int]:
    """Subscriptions not ended (not canceled, nor past a period they were set to end at),
    per product, in one query."""
    if not product_ids:
        return {}
    rows = (
        await scoped(store)
        .query(Subscription)
        .filter(product_id__in=product_ids)
        .exclude(status=SubscriptionStatus.CANCELED)
        .exclude(Q(cancel_at_period_end=True, current_period_end__lte=datetime.now(UTC)))
        .annotate(live=Count("id"))
        .group_by("product_id")
        .values("product_id", "live")
    )
    return {int(row["product_id"]): int(row["live"]) for row in rows}


async def product_of(store: Store, product_id: int) -> Product:
    """One subscription product of the store; another store's is a 404."""
    return await scoped(store).get(Product, id=product_id, kind=ProductKind.SUBSCRIPTION)


async def create_product(store: Store, member: Member, form: Mapping[str, str]) -> Product:
    values = read_form(store, form, current=None)
    _check_role(member, values, current=None)
    return await scoped(store).create(Product, kind=ProductKind.SUBSCRIPTION, **values)


async def update_product(
    store: Store, member: Member, product: Product, form: Mapping[str, str]
) -> Product:
    """`product`, read through the store's scope (`product_of`), as `form` says."""
    values = read_form(store, form, current=product)
    _check_role(member, values, current=product)
    await scoped(store).update(product, **values)
    return product


def read_form(store: Store, form: Mapping[str, str], *, current: Product | None) -> dict[str, Any]:
    """The product's values from its form; the first wrong field is an `InvalidInput`
    naming it. A form without the cancellation fields (staff's) keeps them as they are."""
    name = " ".join(form.get("name", "").split())
    if not name:
        raise InvalidInput(_l("Give the product a name."), field="name")
    if len(name) > MAX_NAME:
        raise InvalidInput(_l("A name has at most 200 characters."), field="name")
    interval = form.get("interval", "")
    if interval not in INTERVALS:
        raise InvalidInput(_l("Choose monthly or yearly."), field="interval")
    values: dict[str, Any] = {
        "name": name,
        "price": parse_price(form.get("price", ""), store.currency),
        "interval": interval,
    }
    if "vat_rate" in form:  # a form without it keeps the product's rate (new: 20 %)
        values["tax_rate_bp"] = parse_rate(form["vat_rate"])
    if "cancellation" in form:  # the owner's form: the switch's box and the mode
        try:
            values["cancellation_mode"] = CancellationMode(form.get("cancellation_mode", ""))
        except ValueError:
            raise InvalidInput(
                _l("Choose when a cancellation takes effect."), field="cancellation_mode"
            ) from None
        values["portal_cancellation_allowed"] = form.get("portal_cancellation_allowed") == "on"
    elif current is not None:
        values["cancellation_mode"] = current.cancellation_mode
        values["portal_cancellation_allowed"] = current.portal_cancellation_allowed
    return values


def price_text(price: int, currency: str) -> str:
    """Minor units as the price field shows them: 1990 → "19.90"."""
    return str(Decimal(price).scaleb(-get_currency_precision(currency.upper())))


def parse_price(text: str, currency: str) -> int:
    """A price typed in the store's currency ("19.90" or "19,90") in minor units."""
    digits = get_currency_precision(currency.upper())
    try:
        price = exact_units(text.strip().replace("\u00a0", "").replace(" ", ""), digits)
    except (InvalidOperation, ValueError):
        price = -1
    if not 0 <= price < MAX_PRICE:
        message = (
            _l(
                "Enter the price as an amount, like 19.90, with at most %(digits)s decimals.",
                digits=digits,
            )
            if digits
            else _l("Enter the price as a whole amount, like 1900.")
        )
        raise InvalidInput(message, field="price")
    return price


def rate_text(rate_bp: int) -> str:
    """Basis points as the VAT rate field shows them: 2000 → "20", 550 → "5.5"."""
    return f"{Decimal(rate_bp).scaleb(-2).normalize():f}"


def parse_rate(text: str) -> int:
    """A VAT rate typed in percent ("20", "5,5") in basis points, from 0 to 100 %."""
    try:
        rate = exact_units(text.strip().rstrip("%").strip(), 2)
    except (InvalidOperation, ValueError):
        rate = -1
    if not 0 <= rate <= MAX_RATE_BP:
        raise InvalidInput(
            _l("Enter the VAT rate in percent, from 0 to 100, like 20 or 5.5."), field="vat_rate"
        )
    return rate


def _check_role(member: Member, values: Mapping[str, Any], *, current: Product | None) -> None:
    """Only the owner changes the cancellation switch and mode (a 403 otherwise, nothing
    written). A new product starts with buyers unable to cancel, at the period's end."""
    before = (
        (current.portal_cancellation_allowed, current.cancellation_mode)
        if current is not None
        else (False, CancellationMode.END_OF_PERIOD)
    )
    after = (
        values.get("portal_cancellation_allowed", before[0]),
        values.get("cancellation_mode", before[1]),
    )
    if after != before:
        member.must_be_owner()
