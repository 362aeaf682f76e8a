"""`scoped(store).find`: the lookups every signed-in page makes (its buyer by id, an invoice
by number) run from SQL built once, and find exactly what Tortoise's own query finds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise.exceptions import MultipleObjectsReturned
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.db import Statement
from payfacile.platform.errors import NotFound
from payfacile.portal.models import Customer, Invoice, Order, OrderStatus
from payfacile.portal.orders import PAGE_SIZE, SUMMARY_VALUES, order_page, with_invoice_number
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_invoice, make_order, make_store


async def test_a_row_found_by_id_is_the_row_tortoise_loads(database: Settings) -> None:
    store = await make_store()
    buyer = await make_customer(
        store, name="Zoé Ångström", phone="+33 6 12 34 56 78", city="Lyon", language="fr"
    )
    found = await scoped(store).find(Customer, id=buyer.id)
    loaded = await Customer.get(id=buyer.id)
    assert found is not None
    fields = Customer._meta.fields_map.keys() - Customer._meta.fetch_fields
    assert {name: getattr(found, name) for name in fields} == {
        name: getattr(loaded, name) for name in fields
    }
    assert found._saved_in_db  # a loaded row: saving it updates, never inserts
    found.city = "Paris"
    await scoped(store).update(found, city="Paris")
    assert (await Customer.get(id=buyer.id)).city == "Paris"
    assert await Customer.all().count() == 1


async def test_another_stores_row_is_not_found(database: Settings) -> None:
    mine, theirs = await make_store(), await make_store()
    their_buyer = await make_customer(theirs, email="same@example.com")
    await make_customer(mine, email="same@example.com")
    assert await scoped(mine).find(Customer, id=their_buyer.id) is None
    with pytest.raises(NotFound):
        await scoped(mine).get(Customer, id=their_buyer.id)
    found = await scoped(mine).find(Customer, email="same@example.com")
    assert found is not None
    assert found.store_id == mine.id


async def test_strings_several_fields_and_other_values(database: Settings) -> None:
    store = await make_store()
    buyer, other = await make_customer(store), await make_customer(store)
    order = await make_order(store, buyer, "1001", status=OrderStatus.PAID)
    invoice = await make_invoice(store, order)
    found = await scoped(store).find(Invoice, number=invoice.number, customer_id=buyer.id)
    assert found is not None
    assert found.id == invoice.id
    assert found.snapshot == invoice.snapshot
    assert await scoped(store).find(Invoice, number=invoice.number, customer_id=other.id) is None
    assert await scoped(store).find(Invoice, number="INV-' OR 1=1 --") is None
    # Values that are not ints or strings (an enum) go through Tortoise, with the same answer.
    by_status = await scoped(store).find(Order, number="1001", status=OrderStatus.PAID)
    assert by_status is not None
    assert by_status.id == order.id


async def test_two_rows_are_an_error_as_with_get(database: Settings) -> None:
    store = await make_store()
    await make_customer(store, name="Twin")
    await make_customer(store, name="Twin")
    with pytest.raises(MultipleObjectsReturned):
        await scoped(store).find(Customer, name="Twin")


async def test_a_lookup_inside_a_transaction_sees_its_own_writes(database: Settings) -> None:
    store = await make_store()
    async with in_transaction():
        buyer = await make_customer(store)
        await scoped(store).update(buyer, name="Inside")
        found = await scoped(store).find(Customer, id=buyer.id)
        assert found is not None
        assert found.name == "Inside"


def test_a_statement_refuses_a_value_it_cannot_place() -> None:
    with pytest.raises(TypeError):
        Statement(lambda when: Order.filter(placed_at=when), float)


async def test_a_statement_that_drops_a_value_is_refused(database: Settings) -> None:
    statement = Statement(lambda store_id, unused: Customer.filter(store_id=store_id), int, int)
    with pytest.raises(ValueError, match="each value must appear"):
        await statement.one(1, 2)


async def test_the_first_page_of_orders_from_its_statement_is_tortoises_own(
    database: Settings,
) -> None:
    """`Scope.rows` (the order list's first page) gives the rows, types and order that
    Tortoise's own query gives, including each order's invoice number."""
    store, other_store = await make_store(), await make_store()
    buyer = await make_customer(store)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range(PAGE_SIZE + 3):
        status = OrderStatus.PAID if n % 3 else OrderStatus.PENDING
        order = await make_order(store, buyer, f"{1000 + n}", status=status)
        await scoped(store).update(order, placed_at=start + timedelta(hours=n % 7, minutes=n))
        if status == OrderStatus.PAID:
            await make_invoice(store, order)
    await make_order(other_store, await make_customer(other_store), "1001")
    scope = scoped(store)
    expected = await (
        with_invoice_number(scope, scope.query(Order).filter(customer_id=buyer.id))
        .order_by("-placed_at", "-id")
        .limit(PAGE_SIZE + 1)
        .values(**SUMMARY_VALUES)
    )
    for _ in range(2):  # built, then reused
        page = await order_page(store, buyer)
        assert [row._asdict() for row in page.orders] == expected[:PAGE_SIZE]
        assert all(isinstance(row.status, OrderStatus) for row in page.orders)
        assert all(row.placed_at.tzinfo is not None for row in page.orders)
        assert page.older is not None
        assert page.newer is None
    assert {row.invoice_number is None for row in page.orders} == {True, False}
    older = await order_page(store, buyer, before=page.older)
    assert len(older.orders) == 3
    assert older.newer is not None
