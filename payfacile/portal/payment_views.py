"""The buyer's payment methods: the list, where any one can be made the default or removed,
and the page that adds a card or a SEPA account (the new one becomes the default).

Every change is a POST that ends in a redirect with `?done=…`, so a reload never repeats
it; a form with mistakes comes back with every one of them listed above it and by its field,
and nothing saved.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import Conflict, FieldErrors, ServiceUnavailable
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
MANDATE_UNKNOWN = _l("This form is out of date. Check the mandate below and save again.")
KINDS = ("card", "sepa")


def configured_gateway() -> PaymentGateway:
    """The configured gateway; a 503, before anything the buyer typed is read, without one."""
    gateway = gateway_for(services().settings)
    if gateway is None:
        raise ServiceUnavailable(NO_GATEWAY)
    return gateway


@blueprint.get("/payment-methods")
async def payment_methods() -> ResponseReturnValue:
    return await render_page(
        "portal/payment_methods.html",
        methods=await payments.methods_of(g.store, g.customer),
        subscribed=await payments.has_live_subscription(g.store, g.customer),
        is_expired=payments.is_expired,
        method_label=payments.method_label,
        notice=notice(PAYMENT_NOTICES),
        can_add=gateway_for(services().settings) is not None,
        no_gateway=NO_GATEWAY,
    )


@blueprint.get("/payment-methods/new")
async def new_payment_method() -> ResponseReturnValue:
    kind = request.args.get("kind", "card")
    return await _adding_page(kind if kind in KINDS else "card", then=request.args.get("then", ""))


async def _adding_page(
    kind: str,
    *,
    status: int = 200,
    errors: dict[str, Message] | None = None,
    then: str = "",
    **values: str,
) -> ResponseReturnValue:
    """The form that adds a card or a SEPA account (`kind`), with a link to the other; for
    SEPA, the mandate's text with a new reference."""
    then = _return_to(then)
    creditor, creditor_address = payments.creditor(g.store)
    return await render_page(
        "portal/payment_method_new.html",
        status=status,
        kind=kind,
        kinds={name: _adding_url(name, then) for name in KINDS},
        errors=errors or {},
        values=values,
        then=then,
        can_add=gateway_for(services().settings) is not None,
        no_gateway=NO_GATEWAY,
        creditor=creditor,
        creditor_address=creditor_address,
        mandate_reference=payments.new_mandate_reference(),
    )


def _adding_url(kind: str, then: str) -> str:
    query = {"kind": kind, "then": then} if then else {"kind": kind}
    return f"/portal/payment-methods/new?{urlencode(query)}"


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
    except FieldErrors as error:
        # The number and the CVC are never sent back: the buyer types them again.
        return await _adding_page(
            "card",
            status=error.status,
            errors=error.errors,
            then=form.get("then", ""),
            expiry=form.get("expiry", "")[:7],
        )
    await payments.make_default(g.store, g.customer, tokenized)
    return _saved("card", form)


@blueprint.post("/payment-methods/sepa")
async def add_sepa() -> ResponseReturnValue:
    gateway = configured_gateway()
    form = await read_form()
    reference = form.get("mandate_reference", "")
    try:
        tokenized = await gateway.tokenize_sepa(
            iban=form.get("iban", ""), holder=form.get("holder", "")
        )
        if not payments.MANDATE_REFERENCE.fullmatch(reference):  # not one this form made
            raise FieldErrors({"": MANDATE_UNKNOWN})
        await payments.make_default(g.store, g.customer, tokenized, mandate_reference=reference)
    except (FieldErrors, Conflict) as error:
        return await _adding_page(
            "sepa",
            status=error.status,
            errors=getattr(error, "errors", None) or {"": error.message},
            then=form.get("then", ""),
            holder=form.get("holder", "")[:70],
        )
    return _saved("sepa", form)


@blueprint.post("/payment-methods/<int:method_id>/default")
async def make_default(method_id: int) -> ResponseReturnValue:
    await payments.set_default(g.store, g.customer, method_id)
    return redirect("/portal/payment-methods?done=default", 303)


@blueprint.post("/payment-methods/<int:method_id>/remove")
async def remove_payment_method(method_id: int) -> ResponseReturnValue:
    await payments.remove(g.store, g.customer, method_id)
    return redirect("/portal/payment-methods?done=removed", 303)
