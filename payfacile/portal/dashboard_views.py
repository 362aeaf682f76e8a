"""The store dashboard's customer pages, on the central host under `/dashboard/<slug>/`:
the list, a customer's profile, and "Invite to portal". Owners and staff alike; the
membership check is the tenants part's (`merchant_views.store_dashboard`)."""

from __future__ import annotations

from quart import g, redirect, render_template, request
from quart.typing import ResponseReturnValue

from payfacile.platform.models import TokenPurpose
from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.portal import customer_list
from payfacile.portal.payments import is_expired
from payfacile.portal.shell import notice
from payfacile.portal.subscriptions import has_ended
from payfacile.tenants.merchant_views import store_dashboard

blueprint = store_dashboard("dashboard_customers", __name__)

NOTICES = {
    "invited": _l("The invitation is on its way. Any earlier invitation link no longer works."),
    "signin": _l("A sign-in link is on its way."),
}


@blueprint.get("/customers")
async def customers() -> ResponseReturnValue:
    """By email, 25 a page; `?q=` searches names and emails, `?before=`/`?after=` page."""
    search = request.args.get("q", "").strip()[: customer_list.MAX_SEARCH]
    page = await customer_list.customer_page(
        g.member.store,
        search=search,
        before=customer_list.page_link(request.args.get("before")),
        after=customer_list.page_link(request.args.get("after")),
    )
    return await render_template(
        "dashboard/customers.html", member=g.member, page=page, search=search
    )


@blueprint.get("/customers/<int:customer_id>")
async def customer(customer_id: int) -> ResponseReturnValue:
    profile = await customer_list.profile_of(g.member.store, customer_id)
    return await render_template(
        "dashboard/customer.html",
        member=g.member,
        profile=profile,
        notice=notice(NOTICES),
        has_ended=has_ended,
        is_expired=is_expired,
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
