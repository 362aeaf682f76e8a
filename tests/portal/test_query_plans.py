"""The buyer's pages look up the buyer's rows, however many the store has.

SQLite takes an index that gives a query's ORDER BY for free over one that finds its few rows:
an order list whose invoice lookup was sorted walked every invoice of the store (17 ms a page
at 100,000 invoices, the whole page's time eight times over). These tests read the SQL the
pages really run, and its plan.
"""

from __future__ import annotations

import ast
import logging
from datetime import UTC, datetime, timedelta

import pytest
from quart.typing import TestClientProtocol as Client
from tortoise import connections

from payfacile.portal.models import Invoice, Order
from payfacile.tenants.scope import scoped
from tests.factories import make_customer, make_order
from tests.portal.test_auth import ACME, acme_with_buyer, sign_in


async def statements_of(
    client: Client, path: str, caplog: pytest.LogCaptureFixture
) -> list[tuple[str, list[object]]]:
    """The statements the page at `path` runs, each with its parameters."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        assert (await client.get(path, headers=ACME)).status_code == 200
    found = []
    for record in caplog.records:
        sql, _, params = record.getMessage().partition(": ")
        found.append((sql, list(ast.literal_eval(params)) if params else []))
    return found


async def plan_of(sql: str, values: list[object]) -> str:
    rows = await connections.get("default").execute_query_dict("EXPLAIN QUERY PLAN " + sql, values)
    return " / ".join(str(row["detail"]) for row in rows)


async def test_the_order_list_finds_its_invoices_by_order(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    if connections.get("default").capabilities.dialect != "sqlite":
        pytest.skip(
            "the plan read is SQLite's; PostgreSQL's depends on statistics a test database lacks"
        )
    store, buyer = await acme_with_buyer()
    scope = scoped(store)
    other = await make_customer(store, "busy@example.com")
    start = datetime(2020, 1, 1, tzinfo=UTC)
    await scope.create_many(
        Order,
        [
            {"customer_id": other.id, "number": f"B{n}", "status": "paid", "currency": "EUR",
             "total": 1200, "placed_at": start + timedelta(minutes=n)}
            for n in range(3000)
        ],
    )  # fmt: skip
    ids = await scope.query(Order).filter(customer_id=other.id).values_list("id", "placed_at")
    await scope.create_many(
        Invoice,
        [
            {"order_id": order_id, "customer_id": other.id, "number": f"B-{order_id}",
             "issued_at": placed, "currency": "EUR", "snapshot": {}, "total": 1200}
            for order_id, placed in ids
        ],
    )  # fmt: skip
    for n in range(7):  # a page of several orders, as a buyer's list has
        mine = await make_order(store, buyer, f"100{n}")
        await scope.create(
            Invoice, order_id=mine.id, customer_id=buyer.id, number=f"INV-{n}",
            issued_at=start, currency="EUR", snapshot={}, total=1000,
        )  # fmt: skip
    await sign_in(client)

    statements = await statements_of(client, "/portal/orders", caplog)
    [(sql, values)] = [(sql, values) for sql, values in statements if 'FROM "invoice"' in sql]
    plan = await plan_of(sql, values)
    assert "order_id=?" in plan, plan  # found by its orders, not by walking the store's
    assert 'FROM "order"' in sql  # the orders and their invoice numbers in one statement


async def test_the_order_list_is_three_statements_at_most(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """The session (none once Redis caches it), the buyer, and the page's orders with their
    invoice numbers."""
    store, buyer = await acme_with_buyer()
    for n in range(25):
        await make_order(store, buyer, f"{1001 + n}")
    await sign_in(client)
    await client.get("/portal/orders", headers=ACME)
    statements = await statements_of(client, "/portal/orders", caplog)
    assert len(statements) <= 3, statements
    assert sum('FROM "order"' in sql for sql, _ in statements) == 1
