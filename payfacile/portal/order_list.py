"""A store's orders and invoices as its dashboard shows them: store-wide lists in keyset pages
with search, one order with what the merchant needs of it, issuing its invoice, and an invoice
to download.

The lists are keyset pages by (placed_at, id) and (issued_at, id), newest first, on the
(store, placed_at, id) and (store, issued_at, id) indexes: page 400 costs what page 1 does, no
OFFSET, no COUNT. A page of orders is two queries (the orders with their customers, then the
invoice numbers of those orders), whatever the number of orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

from tortoise.expressions import Q

from payfacile.platform.config import Settings
from payfacile.platform.errors import InvalidInput
from payfacile.platform.text import Message, _l
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, Invoice, InvoiceKind, Order, OrderStatus
from payfacile.portal.orders import (
    Cursor,
    OrderDetail,
    detail_of,
    newest_first,
    with_invoice_number,
)
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

PAGE_SIZE = 25
MAX_SEARCH = 100


class OrderRow(NamedTuple):
    """An order as the store's list shows it, with its buyer: plain values, no model built."""

    id: int
    number: str
    status: OrderStatus
    currency: str
    total: int
    placed_at: datetime
    customer_id: int
    customer_email: str
    customer_name: str
    invoice_number: str | None


ORDER_VALUES = {name: name for name in OrderRow._fields} | {
    "customer_email": "customer__email",
    "customer_name": "customer__name",
}


class InvoiceRow(NamedTuple):
    id: int
    number: str
    issued_at: datetime
    currency: str
    total: int
    order_id: int
    order_number: str
    customer_id: int
    customer_email: str


INVOICE_VALUES = {name: name for name in InvoiceRow._fields} | {
    "order_number": "order__number",
    "customer_email": "customer__email",
}


@dataclass(frozen=True)
class OrderList:
    orders: list[OrderRow]
    newer: Cursor | None  # the page before: `?after=` this
    older: Cursor | None  # the page after: `?before=` this


@dataclass(frozen=True)
class InvoiceList:
    invoices: list[InvoiceRow]
    newer: Cursor | None
    older: Cursor | None


def cursor(text: str | None, *, start_from: Message) -> Cursor | None:
    """The position a `?before=`/`?after=` holds; a damaged one is a clear 422 that says
    where to start again."""
    if not text:
        return None
    try:
        return Cursor.parse(text[:64])
    except InvalidInput as error:
        raise InvalidInput(start_from, field="cursor") from error


def status_filter(text: str) -> OrderStatus | None:
    """The status `?status=` names, or none for every status; an unknown one is a 422."""
    if not text:
        return None
    try:
        return OrderStatus(text)
    except ValueError as error:
        raise InvalidInput(_l("There is no such order status."), field="status") from error


async def store_orders(
    store: Store,
    *,
    search: str = "",
    status: OrderStatus | None = None,
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> OrderList:
    """Up to `size` of the store's orders, newest first, whose number or buyer's email or
    name contains `search` (every character literally), of one `status` if given."""
    scope = scoped(store)
    query = with_invoice_number(scope, scope.query(Order))
    search = search.strip()[:MAX_SEARCH]
    if search:
        query = query.filter(
            Q(number__icontains=search)
            | Q(customer__email__icontains=search)
            | Q(customer__name__icontains=search)
        )
    if status is not None:
        query = query.filter(status=status)
    rows, newer, older = await newest_first(
        query, ORDER_VALUES, before=before, after=after, size=size
    )
    return OrderList([OrderRow(**row) for row in rows], newer=newer, older=older)


async def store_invoices(
    store: Store,
    *,
    search: str = "",
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> InvoiceList:
    """Up to `size` of the store's invoices, newest first, whose number or buyer's email
    contains `search`. One query."""
    query = scoped(store).query(Invoice)
    search = search.strip()[:MAX_SEARCH]
    if search:
        query = query.filter(Q(number__icontains=search) | Q(customer__email__icontains=search))
    rows, newer, older = await newest_first(
        query, INVOICE_VALUES, at="issued_at", before=before, after=after, size=size
    )
    return InvoiceList([InvoiceRow(**row) for row in rows], newer=newer, older=older)


@dataclass(frozen=True)
class StoreOrder:
    detail: OrderDetail
    customer: Customer

    @property
    def invoice(self) -> Invoice | None:
        return next((i for i in self.detail.invoices if i.kind == InvoiceKind.INVOICE), None)

    @property
    def credit_note(self) -> Invoice | None:
        return next((i for i in self.detail.invoices if i.kind == InvoiceKind.CREDIT_NOTE), None)


async def store_order(store: Store, order_id: int) -> StoreOrder:
    """One of the store's orders, whoever bought it, with its lines, payments, invoice and
    buyer; another store's is a 404."""
    scope = scoped(store)
    found = await scope.get(Order, id=order_id)
    customer = await scope.get(Customer, id=found.customer_id)
    return StoreOrder(detail=await detail_of(store, found), customer=customer)


async def invoice_order(settings: Settings, store: Store, order_id: int) -> Invoice:
    """The order's invoice, issued now and emailed to the buyer with its PDF. An order that
    has one already is a `Conflict` naming it (the service locks the order, so two clicks
    at once make one invoice)."""
    order = await scoped(store).get(Order, id=order_id)
    return await issue_invoice(store, order, issued_at=datetime.now(UTC), notify=settings)


async def store_invoice(store: Store, invoice_id: int) -> Invoice:
    """One of the store's invoices, with its stored PDF if any; another store's is a 404."""
    return await scoped(store).get(Invoice, id=invoice_id)
