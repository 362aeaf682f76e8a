"""The buyer's emails about an order: its confirmation and its invoice, each with a link to the
order in the portal on the store's primary host, in the buyer's language, under the store's
brand. Queued in the transaction that places the order or issues the invoice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import quote

from payfacile.platform import i18n
from payfacile.platform.config import Settings
from payfacile.platform.mail import Attachment, queue_email
from payfacile.portal.models import Customer, Invoice, Order
from payfacile.portal.pdf import INVOICE_ATTACHMENT
from payfacile.tenants.branding import brand_of
from payfacile.tenants.models import Store
from payfacile.tenants.urls import store_url


class SoldLine(Protocol):
    """What an email shows of a line: an order's, or an invoice's frozen one."""

    @property
    def description(self) -> str: ...
    @property
    def quantity(self) -> int: ...
    @property
    def unit_price(self) -> int: ...
    @property
    def tax_rate_bp(self) -> int: ...


def order_path(order: Order) -> str:
    return f"/portal/orders/{quote(order.number, safe='')}"


async def queue_order_email(
    settings: Settings,
    store: Store,
    customer: Customer,
    order: Order,
    lines: Sequence[SoldLine],
    *,
    template: str,
    invoice: Invoice | None = None,
    **facts: str,
) -> None:
    """Queue `email/{template}.*` about `order` for its buyer; with `invoice` (or credit
    note), the email names it and carries its PDF; `facts` go to the template as they are.
    Call inside the transaction of the event."""
    language = i18n.language_of(customer.language or store.locale)
    extra: dict[str, Any] = {}
    attachments: list[Attachment] = []
    if invoice is not None:
        extra = {
            "invoice_number": invoice.number,
            "issued": i18n.date(invoice.issued_at, language, store.zone),
        }
        attachments.append(Attachment(INVOICE_ATTACHMENT, str(invoice.id)))

    def money(amount: int) -> str:
        return i18n.money(amount, order.currency, language)

    await queue_email(
        settings,
        to=customer.email,
        template=template,
        context={
            "name": customer.name,
            "number": order.number,
            "placed": i18n.date(order.placed_at, language, store.zone),
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": money(line.unit_price),
                    "rate": i18n.rate(line.tax_rate_bp, language),
                    "net": money(line.unit_price * line.quantity),
                }
                for line in lines
            ],
            "subtotal": money(order.subtotal),
            "tax_total": money(order.tax_total),
            "total": money(order.total),
            "url": await store_url(settings, store, order_path(order)),
            **extra,
            **facts,
        },
        brand=brand_of(store),
        store_id=store.id,
        language=language,
        attachments=attachments,
    )
