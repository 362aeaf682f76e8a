"""The buyer's portal, under /portal on every store host."""

from __future__ import annotations

from quart import Blueprint, g, redirect, render_template, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import NotFound

blueprint = Blueprint("portal", __name__, url_prefix="/portal")


@blueprint.before_request
async def store_hosts_only() -> ResponseReturnValue | None:
    site = g.site
    if site is None or site.kind != "store":
        raise NotFound("The customer portal lives on each store's own address.")
    if site.primary_domain and not site.custom_domain:
        query = f"?{request.query_string.decode()}" if request.query_string else ""
        return redirect(f"https://{site.primary_domain}{request.path}{query}", 301)
    return None


@blueprint.get("/")
async def home() -> str:
    return await render_template("portal/home.html", store=g.store)
