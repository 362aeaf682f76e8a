"""Issuing invoices: a number from the store's sequence and a frozen snapshot of the sale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, NotFound
from payfacile.platform.i18n import language_of
from payfacile.platform.text import _l
from payfacile.portal.models import (
    Customer,
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    Order,
    OrderLine,
)
from payfacile.portal.order_emails import queue_order_email
from payfacile.portal.orders import Line, net_of
from payfacile.portal.pdf import branding_at_issue
from payfacile.portal.vat import taxes_by_rate
from payfacile.tenants.legal import invoice_terms, legal_identity
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

NUMBER_PREFIX = "INV"


async def next_invoice_number(store: Store) -> str:
    """The next number of the store's gap-free sequence. Call inside a transaction: the
    counter stays locked until it ends, so a rolled-back issue gives its number back."""
    scope = scoped(store)
    counter = await scope.query(InvoiceCounter).select_for_update().first()
    if counter is None:
        try:
            async with in_transaction():  # a savepoint: losing the race to create is fine
                await scope.create(InvoiceCounter, next_value=1)
        except IntegrityError:
            pass  # another issue created it first; it is ours once that one commits
        counter = await scope.query(InvoiceCounter).select_for_update().get()
    value = counter.next_value
    await scope.query(InvoiceCounter).filter(id=counter.id).update(next_value=F("next_value") + 1)
    return f"{NUMBER_PREFIX}-{value:06d}"


def _seller(store: Store) -> dict[str, Any]:
    return {
        "name": store.name,
        "address": [store.address_line1, store.address_line2, f"{store.postal_code} {store.city}"],
        "country": store.country,
        "vat_number": store.vat_number,
        "email": store.support_email,
        **legal_identity(store),
    }


def buyers_language(store: Store, customer: Customer) -> str:
    """The language of the buyer's invoices and credit notes: theirs if they chose one, else
    the store's. Frozen into each at issue."""
    return language_of(customer.language or store.locale)


def is_business(customer: Customer) -> bool:
    """A buyer with a company or a VAT number buys as a business: their invoices state the
    late-payment penalties and the 40 € recovery indemnity."""
    return bool(customer.company.strip() or customer.vat_number.strip())


def _buyer(customer: Customer) -> dict[str, Any]:
    return {
        "name": customer.name,
        "company": customer.company,
        "email": customer.email,
        "address": [
            customer.address_line1,
            customer.address_line2,
            f"{customer.postal_code} {customer.city}",
        ],
        "country": customer.country,
        "vat_number": customer.vat_number,
        "company_number": customer.company_number,
        "phone": customer.phone,
    }


def _taxes(lines: list[OrderLine]) -> list[dict[str, int]]:
    """Per rate, on the net total of the rate, rounded half-up (`portal.vat`)."""
    taxes = taxes_by_rate((line.tax_rate_bp, net_of(line)) for line in lines)
    return [{"rate_bp": t.rate_bp, "base": t.base, "amount": t.amount} for t in taxes]


async def issue_invoice(
    store: Store, order: Order, *, issued_at: datetime, notify: Settings | None = None
) -> Invoice:
    """Freeze `order` into a new invoice: seller, buyer and lines are copied as they are now.
    With `notify`, the buyer's invoice email (its PDF attached) is queued in the same
    transaction.

    An order has one invoice: issuing another is a `Conflict` naming it. The order's row is
    locked first, so two issues of one order at once come out as one invoice and a refusal,
    and the refused one takes no number."""
    scope = scoped(store)
    async with in_transaction():
        await scope.query(Order).select_for_update().filter(id=order.id).only("id").first()
        existing = await (
            scope.query(Invoice)
            .filter(order_id=order.id, kind=InvoiceKind.INVOICE)
            .only("number")
            .first()
        )
        if existing is not None:
            raise Conflict(
                _l(
                    "Order %(order)s already has an invoice: %(invoice)s.",
                    order=order.number,
                    invoice=existing.number,
                )
            )
        store = await Store.get(id=store.id)  # its settings now, not as a caller last read them
        customer = await scope.get(Customer, id=order.customer_id)
        lines = await scope.query(OrderLine).filter(order_id=order.id).order_by("id")
        branding = await branding_at_issue(store)
        business = is_business(customer)
        language = buyers_language(store, customer)
        snapshot = {
            "seller": _seller(store),
            "buyer": _buyer(customer),
            "business_buyer": business,
            "terms": invoice_terms(store, business_buyer=business, language=language),
            "order_number": order.number,
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "tax_rate_bp": line.tax_rate_bp,
                    "net": net_of(line),  # excluding VAT; the lines add up to the subtotal
                }
                for line in lines
            ],
            "taxes": _taxes(list(lines)),
            "subtotal": order.subtotal,
            "tax_total": order.tax_total,
            "total": order.total,
            "currency": order.currency,
            "locale": store.locale,
            "language": language,  # its PDF's, whenever it is rendered
            "time_zone": store.zone,  # its dates are on the store's clock
            "branding": branding.frozen(),
        }
        invoice = await scope.create(
            Invoice,
            order_id=order.id,
            customer_id=customer.id,
            number=await next_invoice_number(store),
            issued_at=issued_at,
            currency=order.currency,
            snapshot=snapshot,
            total=order.total,
            brand_logo=branding.logo,
            next_attempt_at=datetime.now(UTC),  # its PDF: rendered by the `invoice_pdf` job
        )
        if notify is not None:
            await _email_invoice(notify, store, customer, order, invoice)
    return invoice


def frozen_lines(snapshot: dict[str, Any]) -> list[Line]:
    """An invoice's lines as its snapshot froze them, for the emails that show them."""
    return [
        Line(line["description"], line["quantity"], line["unit_price"], line["tax_rate_bp"])
        for line in snapshot["lines"]
    ]


async def _email_invoice(
    settings: Settings, store: Store, customer: Customer, order: Order, invoice: Invoice
) -> None:
    frozen = frozen_lines(invoice.snapshot)
    await queue_order_email(
        settings,
        store,
        customer,
        order,
        frozen,
        template="invoice_issued",
        invoice=invoice,
    )


async def own_invoice_etag(store: Store, customer: Customer, number: str) -> str:
    """The ETag of the buyer's invoice (empty until its PDF exists), without its bytes.
    Anyone else's invoice is a 404."""
    return (await own_invoice(store, customer, number, only=("id", "etag"))).etag


async def own_invoice(
    store: Store, customer: Customer, number: str, *, only: tuple[str, ...] = ()
) -> Invoice:
    """The buyer's invoice (with just the fields `only` names, if any); anyone else's is a
    404."""
    if only:
        query = scoped(store).query(Invoice).filter(number=number[:32], customer_id=customer.id)
        found = await query.only(*only).first()
    else:  # a number is one invoice of the store
        found = await scoped(store).find(Invoice, number=number[:32], customer_id=customer.id)
    if found is None:
        raise NotFound(_l("There is no such invoice."))
    return found
