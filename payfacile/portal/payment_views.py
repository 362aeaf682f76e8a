"""The buyer's payment methods: add a card or a SEPA account (it becomes the default), make
another one the default, remove one that is not.

Every change is a POST that ends in a redirect with `?done=…`, so a reload never repeats
it; a form with mistakes comes back with a message by each field and nothing saved.
"""

from __future__ import annotations

import re

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import InvalidInput, ServiceUnavailable
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.portal import payments
from payfacile.portal.gateway import PaymentGateway, gateway_for
from payfacile.portal.shell import notice, portal_blueprint, read_form, render_page

blueprint = portal_blueprint("portal_payments", __name__)

CARD_ATTEMPTS = "20/hour"  # per buyer: card testing is how stolen numbers get checked
PAYMENT_NOTICES = {
    "card": _l("Your new card is saved. It now pays for your subscriptions."),
    "sepa": _l("Your bank account is saved. It now pays for your subscriptions."),
    "removed": _l("The payment method is removed."),
    "default": _l("This payment method is now your default. It pays for your subscriptions."),
}
RETURN_TO = re.compile(r"/portal/orders/[A-Za-z0-9._%-]{1,100}")  # where `?then=` may lead
NO_GATEWAY = _l("Payment methods cannot be added here yet: no payment gateway is set up.")


def configured_gateway() -> PaymentGateway:
    """The configured gateway; a 503, before anything the buyer typed is read, without one."""
    gateway = gateway_for(services().settings)
    if gateway is None:
        raise ServiceUnavailable(NO_GATEWAY)
    return gateway


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
        subscribed=await payments.has_live_subscription(g.store, g.customer),
        is_expired=payments.is_expired,
        method_label=payments.method_label,
        errors=errors or {},
        open_form=form,
        values=values,
        notice=notice(PAYMENT_NOTICES),
        then=_return_to(request.args.get("then", "") or values.get("then", "")),
        can_add=gateway_for(services().settings) is not None,
        no_gateway=NO_GATEWAY,
    )


def _return_to(path: str) -> str:
    """An order's page a buyer came from to add a method to pay it with; anything else none."""
    return path if RETURN_TO.fullmatch(path) else ""


def _saved(done: str, form: dict[str, str]) -> ResponseReturnValue:
    then = _return_to(form.get("then", ""))
    return redirect(f"{then or '/portal/payment-methods'}?done={done}", 303)


@blueprint.post("/payment-methods/card")
async def add_card() -> ResponseReturnValue:
    gateway = configured_gateway()
    form = await read_form()
    await services().limiter.hit(CARD_ATTEMPTS, "card-entry", str(g.store.id), str(g.customer.id))
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
        return await _payment_page(
            status=422, errors=errors, form="card", expiry=expiry, then=form.get("then", "")
        )
    await payments.make_default(g.store, g.customer, tokenized)
    return _saved("card", form)


@blueprint.post("/payment-methods/sepa")
async def add_sepa() -> ResponseReturnValue:
    gateway = configured_gateway()
    form = await read_form()
    try:
        tokenized = await gateway.tokenize_sepa(
            iban=form.get("iban", ""), holder=form.get("holder", "")
        )
    except InvalidInput as error:
        errors = {error.field or "iban": error.message}
        holder = form.get("holder", "")[:70]
        return await _payment_page(
            status=422, errors=errors, form="sepa", holder=holder, then=form.get("then", "")
        )
    await payments.make_default(g.store, g.customer, tokenized)
    return _saved("sepa", form)


@blueprint.post("/payment-methods/<int:method_id>/default")
async def make_default(method_id: int) -> ResponseReturnValue:
    await payments.set_default(g.store, g.customer, method_id)
    return redirect("/portal/payment-methods?done=default", 303)


@blueprint.post("/payment-methods/<int:method_id>/remove")
async def remove_payment_method(method_id: int) -> ResponseReturnValue:
    await payments.remove(g.store, g.customer, method_id)
    return redirect("/portal/payment-methods?done=removed", 303)
