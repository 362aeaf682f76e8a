"""The store dashboard's orders and invoices, on the central host under `/dashboard/<slug>/`:
the lists, an order's page with "Issue the invoice" and "Refund", recording an order by hand,
and invoice PDFs. Owners and staff alike, except refunds (the owner's only); the membership
check is the tenants part's (`merchant_views.store_dashboard`)."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.portal import order_form, order_list, refunds
from payfacile.portal.order_form import FormProblems
from payfacile.portal.order_list import StoreOrder
from payfacile.portal.order_views import ORDER_STATUS_LABELS, pdf_download
from payfacile.portal.payment_views import configured_gateway
from payfacile.tenants.merchant_views import store_dashboard

blueprint = store_dashboard("dashboard_orders", __name__)


def _base() -> str:
    return f"/dashboard/{g.member.store.slug}"


def _search() -> str:
    return request.args.get("q", "").strip()[: order_list.MAX_SEARCH]


@blueprint.get("/orders")
async def orders() -> ResponseReturnValue:
    """Newest first, 25 a page; `?q=` searches numbers and buyers, `?status=` filters,
    `?before=`/`?after=` page."""
    start_from = _l("This page link is damaged. Start again from the order list.")
    search, status = _search(), order_list.status_filter(request.args.get("status", "")[:24])
    page = await order_list.store_orders(
        g.member.store,
        search=search,
        status=status,
        before=order_list.cursor(request.args.get("before"), start_from=start_from),
        after=order_list.cursor(request.args.get("after"), start_from=start_from),
    )
    return await render_template(
        "dashboard/orders.html",
        member=g.member,
        page=page,
        search=search,
        status=status or "",
        statuses=ORDER_STATUS_LABELS,
    )


@blueprint.get("/orders/<int:order_id>")
async def order(order_id: int) -> ResponseReturnValue:
    found = await order_list.store_order(g.member.store, order_id)
    return await render_template(
        "dashboard/order.html",
        member=g.member,
        found=found,
        notice=_notice(found),
        refundable=found.detail.order.status in refunds.REFUNDABLE,
    )


def _notice(found: StoreOrder) -> Message:
    """What the redirect's `?done=` says was just done, with the order's own numbers."""
    done, order, email = request.args.get("done", ""), found.detail.order, found.customer.email
    invoice = found.invoice.number if found.invoice else ""
    if done == "recorded":
        return _l(
            "Order %(number)s recorded; the confirmation is on its way to %(email)s.",
            number=order.number,
            email=email,
        )
    if done == "recorded-invoiced" and invoice:
        return _l(
            "Order %(number)s recorded and invoice %(invoice)s issued; both emails are on "
            "their way to %(email)s.",
            number=order.number,
            invoice=invoice,
            email=email,
        )
    note = found.credit_note.number if found.credit_note else ""
    if done == "refunded":
        if note:
            return _l(
                "Order %(number)s refunded; credit note %(note)s is on its way to %(email)s.",
                number=order.number,
                note=note,
                email=email,
            )
        return _l("Order %(number)s refunded.", number=order.number)
    if done == "invoiced" and invoice:
        return _l(
            "Invoice %(invoice)s issued; it is on its way to %(email)s with its PDF.",
            invoice=invoice,
            email=email,
        )
    return ""


@blueprint.post("/orders/<int:order_id>/invoice")
async def issue(order_id: int) -> ResponseReturnValue:
    """Issue the invoice: once only (a second is a 409 naming the first)."""
    await order_list.invoice_order(services().settings, g.member.store, order_id)
    return redirect(f"{_base()}/orders/{order_id}?done=invoiced", 303)


@blueprint.post("/orders/<int:order_id>/refund")
async def refund(order_id: int) -> ResponseReturnValue:
    """Refund the whole order, with its credit note: the owner's only, once."""
    g.member.must_be_owner()
    gateway = configured_gateway()
    await refunds.refund_order(services().settings, gateway, g.member.store, order_id)
    return redirect(f"{_base()}/orders/{order_id}?done=refunded", 303)


@blueprint.route("/orders/new", methods=["GET", "POST"])
async def new_order() -> ResponseReturnValue:
    """Record an order by hand; `?customer=<id>` (from a profile) fills in the buyer."""
    store = g.member.store
    problems: dict[str, Message] = {}
    if request.method == "GET":
        values = await order_form.prefill(store, request.args.get("customer", "")[:12])
    else:
        values = order_form.read(await request.form)
        try:
            recorded = await order_form.record(services().settings, store, values)
        except FormProblems as error:
            problems = error.problems
        else:
            done = "recorded-invoiced" if recorded.invoice else "recorded"
            return redirect(f"{_base()}/orders/{recorded.order.id}?done={done}", 303)
    body = await render_template(
        "dashboard/order_form.html",
        member=g.member,
        values=values,
        errors=problems,
        rows=range(1, order_form.LINE_ROWS + 1),
        line_field=order_form.line_field,
        statuses=[(status.value, ORDER_STATUS_LABELS[status]) for status in order_form.STATUSES],
    )
    return body, 422 if problems else 200


@blueprint.get("/invoices")
async def invoices() -> ResponseReturnValue:
    """Newest first, 25 a page; `?q=` searches numbers and buyers' emails."""
    start_from = _l("This page link is damaged. Start again from the invoice list.")
    search = _search()
    page = await order_list.store_invoices(
        g.member.store,
        search=search,
        before=order_list.cursor(request.args.get("before"), start_from=start_from),
        after=order_list.cursor(request.args.get("after"), start_from=start_from),
    )
    return await render_template(
        "dashboard/invoices.html", member=g.member, page=page, search=search
    )


@blueprint.get("/invoices/<int:invoice_id>.pdf")
async def invoice_pdf(invoice_id: int) -> ResponseReturnValue:
    """The invoice's stored PDF (rendered now if the job has not yet), as a download."""
    found = await order_list.store_invoice(g.member.store, invoice_id)
    return await pdf_download(g.member.store, found)
