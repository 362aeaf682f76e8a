"""The store dashboard's subscription products, under `/dashboard/<slug>/products`: the
list with each product's live subscriptions, and the product form. Owners and staff alike,
except the cancellation switch and mode, which only the owner changes (`products`)."""

from __future__ import annotations

from quart import g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import InvalidInput
from payfacile.platform.rendering import render_template
from payfacile.platform.text import Message, _l
from payfacile.portal import products
from payfacile.portal.shell import notice, read_form
from payfacile.tenants.merchant_views import store_dashboard
from payfacile.tenants.models import CancellationMode, Product

blueprint = store_dashboard("dashboard_products", __name__)

NOTICES = {
    "created": _l("The product is created."),
    "saved": _l("The product is saved. The portal shows the change at once."),
}


@blueprint.get("/products")
async def product_list() -> ResponseReturnValue:
    after = products.page_after(request.args.get("after"))
    listing = await products.product_list(g.member.store, after=after)
    return await render_template(
        "dashboard/products.html", member=g.member, listing=listing, notice=notice(NOTICES)
    )


@blueprint.route("/products/new", methods=["GET", "POST"])
async def new_product() -> ResponseReturnValue:
    return await _product_form(None)


@blueprint.route("/products/<int:product_id>", methods=["GET", "POST"])
async def edit_product(product_id: int) -> ResponseReturnValue:
    return await _product_form(await products.product_of(g.member.store, product_id))


async def _product_form(product: Product | None) -> ResponseReturnValue:
    """The form; posted, the product is saved, or the form comes back (422) with the wrong
    field's message next to it and nothing written."""
    store = g.member.store
    values = _values_of(product, store.currency)
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = await read_form()
        try:
            if product is None:
                await products.create_product(store, g.member, form)
            else:
                await products.update_product(store, g.member, product, form)
        except InvalidInput as error:
            errors = {error.field or "name": error.message}
            values = {**values, **form}
            if "cancellation" in form:
                values["portal_cancellation_allowed"] = form.get("portal_cancellation_allowed", "")
        else:
            done = "created" if product is None else "saved"
            return redirect(f"/dashboard/{store.slug}/products?done={done}", 303)
    page = await render_template(
        "dashboard/product.html",
        member=g.member,
        product=product,
        values=values,
        errors=errors,
        modes=[
            (CancellationMode.END_OF_PERIOD.value, _l("At the end of the paid period")),
            (CancellationMode.IMMEDIATELY.value, _l("Immediately")),
        ],
    )
    return page, 422 if errors else 200


def _values_of(product: Product | None, currency: str) -> dict[str, str]:
    if product is None:
        return {
            "interval": "month",
            "vat_rate": "20",
            "cancellation_mode": CancellationMode.END_OF_PERIOD.value,
        }
    return {
        "name": product.name,
        "price": products.price_text(product.price, currency),
        "vat_rate": products.rate_text(product.tax_rate_bp),
        "interval": product.interval,
        "portal_cancellation_allowed": "on" if product.portal_cancellation_allowed else "",
        "cancellation_mode": product.cancellation_mode.value,
    }
