"""A buyer's orders: placing them (by hand, the CLI, the demo, imports) and paging through
them, newest first.

Pages are keyset pages on (placed_at, id), the columns of the index that starts with store and
customer, so page 5,000 of a buyer with 100,000 orders costs what page 1 does: no OFFSET, no
COUNT. A cursor is the position of the first or last order shown, `{microseconds}.{id}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from babel.numbers import get_currency_precision
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q, RawSQL, Subquery
from tortoise.queryset import QuerySet, ValuesQuery
from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.text import Message, _l
from payfacile.portal.models import (
    Customer,
    Invoice,
    InvoiceKind,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentStatus,
)
from payfacile.portal.order_emails import queue_order_email
from payfacile.portal.vat import TaxAtRate, taxes_by_rate
from payfacile.tenants.models import Store
from payfacile.tenants.scope import Scope, scoped

PAGE_SIZE = 20
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FIRST_NUMBER = 1001  # a store's first order, when its orders are numbered for it
NUMBER_ATTEMPTS = 20  # numbers tried when orders placed at once take the same one
MAX_LINES = 200
MAX_DESCRIPTION = 255
MAX_QUANTITY = 1_000_000
MAX_UNIT_PRICE = 10**11  # minor units: a billion euros
MAX_RATE_BP = 10_000  # 100 %


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


def check_lines(lines: Sequence[Line]) -> list[Line]:
    """The lines with tidy descriptions, or an `InvalidInput` naming the first bad one."""
    if not lines:
        raise InvalidInput(_l("An order needs at least one line."), field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(_l("An order has at most %(max)s lines.", max=MAX_LINES), field="lines")
    return [_check_line(number, line) for number, line in enumerate(lines, start=1)]


def _check_line(number: int, line: Line) -> Line:
    problems = line_problems(number, line)
    if problems:
        raise InvalidInput(next(iter(problems.values())), field="lines")
    description = " ".join(str(line.description).split())
    return Line(description, line.quantity, line.unit_price, line.tax_rate_bp, line.product_id)


def line_problems(number: int, line: Line) -> dict[str, Message]:
    """What is wrong with line `number`, by field (`description`, `quantity`, `unit_price`,
    `vat_rate`), each message naming the line; empty when nothing is."""
    description = " ".join(str(line.description).split())
    problems: dict[str, Message] = {}
    if not description:
        problems["description"] = _l("Line %(line)s needs a description.", line=number)
    elif len(description) > MAX_DESCRIPTION:
        problems["description"] = _l(
            "Line %(line)s: the description is longer than %(max)s characters.",
            line=number,
            max=MAX_DESCRIPTION,
        )
    if not 1 <= line.quantity <= MAX_QUANTITY:
        problems["quantity"] = _l(
            "Line %(line)s: the quantity must be a whole number from 1 to %(max)s.",
            line=number,
            max=MAX_QUANTITY,
        )
    if not 0 <= line.unit_price <= MAX_UNIT_PRICE:
        problems["unit_price"] = _l(
            "Line %(line)s: the unit price cannot be negative or so large.", line=number
        )
    if not 0 <= line.tax_rate_bp <= MAX_RATE_BP:
        problems["vat_rate"] = _l(
            "Line %(line)s: the VAT rate must be from 0 to 100 percent.", line=number
        )
    return problems


def parse_line(text: str, currency: str) -> Line:
    """`"Coffee beans;2;12.50;5.5"` (description, quantity, unit price excluding VAT in the
    currency's units, VAT rate in percent) → a `Line` in minor units and basis points."""
    parts = [part.strip() for part in text.split(";")]
    if len(parts) != 4:
        raise InvalidInput(
            _l(
                "Write a line as description;quantity;unit price;VAT rate, "
                "like “Coffee beans;2;12.50;20”, not “%(line)s”.",
                line=text,
            ),
            field="lines",
        )
    description, quantity, price, rate = parts
    digits = get_currency_precision(currency)
    try:
        unit_price = exact_units(price, digits)
        tax_rate_bp = exact_units(rate, 2)
        count = exact_units(quantity, 0)
    except (InvalidOperation, ValueError) as error:
        raise InvalidInput(
            _l(
                "In “%(line)s”, the quantity must be a whole number and the unit price and "
                "VAT rate numbers (like 12.50 and 20).",
                line=text,
            ),
            field="lines",
        ) from error
    return Line(description, count, unit_price, tax_rate_bp=tax_rate_bp)


def exact_units(text: str, digits: int) -> int:
    """`"12.50"`, 2 → 1250; more decimals than `digits` is a `ValueError`."""
    value = Decimal(text.replace(",", ".")).scaleb(digits)
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{text!r} has more than {digits} decimals")
    return int(value)


async def place_order(
    store: Store,
    customer: Customer,
    *,
    lines: Sequence[Line],
    placed_at: datetime,
    status: OrderStatus = OrderStatus.PENDING,
    number: str | None = None,
    currency: str | None = None,
    notify: Settings | None = None,
) -> Order:
    """An order with its lines; with `notify`, the buyer's confirmation email is queued in
    the same transaction (none for history: the demo's orders, imports of past orders).

    Bad lines are an `InvalidInput` and write nothing. Without a `number`, the order takes
    the store's next one (1001, 1002, …); a `number` the store already has is a `Conflict`.
    A line's total is its net amount (quantity × unit price, excluding VAT), so the lines
    add up to the subtotal; VAT is computed per rate on the net total of that rate, rounded
    half-up."""
    lines = check_lines(lines)
    currency = (currency or store.currency).upper()
    subtotal = sum(line.net for line in lines)
    tax = sum(t.amount for t in taxes_by_rate((line.tax_rate_bp, line.net) for line in lines))
    values = {
        "customer_id": customer.id,
        "status": OrderStatus(status),
        "currency": currency,
        "subtotal": subtotal,
        "tax_total": tax,
        "total": subtotal + tax,
        "placed_at": placed_at,
    }
    async with in_transaction():
        order = await _new_order(store, number, values)
        await scoped(store).create_many(
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
        if notify is not None:
            await queue_order_email(
                notify, store, customer, order, lines, template="order_confirmation"
            )
    return order


async def _new_order(store: Store, number: str | None, values: dict[str, Any]) -> Order:
    scope = scoped(store)
    if number is not None:
        taken = _l("This store already has an order %(number)s.", number=number)
        with db.unique_or_conflict(taken, field="number"):
            async with in_transaction():  # a savepoint: the caller's transaction goes on
                return await scope.create(Order, number=number, **values)
    candidate = FIRST_NUMBER + await scope.query(Order).count()
    for _ in range(NUMBER_ATTEMPTS):
        try:
            async with in_transaction():
                return await scope.create(Order, number=str(candidate), **values)
        except IntegrityError:
            candidate += 1  # placed at the same moment, or numbered by hand: the next one
    raise Conflict(_l("Too many orders are being placed at once. Try again in a moment."))


class OrderSummary(NamedTuple):
    """An order as a list shows it: read as plain values, no model built."""

    id: int
    number: str
    status: OrderStatus
    currency: str
    total: int
    placed_at: datetime
    invoice_number: str | None  # its invoice's (not a credit note's); None until issued


SUMMARY_VALUES = {name: name for name in OrderSummary._fields}


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
    the page newer than `after`. One query; the first page, which every visit of the list
    opens, runs from SQL built once (`Scope.rows`)."""
    scope = scoped(store)
    query = _buyers_orders(scope, customer.id)

    async def first_page() -> list[dict[str, Any]]:
        return await scope.rows(FIRST_ORDER_PAGE, _first_order_page, customer.id)

    rows, newer, older = await newest_first(
        query,
        SUMMARY_VALUES,
        before=before,
        after=after,
        size=size,
        first_page=first_page if size == PAGE_SIZE else None,
    )
    return OrderPage([OrderSummary(**row) for row in rows], newer=newer, older=older)


FIRST_ORDER_PAGE = "portal.orders.first_page"


def _buyers_orders(scope: Scope, customer_id: int) -> QuerySet[Order]:
    return with_invoice_number(scope, scope.query(Order).filter(customer_id=customer_id))


def _first_order_page(scope: Scope, customer_id: int) -> ValuesQuery[Any]:
    """What `newest_first` asks for the first page, as a statement to build once."""
    query = _buyers_orders(scope, customer_id).order_by("-placed_at", "-id")
    return query.limit(PAGE_SIZE + 1).values(**SUMMARY_VALUES)


async def newest_first(
    query: QuerySet[Any],
    values: Mapping[str, str],
    *,
    at: str = "placed_at",
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
    first_page: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
) -> tuple[list[dict[str, Any]], Cursor | None, Cursor | None]:
    """A keyset page of `query` by (`at`, id), newest first, as `values` rows (name →
    field, which must include `id` and `at`), with the cursors of the newer and the older
    page. One query (two when a page of newer rows reaches the newest). `first_page`, if
    given, fetches the first page's `size + 1` rows the same way, from a prepared statement."""
    if after is None and before is None and first_page is not None:
        found = await first_page()
    else:
        if after is not None:
            page = query.filter(_newer_than(after, at)).order_by(at, "id")
        else:
            page = query.filter(_older_than(before, at)) if before is not None else query
            page = page.order_by(f"-{at}", "-id")
        found = list(await page.limit(size + 1).values(**values))
    more = len(found) > size
    found = found[:size]

    def cursor(row: dict[str, Any]) -> Cursor:
        return Cursor(placed_at=row[at], id=row["id"])

    if after is not None:
        if not more:  # back at the newest: the first page, full
            return await newest_first(query, values, at=at, size=size, first_page=first_page)
        found.reverse()
        return found, cursor(found[0]), cursor(found[-1])
    newer = cursor(found[0]) if before is not None and found else None
    return found, newer, cursor(found[-1]) if more else None


def _older_than(cursor: Cursor, at: str) -> Q:
    # `at <= t` first, so that the database narrows on the index before the tie-break.
    return _at(at, "lte", cursor) & (_at(at, "lt", cursor) | Q(id__lt=cursor.id))


def _newer_than(cursor: Cursor, at: str) -> Q:
    return _at(at, "gte", cursor) & (_at(at, "gt", cursor) | Q(id__gt=cursor.id))


def _at(at: str, comparison: str, cursor: Cursor) -> Q:
    condition: dict[str, Any] = {f"{at}__{comparison}": cursor.placed_at}
    return Q(**condition)


OUTER_ORDER_ID = RawSQL('"order"."id"')  # the order a correlated subquery is about


def with_invoice_number(scope: Scope, query: QuerySet[Order]) -> QuerySet[Order]:
    """`query` with each order's invoice number as `invoice_number`, in the same statement:
    the invoice (not a credit note: an order has one of each at most) found by its order on
    the (store, order, kind) index, so a page costs the same beside 100,000 invoices."""
    number = (
        scope.query(Invoice)
        .filter(order_id=OUTER_ORDER_ID, kind=InvoiceKind.INVOICE)
        .values("number")
    )
    return query.annotate(invoice_number=Subquery(number))


class InvoiceSummary(NamedTuple):
    """An invoice or credit note as the buyer's list shows it."""

    id: int
    number: str
    kind: InvoiceKind
    issued_at: datetime
    total: int
    currency: str
    order_number: str


INVOICE_SUMMARY = {name: name for name in InvoiceSummary._fields} | {
    "order_number": "order__number"
}


@dataclass(frozen=True)
class InvoicePage:
    invoices: list[InvoiceSummary]
    newer: Cursor | None
    older: Cursor | None


async def invoice_page(
    store: Store,
    customer: Customer,
    *,
    before: Cursor | None = None,
    after: Cursor | None = None,
    size: int = PAGE_SIZE,
) -> InvoicePage:
    """Up to `size` of the buyer's invoices and credit notes, newest first, keyset pages on
    (issued_at, id) like the orders': one query (its order's number joined)."""
    query = scoped(store).query(Invoice).filter(customer_id=customer.id)
    rows, newer, older = await newest_first(
        query, INVOICE_SUMMARY, at="issued_at", before=before, after=after, size=size
    )
    return InvoicePage([InvoiceSummary(**row) for row in rows], newer=newer, older=older)


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    lines: list[OrderLine]
    taxes: list[TaxAtRate]
    payments: list[Payment]
    invoices: list[Invoice]  # id, number, kind, issued_at, total and currency only; the
    # invoice, then its credit note if the order was refunded

    @property
    def refunds(self) -> list[Payment]:
        return [payment for payment in self.payments if payment.status == PaymentStatus.REFUNDED]


async def store_order(store: Store, number: str) -> Order:
    """The store's order with this number, whoever's it is (for the merchant and the CLI)."""
    found = await scoped(store).find(Order, number=number.strip()[:32])
    if found is None:
        raise NotFound(_l("%(store)s has no order %(number)s.", store=store.name, number=number))
    return found


async def order_detail(store: Store, customer: Customer, number: str) -> OrderDetail:
    """The buyer's order with its lines, payments and invoices; anyone else's is a 404."""
    found = await scoped(store).get(Order, number=number[:32], customer_id=customer.id)
    return await detail_of(store, found)


async def detail_of(store: Store, found: Order) -> OrderDetail:
    """`found`, an order read through the store's scope, with its lines, payments and
    invoices: three queries."""
    scope = scoped(store)
    lines = await scope.query(OrderLine).filter(order_id=found.id).order_by("id")
    payments = await scope.query(Payment).filter(order_id=found.id).order_by("created_at")
    invoices = (
        await scope.query(Invoice)
        .filter(order_id=found.id)
        .only("id", "number", "kind", "issued_at", "total", "currency")
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
