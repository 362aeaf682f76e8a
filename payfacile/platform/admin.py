"""The platform admin, on the central host under /admin: onboard, list, suspend stores."""

from __future__ import annotations

from quart import Blueprint, redirect, render_template, request
from quart.typing import ResponseReturnValue

from payfacile.platform import accounts
from payfacile.platform.account_views import (
    AccountPages,
    register_account_routes,
    require_central,
    require_sign_in,
)
from payfacile.platform.app import platform
from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.platform.models import SessionKind
from payfacile.platform.text import Message, _l
from payfacile.tenants import service
from payfacile.tenants.models import StoreStatus

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
PAGES = AccountPages(
    kind=SessionKind.ADMIN, login="/admin/login", home="/admin/", heading=_l("Platform admin")
)
blueprint.before_request(require_central)
register_account_routes(blueprint, PAGES, prefix="/admin")

NOTICES = {
    "created": _l("The store is created. Its owner has been emailed an invitation."),
    "suspended": _l("The store is suspended: its pages now answer “unavailable”."),
    "reactivated": _l("The store is active again."),
    "invited": _l("A new invitation is on its way; the previous link no longer works."),
}


async def _admin() -> accounts.Account:
    session = require_sign_in(PAGES)
    admin = await accounts.get(SessionKind.ADMIN, session.subject_id)
    if admin is None:
        raise InvalidInput(_l("Your account no longer exists."))
    return admin


@blueprint.get("/")
async def stores() -> ResponseReturnValue:
    admin = await _admin()
    rows = await service.list_stores()
    settings = platform().settings
    return await render_template(
        "admin/stores.html",
        admin=admin,
        rows=rows,
        notice=NOTICES.get(request.args.get("done", "")),
        store_host=lambda slug: f"{slug}.{settings.platform_domain}",
    )


@blueprint.route("/stores/new", methods=["GET", "POST"])
async def new_store() -> ResponseReturnValue:
    admin = await _admin()
    values = {"name": "", "slug": "", "owner_email": ""}
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = await request.form
        values = {key: form.get(key, "")[:300] for key in values}
        services = platform()
        try:
            await service.create_store(settings=services.settings, hosts=services.hosts, **values)
        except (InvalidInput, Conflict) as error:
            errors[error.field or "name"] = error.message
        else:
            return redirect("/admin/?done=created", 303)
    body = await render_template(
        "admin/store_form.html",
        admin=admin,
        values=values,
        errors=errors,
        domain=platform().settings.platform_domain,
    )
    return body, 422 if errors else 200


ACTIONS = {
    "suspend": (StoreStatus.SUSPENDED, "suspended"),
    "reactivate": (StoreStatus.ACTIVE, "reactivated"),
}


@blueprint.route("/stores/<slug>/<action>", methods=["GET", "POST"])
async def change_status(slug: str, action: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST does it."""
    admin = await _admin()
    if action not in ACTIONS:
        raise InvalidInput(_l("Unknown action."))
    store = await service.get_store(slug)
    status, done = ACTIONS[action]
    if request.method == "POST":
        await service.set_status(store, status, hosts=platform().hosts)
        return redirect(f"/admin/?done={done}", 303)
    return await render_template("admin/confirm.html", admin=admin, store=store, action=action)


@blueprint.post("/stores/<slug>/invitation")
async def resend_invitation(slug: str) -> ResponseReturnValue:
    await _admin()
    store = await service.get_store(slug)
    await service.resend_owner_invitation(platform().settings, store)
    return redirect("/admin/?done=invited", 303)
