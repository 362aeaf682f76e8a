"""A buyer's orders: placing them (demo, imports, tests) and paging through them, newest first.

Pages are keyset pages on (placed_at, id), the columns of the index that starts with store and
customer, so page 5,000 of a buyer with 100,000 orders costs what page 1 does: no OFFSET, no
COUNT. A cursor is the position of the first or last order shown, `{microseconds}.{id}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import _l
from payfacile.portal.models import Customer, Invoice, Order, OrderLine, OrderStatus, Payment
from payfacile.portal.vat import TaxAtRate, taxes_by_rate
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

PAGE_SIZE = 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_price: int  # minor units, before tax
    tax_rate_bp: int = 0  # basis points: 2000 = 20 %
    product_id: int | None = None

    @property
    def net(self) -> int:
        return self.unit_price * self.quantity


async def place_order(
    store: Store,
    customer: Customer,
    *,
    number: str,
    lines: Sequence[Line],
    placed_at: datetime,
    status: OrderStatus = OrderStatus.PENDING,
    currency: str | None = None,
) -> Order:
    """An order with its lines. A line's total is its net amount (quantity × unit price,
    excluding VAT), so the lines add up to the subtotal; VAT is computed per rate on the net
    total of that rate, rounded half-up."""
    scope = scoped(store)
    subtotal = sum(line.net for line in lines)
    tax = sum(t.amount for t in taxes_by_rate((line.tax_rate_bp, line.net) for line in lines))
    async with in_transaction():
        order = await scope.create(
            Order,
            customer_id=customer.id,
            number=number,
            status=status,
            currency=(currency or store.currency).upper(),
            subtotal=subtotal,
            tax_total=tax,
            total=subtotal + tax,
            placed_at=placed_at,
        )
        await scope.create_many(
            OrderLine,
            [
                {
                    "order_id": order.id,
                    "product_id": line.product_id,
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "tax_rate_bp": line.tax_rate_bp,
                    "total": line.net,
                }
                for line in lines
            ],
        )
    return order


class OrderSummary(NamedTuple):
    """An order as a list shows it: read as plain values, no model built."""

    id: int
    number: str
    status: OrderStatus
    currency: str
    total: int
    placed_at: datetime


SUMMARY_FIELDS = OrderSummary._fields


@dataclass(frozen=True)
class Cursor:
    placed_at: datetime
    id: int

    def __str__(self) -> str:
        micros = (self.placed_at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        micros, _, order_id = text.partition(".")
        try:
            placed_at = EPOCH + timedelta(microseconds=int(micros))
            if not db.is_id(int(order_id)):
                raise ValueError("no order has this id")
            return cls(placed_at=placed_at, id=int(order_id))
        except (ValueError, OverflowError, OSError) as error:
            raise InvalidInput(
                _l("This page link is damaged. Start again from your orders."), field="cursor"
            ) from error

    @classmethod
    def of(cls, order: Order | OrderSummary) -> Cursor:
        return cls(placed_at=order.placed_at, id=order.id)


@dataclass(frozen=True)
class OrderPage:
    orders: list[OrderSummary]
    newer: Cursor | None  # show the page before: `?after=` this
    older: Cursor | None  # show the page after: `?before=` this


async def order_page(
    store: Store,
    customer: Customer,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> OrderPage:
    """Up to `size` orders, newest first: the first page, the page older than `before`, or
    the page newer than `after`. One query."""
    query = scoped(store).query(Order).filter(customer_id=customer.id)
    if after is not None:
        query = query.filter(_newer_than(after)).order_by("placed_at", "id")
    else:
        if before is not None:
            query = query.filter(_older_than(before))
        query = query.order_by("-placed_at", "-id")
    found = [OrderSummary(**row) for row in await query.limit(size + 1).values(*SUMMARY_FIELDS)]
    more = len(found) > size
    found = found[:size]
    if after is not None:
        if not more:  # back at the newest: the first page, full
            return await order_page(store, customer, size=size)
        found.reverse()
        return OrderPage(found, newer=Cursor.of(found[0]), older=Cursor.of(found[-1]))
    newer = Cursor.of(found[0]) if before is not None and found else None
    return OrderPage(found, newer=newer, older=Cursor.of(found[-1]) if more else None)


def _older_than(cursor: Cursor) -> Q:
    # `placed_at <= t` first, so that the database narrows on the index before the tie-break.
    return Q(placed_at__lte=cursor.placed_at) & (
        Q(placed_at__lt=cursor.placed_at) | Q(id__lt=cursor.id)
    )


def _newer_than(cursor: Cursor) -> Q:
    return Q(placed_at__gte=cursor.placed_at) & (
        Q(placed_at__gt=cursor.placed_at) | Q(id__gt=cursor.id)
    )


async def invoice_numbers(store: Store, order_ids: Iterable[int]) -> dict[int, list[str]]:
    """The numbers of these orders' invoices, oldest first, in one query."""
    ids = list(order_ids)
    if not ids:
        return {}
    rows = (
        await scoped(store)
        .query(Invoice)
        .filter(order_id__in=ids)
        .order_by("issued_at", "id")
        .values_list("order_id", "number")
    )
    grouped: dict[int, list[str]] = {}
    for order_id, number in rows:
        grouped.setdefault(order_id, []).append(number)
    return grouped


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    lines: list[OrderLine]
    taxes: list[TaxAtRate]
    payments: list[Payment]
    invoices: list[Invoice]  # id, number, issued_at, total and currency only


async def order_detail(store: Store, customer: Customer, number: str) -> OrderDetail:
    """The buyer's order with its lines, payments and invoices; anyone else's is a 404."""
    scope = scoped(store)
    found = await scope.get(Order, number=number[:32], customer_id=customer.id)
    lines = await scope.query(OrderLine).filter(order_id=found.id).order_by("id")
    payments = await scope.query(Payment).filter(order_id=found.id).order_by("created_at")
    invoices = (
        await scope.query(Invoice)
        .filter(order_id=found.id)
        .only("id", "number", "issued_at", "total", "currency")
        .order_by("issued_at", "id")
    )
    return OrderDetail(
        order=found,
        lines=list(lines),
        taxes=taxes_by_rate((line.tax_rate_bp, net_of(line)) for line in lines),
        payments=list(payments),
        invoices=list(invoices),
    )


def net_of(line: OrderLine) -> int:
    """A line's amount excluding VAT (also right for lines stored when `total` held VAT)."""
    return line.unit_price * line.quantity
