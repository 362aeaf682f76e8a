"""The buyer's orders and invoices. Only the signed-in buyer's own: anything else is a 404."""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from markupsafe import Markup
from quart import Response, g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import InvalidInput
from payfacile.platform.i18n import current_language
from payfacile.platform.services import services
from payfacile.platform.text import Message, Text, _l
from payfacile.portal import invoices as invoice_service
from payfacile.portal import orders as order_service
from payfacile.portal import pay_now, payments
from payfacile.portal.gateway import decline_words, gateway_for
from payfacile.portal.models import Invoice, OrderStatus
from payfacile.portal.orders import Cursor
from payfacile.portal.payment_views import configured_gateway
from payfacile.portal.pdf import invoice_pdf
from payfacile.portal.shell import notice, portal_blueprint, read_form, render_page
from payfacile.tenants.models import Store

blueprint = portal_blueprint("portal_orders", __name__)

ORDER_STATUS_LABELS: dict[str, Text] = {
    OrderStatus.PENDING: _l("Pending"),
    OrderStatus.PAID: _l("Paid"),
    OrderStatus.FULFILLED: _l("Fulfilled"),
    OrderStatus.REFUNDED: _l("Refunded"),
    OrderStatus.PARTIALLY_REFUNDED: _l("Partly refunded"),
    OrderStatus.CANCELED: _l("Canceled"),
    OrderStatus.FAILED: _l("Payment failed"),
}
SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")
ORDER_NOTICES = {
    "paid": _l(
        "Thank you: the order is paid. Its invoice is below and on its way to you by email."
    ),
    "already": _l("This order is already paid: nothing more was charged."),
    "card": _l("Your new card is saved. You can pay with it below."),
    "sepa": _l("Your bank account is saved. You can pay with it below."),
}


def order_status(status: str) -> Markup:
    """An order's status as its badge, in the page's language (the `order_status` template
    global): made once per language and status, where a macro cost a call per row."""
    return _status_badge(current_language(), str(status))


@functools.cache
def _status_badge(language: str, status: str) -> Markup:
    label = _status_label(language, status)
    return Markup('<span class="badge badge--{}">{}</span>').format(status, label)


def decline_reason(code: str) -> str:
    """A failed payment's reason (a gateway's decline code) in the page's language."""
    return decline_words(code, current_language())


@functools.cache
def _status_label(language: str, status: str) -> str:
    label = ORDER_STATUS_LABELS.get(status)
    return label.in_language(language) if label is not None else status


@blueprint.get("/orders")
async def orders() -> ResponseReturnValue:
    """Newest first, 20 a page; `?before=` and `?after=` hold keyset cursors."""
    before, after = _cursor("before"), _cursor("after")
    page = await order_service.order_page(g.store, g.customer, before=before, after=after)
    return await render_page("portal/orders.html", page=page)


@blueprint.get("/invoices")
async def invoices() -> ResponseReturnValue:
    """Invoices and credit notes, newest first, 20 a page; `?before=`/`?after=` as orders."""
    before, after = _cursor("before"), _cursor("after")
    page = await order_service.invoice_page(g.store, g.customer, before=before, after=after)
    return await render_page("portal/invoices.html", page=page)


def _cursor(name: str) -> Cursor | None:
    value = request.args.get(name)
    return Cursor.parse(value[:64]) if value else None


@blueprint.get("/orders/<number>")
async def order(number: str) -> ResponseReturnValue:
    return await _order_page(number)


async def _order_page(
    number: str, *, status: int = 200, errors: dict[str, Message] | None = None
) -> ResponseReturnValue:
    found = await order_service.order_detail(g.store, g.customer, number)
    payable = pay_now.payable(found.order)
    methods = await payments.methods_of(g.store, g.customer) if payable else []
    return await render_page(
        "portal/order.html",
        status=status,
        order=found.order,
        lines=found.lines,
        taxes=found.taxes,
        payments=found.payments,
        invoices=found.invoices,
        refunds=found.refunds,
        payable=payable,
        can_pay=gateway_for(services().settings) is not None,
        methods=methods,
        is_expired=payments.is_expired,
        method_label=payments.method_label,
        errors=errors or {},
        notice=notice(ORDER_NOTICES),
    )


@blueprint.post("/orders/<number>/pay")
async def pay(number: str) -> ResponseReturnValue:
    """Pay a failed order now; a decline or a bad choice comes back on the order's page."""
    gateway = configured_gateway()
    form = await read_form()
    await services().limiter.hit(
        pay_now.PAY_ATTEMPTS, "pay-now", str(g.store.id), str(g.customer.id)
    )
    method = form.get("method", "")
    try:
        attempt = await pay_now.pay(
            services().settings,
            gateway,
            g.store,
            g.customer,
            number,
            method_id=int(method) if method.isdigit() and len(method) < 10 else None,
        )
    except pay_now.AlreadyPaid:
        return redirect(f"/portal/orders/{quote(number, safe='')}?done=already", 303)
    except InvalidInput as error:
        return await _order_page(number, status=422, errors={"method": error.message})
    if attempt.declined:
        reason = decline_reason(attempt.declined)
        declined = _l(
            "Your bank declined the payment (%(reason)s). Nothing was charged: "
            "choose another way to pay.",
            reason=reason,
        )
        return await _order_page(number, status=402, errors={"method": declined})
    return redirect(f"/portal/orders/{quote(number, safe='')}?done=paid", 303)


@blueprint.get("/invoices/<number>.pdf")
async def invoice(number: str) -> ResponseReturnValue:
    """The invoice PDF as a download, rendered on first request and then served as stored.

    A browser that has it already (`If-None-Match`) gets a 304 without the bytes being read.
    """
    if request.if_none_match:
        known = await invoice_service.own_invoice_etag(g.store, g.customer, number)
        if known and request.if_none_match.contains(known):
            return _not_modified(known)
    found = await invoice_service.own_invoice(g.store, g.customer, number)
    return await pdf_download(g.store, found)


async def pdf_download(store: Store, found: Invoice) -> Response:
    """The invoice's PDF (rendered now if it never was) as a download named by its number,
    kept only by the browser (the portal's and the dashboard's downloads)."""
    pdf, etag = await invoice_pdf(store, found)
    response = Response(pdf, mimetype="application/pdf")
    filename = SAFE_FILENAME.sub("-", found.number) + ".pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    _cache_privately(response, etag)
    return response


def _not_modified(etag: str) -> Response:
    response = Response(status=304)
    _cache_privately(response, etag)
    return response


def _cache_privately(response: Response, etag: str) -> None:
    """The buyer's browser may keep it but must ask again; no shared cache may keep it."""
    response.set_etag(etag)
    response.cache_control.private = True
    response.cache_control.no_cache = True
