"""Merchants on the central host: their account pages and the start of their dashboard."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

from payfacile.platform import accounts
from payfacile.platform.account_views import (
    AccountPages,
    register_account_routes,
    require_central,
    require_sign_in,
)
from payfacile.platform.app import platform
from payfacile.platform.errors import NotFound
from payfacile.platform.models import SessionKind
from payfacile.platform.text import _l
from payfacile.platform.urls import store_url
from payfacile.tenants.models import Membership, Store
from payfacile.tenants.scope import across_stores

blueprint = Blueprint("merchant", __name__, url_prefix="/account")
PAGES = AccountPages(
    kind=SessionKind.MERCHANT, login="/account/login", home="/dashboard", heading=_l("Sign in")
)
register_account_routes(blueprint, PAGES, prefix="/account")
dashboard = Blueprint("dashboard", __name__, url_prefix="/dashboard")
for central_only in (blueprint, dashboard):
    central_only.before_request(require_central)


@dashboard.get("/")
async def home() -> ResponseReturnValue:
    session = require_sign_in(PAGES)
    merchant = await accounts.get(SessionKind.MERCHANT, session.subject_id)
    if merchant is None:
        raise NotFound(_l("Your account no longer exists."))
    memberships = (
        await across_stores(Membership, reason="merchant's own stores")
        .filter(user_id=merchant.id)
        .order_by("store_id")
    )
    stores = await Store.filter(id__in=[m.store_id for m in memberships]).order_by("name")
    settings = platform().settings
    links = {store.id: await store_url(settings, store, "/portal/") for store in stores}
    roles = {m.store_id: m.role for m in memberships}
    return await render_template(
        "merchant/dashboard.html", merchant=merchant, stores=stores, links=links, roles=roles
    )
