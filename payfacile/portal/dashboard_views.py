"""The store dashboard's customer pages, on the central host under `/dashboard/<slug>/`:
the list, a customer's profile, "Invite to portal", and adding a customer or editing their
details by hand. Owners and staff alike; the membership check is the tenants part's
(`merchant_views.store_dashboard`)."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.countries import countries
from payfacile.platform.errors import Conflict, FieldErrors
from payfacile.platform.i18n import LANGUAGES, current_language
from payfacile.platform.models import TokenPurpose
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.portal import customer_details, customer_list, profile
from payfacile.portal.models import Customer
from payfacile.portal.payments import is_expired
from payfacile.portal.shell import notice, read_form
from payfacile.portal.subscriptions import has_ended
from payfacile.tenants.merchant_views import store_dashboard
from payfacile.tenants.scope import scoped

blueprint = store_dashboard("dashboard_customers", __name__)

PORTAL_FILTER_LABELS = {
    "never": _l("Never invited"),
    "invited": _l("Invited, not signed in yet"),
    "active": _l("Active in the portal"),
}

NOTICES = {
    "invited": _l("The invitation is on its way. Any earlier invitation link no longer works."),
    "signin": _l("A sign-in link is on its way."),
    "added": _l("The customer is added. Invite them to the portal when you are ready."),
    "saved": _l("The customer's details are saved. Their next invoices will show them."),
}


@blueprint.get("/customers")
async def customers() -> ResponseReturnValue:
    """By email, 25 a page; `?q=` searches names and emails, `?portal=` filters by portal
    status, `?before=`/`?after=` page."""
    search = request.args.get("q", "").strip()[: customer_list.MAX_SEARCH]
    portal = customer_list.portal_filter(request.args.get("portal", "")[:16])
    page = await customer_list.customer_page(
        g.member.store,
        search=search,
        portal=portal,
        before=customer_list.page_link(request.args.get("before")),
        after=customer_list.page_link(request.args.get("after")),
    )
    return await render_template(
        "dashboard/customers.html",
        member=g.member,
        page=page,
        search=search,
        portal=portal,
        portal_filters=PORTAL_FILTER_LABELS,
    )


@blueprint.get("/customers/<int:customer_id>")
async def customer(customer_id: int) -> ResponseReturnValue:
    shown = await customer_list.profile_of(g.member.store, customer_id)
    return await render_template(
        "dashboard/customer.html",
        member=g.member,
        profile=shown,
        notice=notice(NOTICES),
        has_ended=has_ended,
        is_expired=is_expired,
        languages=LANGUAGES,
        country_names=dict(countries(current_language())),
    )


@blueprint.post("/customers/<int:customer_id>/invite")
async def invite(customer_id: int) -> ResponseReturnValue:
    """Invite to portal, or a sign-in link for a customer who has a password."""
    found = services()
    sent = await customer_list.invite_to_portal(
        found.settings, found.limiter, g.member.store, customer_id
    )
    done = "signin" if sent == TokenPurpose.SIGN_IN else "invited"
    return redirect(f"/dashboard/{g.member.store.slug}/customers/{customer_id}?done={done}", 303)


@blueprint.route("/customers/new", methods=["GET", "POST"])
async def add_customer() -> ResponseReturnValue:
    """Add a customer by hand; then their profile, with its "Invite to portal"."""
    store = g.member.store
    if request.method == "GET":  # language "": the store's, whichever it is then
        return await _details_form(values=dict.fromkeys(customer_details.FIELDS, ""))
    form = await read_form()
    try:
        added = await customer_details.add_customer(store, form)
    except (FieldErrors, Conflict) as error:
        return await _refused(error, form)
    return redirect(f"/dashboard/{store.slug}/customers/{added.id}?done=added", 303)


@blueprint.route("/customers/<int:customer_id>/edit", methods=["GET", "POST"])
async def edit_customer(customer_id: int) -> ResponseReturnValue:
    store = g.member.store
    if request.method == "GET":
        customer = await scoped(store).get(Customer, id=customer_id)
        values = {name: getattr(customer, name) for name in customer_details.FIELDS}
        values["phone"] = profile.phone_for_display(customer.phone)
        return await _details_form(values=values, customer=customer)
    form = await read_form()
    try:
        await customer_details.edit_customer(store, customer_id, form)
    except (FieldErrors, Conflict) as error:
        return await _refused(
            error, form, customer=await scoped(store).get(Customer, id=customer_id)
        )
    return redirect(f"/dashboard/{store.slug}/customers/{customer_id}?done=saved", 303)


async def _refused(
    error: FieldErrors | Conflict,
    form: dict[str, str],
    *,
    customer: Customer | None = None,
) -> ResponseReturnValue:
    """The form again, each wrong field with its message, and nothing saved."""
    errors = getattr(error, "errors", None) or {error.field or "email": error.message}
    values = {name: form.get(name, "") for name in customer_details.FIELDS}
    return await _details_form(values=values, customer=customer, errors=errors, status=error.status)


async def _details_form(
    *,
    values: dict[str, str],
    customer: Customer | None = None,
    errors: dict[str, Message] | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    body = await render_template(
        "dashboard/customer_form.html",
        member=g.member,
        customer=customer,
        values=values,
        errors=errors or {},
        countries=countries(current_language()),
        languages=list(LANGUAGES.items()),
    )
    return body, status
