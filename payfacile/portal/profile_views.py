"""The buyer's own details: name, address, phone, company and VAT number."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.countries import countries
from payfacile.platform.errors import FieldErrors
from payfacile.platform.i18n import current_language
from payfacile.platform.text import Message, _l
from payfacile.portal import profile
from payfacile.portal.shell import notice, portal_blueprint, read_form, render_page

blueprint = portal_blueprint("portal_profile", __name__)
PROFILE_NOTICES = {"saved": _l("Your details are saved. Your next invoices will show them.")}


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
        except FieldErrors as error:
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
        countries=countries(current_language()),
        notice=notice(PROFILE_NOTICES),
    )
