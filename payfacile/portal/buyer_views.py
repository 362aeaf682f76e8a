"""Pages where buyers change things themselves: payment methods, subscriptions, profile.

Every change is a POST that ends in a redirect with `?done=…`, so a reload never repeats
it; a form with mistakes comes back with a message by each field and nothing saved.
"""

from __future__ import annotations

from collections.abc import Mapping

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.app import platform
from payfacile.platform.errors import InvalidInput
from payfacile.platform.i18n import current_language
from payfacile.platform.text import Message, _l
from payfacile.portal import payments, profile, subscriptions
from payfacile.portal.gateway import PaymentGateway, gateway_for
from payfacile.portal.views import blueprint, read_form, render_page

CARD_ATTEMPTS = "20/hour"  # per buyer: card testing is how stolen numbers get checked
PAYMENT_NOTICES = {
    "card": _l("Your new card is saved. It now pays for your subscriptions."),
    "sepa": _l("Your bank account is saved. It now pays for your subscriptions."),
    "removed": _l("The payment method is removed."),
}
SUBSCRIPTION_NOTICES = {
    "canceled": _l("Your subscription is canceled. We have told the store."),
    "resumed": _l("Your subscription is resumed: it renews as before."),
    "requested": _l("Your request is sent. The store will get back to you by email."),
}
PROFILE_NOTICES = {"saved": _l("Your details are saved. Your next invoices will show them.")}


def _notice(notices: Mapping[str, Message]) -> Message:
    return notices.get(request.args.get("done", ""), "")


def _gateway() -> PaymentGateway:
    return gateway_for(platform().settings.secret_keys[0])


# Payment methods


@blueprint.get("/payment-methods")
async def payment_methods() -> ResponseReturnValue:
    return await _payment_page()


async def _payment_page(
    *, status: int = 200, errors: dict[str, Message] | None = None, form: str = "", **values: str
) -> ResponseReturnValue:
    return await render_page(
        "portal/payment_methods.html",
        status=status,
        methods=await payments.methods_of(g.store, g.customer),
        is_expired=payments.is_expired,
        errors=errors or {},
        open_form=form,
        values=values,
        notice=_notice(PAYMENT_NOTICES),
    )


@blueprint.post("/payment-methods/card")
async def add_card() -> ResponseReturnValue:
    form = await read_form()
    await platform().limiter.hit(CARD_ATTEMPTS, "card-entry", str(g.store.id), str(g.customer.id))
    gateway = _gateway()
    try:
        if form.get("gateway_token"):  # a processor's hosted fields took the card
            tokenized = await gateway.from_hosted_fields(form["gateway_token"])
        else:
            tokenized = await gateway.tokenize_card(
                number=form.get("number", ""),
                expiry=form.get("expiry", ""),
                cvc=form.get("cvc", ""),
            )
    except InvalidInput as error:
        # The number and the CVC are never sent back: the buyer types them again.
        errors = {error.field or "number": error.message}
        expiry = form.get("expiry", "")[:7]
        return await _payment_page(status=422, errors=errors, form="card", expiry=expiry)
    await payments.make_default(g.store, g.customer, tokenized)
    return redirect("/portal/payment-methods?done=card", 303)


@blueprint.post("/payment-methods/sepa")
async def add_sepa() -> ResponseReturnValue:
    form = await read_form()
    try:
        tokenized = await _gateway().tokenize_sepa(
            iban=form.get("iban", ""), holder=form.get("holder", "")
        )
    except InvalidInput as error:
        errors = {error.field or "iban": error.message}
        holder = form.get("holder", "")[:70]
        return await _payment_page(status=422, errors=errors, form="sepa", holder=holder)
    await payments.make_default(g.store, g.customer, tokenized)
    return redirect("/portal/payment-methods?done=sepa", 303)


@blueprint.post("/payment-methods/<int:method_id>/remove")
async def remove_payment_method(method_id: int) -> ResponseReturnValue:
    await payments.remove(g.store, g.customer, method_id)
    return redirect("/portal/payment-methods?done=removed", 303)


# Subscriptions


@blueprint.get("/subscriptions")
async def subscription_list() -> ResponseReturnValue:
    return await render_page(
        "portal/subscriptions.html",
        subscriptions=await subscriptions.subscriptions_of(g.store, g.customer),
        has_ended=subscriptions.has_ended,
        can_resume=subscriptions.can_resume,
        notice=_notice(SUBSCRIPTION_NOTICES),
    )


@blueprint.route("/subscriptions/<int:subscription_id>/cancel", methods=["GET", "POST"])
async def cancel_subscription(subscription_id: int) -> ResponseReturnValue:
    """A confirmation page, then the cancellation; a product that does not allow it is a
    403 either way and nothing changes."""
    if request.method == "POST":
        form = await read_form()
        await subscriptions.cancel(
            platform().settings,
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
    await subscriptions.resume(platform().settings, g.store, g.customer, subscription_id)
    return redirect("/portal/subscriptions?done=resumed", 303)


@blueprint.post("/subscriptions/<int:subscription_id>/request-cancellation")
async def request_cancellation(subscription_id: int) -> ResponseReturnValue:
    form = await read_form()
    await platform().limiter.hit(
        "5/day", "cancellation-request", str(g.store.id), str(subscription_id)
    )
    await subscriptions.request_cancellation(
        platform().settings, g.store, g.customer, subscription_id, reason=form.get("reason", "")
    )
    return redirect("/portal/subscriptions?done=requested", 303)


# Profile


@blueprint.route("/profile", methods=["GET", "POST"])
async def edit_profile() -> ResponseReturnValue:
    customer = g.customer
    errors: dict[str, Message] = {}
    values = {name: getattr(customer, name) for name in profile.EDITABLE}
    values["phone"] = profile.phone_for_display(customer.phone)
    if request.method == "POST":
        form = await read_form()
        try:
            await profile.update_profile(g.store, customer, form)
        except profile.ProfileErrors as error:
            errors = error.errors
            values = {name: form.get(name, "") for name in profile.EDITABLE}
        else:
            return redirect("/portal/profile?done=saved", 303)
    return await render_page(
        "portal/profile.html",
        status=422 if errors else 200,
        customer=customer,
        values=values,
        errors=errors,
        countries=profile.countries(current_language()),
        notice=_notice(PROFILE_NOTICES),
    )
