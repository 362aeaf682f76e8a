"""The buyer's subscriptions: cancel (only as the product allows), resume, or ask the store.

Every change is a POST that ends in a redirect with `?done=…`, so a reload never repeats it.
"""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.portal import payments, subscriptions
from payfacile.portal.invoices import is_business
from payfacile.portal.shell import notice, portal_blueprint, read_form, render_page

blueprint = portal_blueprint("portal_subscriptions", __name__)
SUBSCRIPTION_NOTICES = {
    "canceled": _l("Your subscription is canceled. We have told the store."),
    "resumed": _l("Your subscription is resumed: it renews as before."),
    "requested": _l("Your request is sent. The store will get back to you by email."),
    "already": _l("Your request was already sent: the store has it and will get back to you."),
}


@blueprint.get("/subscriptions")
async def subscription_list() -> ResponseReturnValue:
    return await render_page(
        "portal/subscriptions.html",
        subscriptions=await subscriptions.subscriptions_of(g.store, g.customer),
        requests=await subscriptions.pending_requests(g.store, g.customer),
        business=is_business(g.customer),
        has_ended=subscriptions.has_ended,
        can_resume=subscriptions.can_resume,
        price_with_vat=subscriptions.price_with_vat,
        is_expired=payments.is_expired,
        method_label=payments.method_label,
        notice=notice(SUBSCRIPTION_NOTICES),
    )


@blueprint.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
async def cancel_subscription(subscription_id: int) -> ResponseReturnValue:
    """A confirmation page, then the cancellation; a product that does not allow it is a
    403 either way and nothing changes."""
    if request.method == "POST":
        form = await read_form()
        await subscriptions.cancel(
            services().settings,
            g.store,
            g.customer,
            subscription_id,
            reason=form.get("reason", ""),
        )
        return redirect("/portal/subscriptions?done=canceled", 303)
    subscription = await subscriptions.cancellable(g.store, g.customer, subscription_id)
    return await render_page("portal/cancel_subscription.html", subscription=subscription)


@blueprint.post("/subscriptions/<int:subscription_id>/resume")
async def resume_subscription(subscription_id: int) -> ResponseReturnValue:
    await subscriptions.resume(services().settings, g.store, g.customer, subscription_id)
    return redirect("/portal/subscriptions?done=resumed", 303)


@blueprint.post("/subscriptions/<int:subscription_id>/request-cancellation")
async def request_cancellation(subscription_id: int) -> ResponseReturnValue:
    form = await read_form()
    try:
        await subscriptions.request_cancellation(
            services().settings,
            services().limiter,
            g.store,
            g.customer,
            subscription_id,
            reason=form.get("reason", ""),
        )
    except subscriptions.AlreadyRequested:
        return redirect("/portal/subscriptions?done=already", 303)
    return redirect("/portal/subscriptions?done=requested", 303)
