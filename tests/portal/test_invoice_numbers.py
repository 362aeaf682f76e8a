"""Invoice numbers: one gap-free sequence per store, one invoice per order, under real
concurrency (on PostgreSQL each issue runs in its own transaction on its own connection)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Invoice, Order
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_order, make_store

ISSUED = datetime(2026, 3, 14, 9, tzinfo=UTC)
AT_ONCE = 6


async def orders_of(store: Store, count: int) -> list[Order]:
    buyer = await make_customer(store)
    return [await make_order(store, buyer, f"{store.slug}-{n}") for n in range(count)]


async def numbers(store: Store) -> list[str]:
    rows = await scoped(store).query(Invoice).order_by("number").values_list("number", flat=True)
    return [str(number) for number in rows]


def sequence(count: int) -> list[str]:
    return [f"INV-{n:06d}" for n in range(1, count + 1)]


async def test_the_first_invoices_of_stores_issued_at_once_are_numbered_without_gaps(
    database: Settings,
) -> None:
    shops = [await make_store(), await make_store()]
    orders = {shop.id: await orders_of(shop, AT_ONCE) for shop in shops}
    issued = await asyncio.gather(
        *(
            issue_invoice(shop, order, issued_at=ISSUED)
            for n in range(AT_ONCE)
            for shop in shops
            for order in orders[shop.id][n : n + 1]
        )
    )
    assert len(issued) == 2 * AT_ONCE
    for shop in shops:
        assert await numbers(shop) == sequence(AT_ONCE)
        order_ids = {invoice.order_id for invoice in issued if invoice.store_id == shop.id}
        assert order_ids == {order.id for order in orders[shop.id]}


async def test_an_order_is_invoiced_once_even_when_issued_at_once(database: Settings) -> None:
    shop = await make_store()
    order, later = await orders_of(shop, 2)
    outcomes = await asyncio.gather(
        *(issue_invoice(shop, order, issued_at=ISSUED) for _ in range(AT_ONCE)),
        return_exceptions=True,
    )
    invoices = [outcome for outcome in outcomes if isinstance(outcome, Invoice)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Conflict)]
    assert len(invoices) == 1, outcomes
    assert len(refused) == AT_ONCE - 1, outcomes
    assert invoices[0].number in str(refused[0])  # says which invoice the order has
    with pytest.raises(Conflict):
        await issue_invoice(shop, order, issued_at=ISSUED)
    assert (await issue_invoice(shop, later, issued_at=ISSUED)).number == "INV-000002"
    assert await numbers(shop) == sequence(2)
