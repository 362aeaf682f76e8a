"""The central host's home page, and a store's logo on its own hosts."""

from __future__ import annotations

from quart import Blueprint, Response, g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.tenants.branding import logo_of
from payfacile.tenants.mailbox_views import PATH as MAILBOX
from payfacile.tenants.models import Store
from payfacile.tenants.site import entries

blueprint = Blueprint("site", __name__)


@blueprint.get("/")
async def home() -> ResponseReturnValue:
    if g.site.kind == "store":
        return redirect("/portal/", 302)
    settings = services().settings
    if settings.production:
        return await render_template("platform/home.html", shortcuts=())
    shortcuts = (*(await entries(settings))[1:], (_l("Emails sent (development)"), f"{MAILBOX}/"))
    return await render_template("platform/home.html", shortcuts=shortcuts)


@blueprint.get("/brand/logo")
async def logo() -> Response:
    return await logo_response(g.store, public=True)


async def logo_response(store: Store | None, *, public: bool) -> Response:
    """The store's logo, cached by its ETag (by anyone when `public`, else by this browser)."""
    found = await logo_of(store)
    response = Response(found.data, mimetype=found.content_type)
    response.set_etag(found.etag)
    if public:
        response.cache_control.public = True
    else:
        response.cache_control.private = True
    response.cache_control.max_age = 86400
    return await response.make_conditional(request)
