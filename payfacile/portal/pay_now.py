"""Paying, from the portal, an order whose payment failed: with one of the buyer's methods,
through the gateway, once.

The order's row stays locked for the whole attempt (`FOR UPDATE` on PostgreSQL; on SQLite
the transaction holds the one connection), so a second attempt at the same time — a double
click, a second tab — waits for the first and then finds the order paid. The gateway is
asked with an idempotency key made of the order and how many payments it has had: an
attempt retried after a crash between the charge and the commit gets the first charge
back, not a second one. Paid, the order has its payment, its status and its invoice (the
buyer's invoice email queued) in one commit; declined, it keeps its status and gains the
failed payment with the gateway's reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict, InvalidInput, NotFound
from payfacile.platform.text import _l
from payfacile.portal.gateway import Declined, PaymentGateway
from payfacile.portal.invoices import issue_invoice
from payfacile.portal.models import (
    Customer,
    Invoice,
    Order,
    OrderStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from payfacile.portal.payments import is_expired, method_label
from payfacile.tenants.models import Store
from payfacile.tenants.scope import scoped

PAYABLE = frozenset({OrderStatus.FAILED})
PAY_ATTEMPTS = "10/hour"  # per buyer: a charge is a card test too


class AlreadyPaid(Conflict):
    """The order was paid meanwhile (by the attempt this one waited for)."""


@dataclass(frozen=True)
class Attempt:
    payment: Payment
    declined: str = ""  # the gateway's decline code; empty when paid


def payable(order: Order) -> bool:
    return order.status in PAYABLE


async def pay(
    settings: Settings,
    gateway: PaymentGateway,
    store: Store,
    customer: Customer,
    number: str,
    *,
    method_id: int | None,
) -> Attempt:
    """Charge the buyer's order `number` to their method `method_id`. Another buyer's order
    is a 404; an order that needs no payment a `Conflict` (`AlreadyPaid` once paid); a
    method that is not theirs, or has expired, an `InvalidInput` that charges nothing."""
    scope = scoped(store)
    async with in_transaction():
        order = await (
            scope.query(Order)
            .select_for_update()
            .filter(number=number[:32], customer_id=customer.id)
            .first()
        )
        if order is None:
            raise NotFound(_l("You have no order %(number)s.", number=number[:32]))
        _check_payable(order)
        method = await _usable_method(store, customer, method_id)
        attempt = await scope.query(Payment).filter(order_id=order.id).count() + 1
        key = f"order-{store.id}-{order.id}-payment-{attempt}"
        values = {
            "order_id": order.id,
            "amount": order.total,
            "currency": order.currency,
            "method_summary": method_label(method),
            "payment_method_id": method.id,
            "created_at": datetime.now(UTC),
        }
        try:
            charge = await gateway.charge(
                token=method.gateway_token,
                amount=order.total,
                currency=order.currency,
                idempotency_key=key,
            )
        except Declined as declined:
            failed = await scope.create(
                Payment, status=PaymentStatus.FAILED, failure_reason=declined.code, **values
            )
            return Attempt(failed, declined=declined.code)
        paid = await scope.create(
            Payment, status=PaymentStatus.SUCCEEDED, reference=charge.id, **values
        )
        await scope.update(order, status=OrderStatus.PAID)
        if not await scope.query(Invoice).filter(order_id=order.id).exists():
            await issue_invoice(store, order, issued_at=paid.created_at, notify=settings)
    return Attempt(paid)


def _check_payable(order: Order) -> None:
    if order.status in (OrderStatus.PAID, OrderStatus.FULFILLED):
        raise AlreadyPaid(
            _l("Order %(number)s is paid: nothing more was charged.", number=order.number)
        )
    if not payable(order):
        raise Conflict(_l("Order %(number)s has nothing to pay.", number=order.number))


async def _usable_method(store: Store, customer: Customer, method_id: int | None) -> PaymentMethod:
    method = None
    if method_id is not None:
        method = await (
            scoped(store).query(PaymentMethod).filter(id=method_id, customer_id=customer.id).first()
        )
    if method is None:
        raise InvalidInput(_l("Choose how to pay."), field="method")
    if is_expired(method):
        raise InvalidInput(
            _l("%(method)s has expired. Choose another way to pay.", method=method_label(method)),
            field="method",
        )
    return method
