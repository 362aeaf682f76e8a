"""The portal's home page."""

from __future__ import annotations

from quart import g
from quart.typing import ResponseReturnValue

from payfacile.portal.overview import overview
from payfacile.portal.shell import portal_blueprint, render_page

blueprint = portal_blueprint("portal_home", __name__)


@blueprint.get("/")
async def home() -> ResponseReturnValue:
    found = await overview(g.store, g.customer)
    return await render_page(
        "portal/home.html",
        customer=g.customer,
        expired=found.expired,
        failed=found.failed,
        subscriptions=found.subscriptions,
        orders=found.orders,
    )
