"""Refunding an order from the store's dashboard: the whole amount, through the gateway, once,
with a credit note that cancels its invoice.

The order's row stays locked for the whole refund, so two clicks at once make one refund and
a `Conflict`. The gateway is asked with an idempotency key of the order: asked again after a
crash, it answers with the first refund. Refunded, the order has its refund (a `refunded`
payment dated now, the gateway's id as its reference), its status, and — when it was
invoiced — a credit note, in one commit, with the buyer's email carrying its PDF.

A credit note is an `Invoice` row of kind `credit_note`: its own number from the store's one
gap-free sequence, and a frozen copy of the invoice it cancels (seller, buyer, lines, VAT,
totals and branding as invoiced), naming that invoice. Its PDF shows the amounts as credits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict
from payfacile.platform.text import _l
from payfacile.portal.gateway import PaymentGateway
from payfacile.portal.invoices import buyers_language, frozen_lines, next_invoice_number
from payfacile.portal.models import (
    Customer,
    Invoice,
    InvoiceKind,
    Order,
    OrderStatus,
    Payment,
    PaymentStatus,
)
from payfacile.portal.order_emails import queue_order_email
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

REFUNDABLE = frozenset({OrderStatus.PAID, OrderStatus.FULFILLED})


async def refund_order(
    settings: Settings, gateway: PaymentGateway, store: Store, order_id: int
) -> Invoice | None:
    """Give the buyer of the store's order `order_id` their money back; returns the credit
    note (None for an order never invoiced). Another store's order is a 404; one that is
    not paid, or already refunded, a `Conflict`."""
    scope = scoped(store)
    async with in_transaction():
        await scope.query(Order).select_for_update().filter(id=order_id).only("id").first()
        order = await scope.get(Order, id=order_id)
        paid = await _refundable_payment(store, order)
        refund = await gateway.refund(
            charge=paid.reference,
            amount=order.total,
            currency=order.currency,
            idempotency_key=f"refund-{store.id}-{order.id}",
        )
        now = datetime.now(UTC)
        await scope.create(
            Payment,
            order_id=order.id,
            status=PaymentStatus.REFUNDED,
            amount=order.total,
            currency=order.currency,
            method_summary=paid.method_summary,
            payment_method_id=paid.payment_method_id,
            reference=refund.id,
            created_at=now,
        )
        await scope.update(order, status=OrderStatus.REFUNDED)
        invoice = await (
            scope.query(Invoice).filter(order_id=order.id, kind=InvoiceKind.INVOICE).first()
        )
        if invoice is None:
            return None
        return await _credit_note(settings, store, order, invoice, issued_at=now)


async def _refundable_payment(store: Store, order: Order) -> Payment:
    if order.status == OrderStatus.REFUNDED:
        raise Conflict(_l("Order %(number)s is already refunded.", number=order.number))
    paid = await (
        scoped(store)
        .query(Payment)
        .filter(order_id=order.id, status=PaymentStatus.SUCCEEDED)
        .order_by("-created_at", "-id")
        .first()
    )
    if order.status not in REFUNDABLE or paid is None:
        raise Conflict(_l("Only a paid order can be refunded."))
    return paid


async def _credit_note(
    settings: Settings, store: Store, order: Order, invoice: Invoice, *, issued_at: datetime
) -> Invoice:
    """The credit note cancelling `invoice`, with the buyer's email. Inside the refund's
    transaction (the number stays reserved by the locked counter until it commits)."""
    scope = scoped(store)
    customer = await scope.get(Customer, id=order.customer_id)
    frozen = {
        **invoice.snapshot,
        "kind": InvoiceKind.CREDIT_NOTE.value,
        "credits": invoice.number,
        "language": buyers_language(store, customer),  # the buyer's now, as its email's
    }
    note = await scope.create(
        Invoice,
        order_id=order.id,
        customer_id=invoice.customer_id,
        number=await next_invoice_number(store),
        kind=InvoiceKind.CREDIT_NOTE,
        credits_id=invoice.id,
        issued_at=issued_at,
        currency=invoice.currency,
        snapshot=frozen,
        total=invoice.total,
        brand_logo=invoice.brand_logo,
        next_attempt_at=datetime.now(UTC),  # its PDF: rendered by the `invoice_pdf` job
    )
    await queue_order_email(
        settings,
        store,
        customer,
        order,
        frozen_lines(frozen),
        template="credit_note_issued",
        invoice=note,
        credits=invoice.number,
    )
    return note
