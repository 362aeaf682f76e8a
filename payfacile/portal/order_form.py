"""Recording an order by hand from the dashboard's form: its fields read and checked one by
one, so that every bad field is named, then `place_order` (and, if asked, `issue_invoice`)
in one transaction. Nothing is written unless every field is right.

The form has `LINE_ROWS` rows of line fields, `line-N-description`, `line-N-quantity`,
`line-N-unit_price` and `line-N-vat_rate` (N from 1); a row left empty is ignored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import InvalidOperation

from babel.numbers import get_currency_precision
from tortoise.transactions import in_transaction

from payfacile.platform import db
from payfacile.platform.config import Settings
from payfacile.platform.errors import InvalidInput, NotFound
from payfacile.platform.text import Message, _l
from payfacile.portal.auth import customer_by_email
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import Customer, Invoice, Order, OrderStatus
from payfacile.portal.orders import Line, exact_units, line_problems, place_order
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

LINE_ROWS = 10
LINE_FIELDS = ("description", "quantity", "unit_price", "vat_rate")
STATUSES = (OrderStatus.PENDING, OrderStatus.PAID, OrderStatus.FULFILLED)
MAX_FIELD = 300
NUMBER = re.compile(r"\d{1,12}(?:[.,]\d{1,6})?")


class FormProblems(InvalidInput):
    """The form's bad fields, each with its message (a 422 that wrote nothing)."""

    def __init__(self, problems: dict[str, Message]) -> None:
        super().__init__(_l("Please correct the fields marked below."), field=next(iter(problems)))
        self.problems = problems


def line_field(row: int, name: str) -> str:
    return f"line-{row}-{name}"


def blank(email: str = "") -> dict[str, str]:
    """The form's values before anything is typed."""
    values = {"customer_email": email, "status": OrderStatus.PENDING.value, "issue_invoice": ""}
    for row in range(1, LINE_ROWS + 1):
        values.update({line_field(row, name): "" for name in LINE_FIELDS})
    return values


def read(form: Mapping[str, str]) -> dict[str, str]:
    """The form's own fields from a posted form, trimmed; anything else is left out."""
    return {name: str(form.get(name, "")).strip()[:MAX_FIELD] for name in blank()}


async def prefill(store: Store, customer_id: str) -> dict[str, str]:
    """The values of a form opened from a customer's profile (`?customer=<id>`); another
    store's customer is a 404."""
    if not customer_id:
        return blank()
    wanted = int(customer_id[:12]) if customer_id.isdecimal() else 0
    if not db.is_id(wanted):
        raise NotFound(_l("There is nothing at this address."))
    customer = await scoped(store).get(Customer, id=wanted)
    return blank(customer.email)


@dataclass(frozen=True)
class Recorded:
    order: Order
    customer: Customer
    invoice: Invoice | None


async def record(settings: Settings, store: Store, values: Mapping[str, str]) -> Recorded:
    """The order the form describes, placed now with its confirmation email, and its invoice
    issued and emailed too if the form asks. Bad fields are a `FormProblems`, all at once."""
    problems: dict[str, Message] = {}
    lines = _lines(values, get_currency_precision(store.currency), problems)
    status = _status(values.get("status", ""), problems)
    customer = await _customer(store, values.get("customer_email", ""), problems)
    if problems or customer is None or status is None:
        raise FormProblems(problems)
    now = datetime.now(UTC)
    async with in_transaction():
        order = await place_order(
            store, customer, lines=lines, placed_at=now, status=status, notify=settings
        )
        invoice = None
        if values.get("issue_invoice"):
            invoice = await issue_invoice(store, order, issued_at=now, notify=settings)
    return Recorded(order=order, customer=customer, invoice=invoice)


async def _customer(store: Store, email: str, problems: dict[str, Message]) -> Customer | None:
    if not email:
        problems["customer_email"] = _l("Enter the email of one of the store's customers.")
        return None
    try:
        return await customer_by_email(store, email)
    except NotFound as error:
        problems["customer_email"] = error.message
        return None


def _status(text: str, problems: dict[str, Message]) -> OrderStatus | None:
    if text in STATUSES:
        return OrderStatus(text)
    problems["status"] = _l("Choose the order's status.")
    return None


def _lines(values: Mapping[str, str], digits: int, problems: dict[str, Message]) -> list[Line]:
    lines = []
    for row in range(1, LINE_ROWS + 1):
        fields = {name: values.get(line_field(row, name), "") for name in LINE_FIELDS}
        if not any(fields.values()):
            continue  # an empty row
        line, found = _line(row, fields, digits)
        problems.update({line_field(row, name): message for name, message in found.items()})
        lines.append(line)
    if not lines:
        problems["lines"] = _l("An order needs at least one line: fill in the first row.")
    return lines


def _line(row: int, fields: Mapping[str, str], digits: int) -> tuple[Line, dict[str, Message]]:
    """The row as a `Line`, and its problems by field (a field that is not a number is
    named as such; the rest are the service's own checks)."""
    unreadable: dict[str, Message] = {}
    quantity = _number(fields["quantity"], 0)
    if quantity is None:
        unreadable["quantity"] = _l(
            "Line %(line)s: write the quantity as a whole number, like 2.", line=row
        )
    price = _number(fields["unit_price"], digits)
    if price is None:
        unreadable["unit_price"] = _l(
            "Line %(line)s: write the unit price excluding VAT as a number, like 12.50.", line=row
        )
    rate = _number(fields["vat_rate"], 2)
    if rate is None:
        unreadable["vat_rate"] = _l(
            "Line %(line)s: write the VAT rate in percent, like 20 or 5.5.", line=row
        )
    line = Line(
        fields["description"],
        1 if quantity is None else quantity,
        0 if price is None else price,
        tax_rate_bp=0 if rate is None else rate,
    )
    return line, line_problems(row, line) | unreadable


def _number(text: str, digits: int) -> int | None:
    """`"12.50"`, 2 → 1250; empty, not a plain number (no sign, no exponent: `1e999999`
    would be a billion digits), or too many decimals → None."""
    if not NUMBER.fullmatch(text):
        return None
    try:
        return exact_units(text, digits)
    except (InvalidOperation, ValueError):
        return None
