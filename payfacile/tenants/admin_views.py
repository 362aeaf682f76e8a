"""The platform admin, on the central host under /admin: onboard, list, suspend stores."""

from __future__ import annotations

from quart import Blueprint, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform import account_pages
from payfacile.platform.account_pages import require_sign_in
from payfacile.platform.accounts import Account
from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.tenants import accounts, stores
from payfacile.tenants.hosts import resolver
from payfacile.tenants.models import StoreStatus
from payfacile.tenants.site import central_pages, require_central

blueprint = Blueprint("admin", __name__, url_prefix="/admin")
blueprint.before_request(require_central)


PAGES = central_pages(
    accounts.ADMINS,
    login=accounts.ADMIN_LOGIN,
    home="/admin/",
    forgot="/admin/forgot-password",
    heading=_l("Platform admin"),
)


@blueprint.route("/login", methods=["GET", "POST"])
async def login() -> ResponseReturnValue:
    return await account_pages.login_page(PAGES)


@blueprint.post("/logout")
async def logout() -> ResponseReturnValue:
    return await account_pages.sign_out(PAGES.login)


@blueprint.route("/forgot-password", methods=["GET", "POST"])
async def forgot_password() -> ResponseReturnValue:
    return await account_pages.forgot_page(PAGES)


@blueprint.route("/set-password/<token>", methods=["GET", "POST"])
async def set_password(token: str) -> ResponseReturnValue:
    return await account_pages.choose_password_page(PAGES, token, invitation=True)


@blueprint.route("/reset-password/<token>", methods=["GET", "POST"])
async def reset_password(token: str) -> ResponseReturnValue:
    return await account_pages.choose_password_page(PAGES, token, invitation=False)


NOTICES = {
    "created": _l("The store is created. Its owner has been emailed an invitation."),
    "suspended": _l("The store is suspended: its pages now answer “unavailable”."),
    "reactivated": _l("The store is active again."),
    "invited": _l("A new invitation is on its way; the previous link no longer works."),
}


async def signed_in_admin() -> Account:
    """The platform admin signed in on this request (else: to the sign-in page)."""
    session = require_sign_in(PAGES)
    admin = await accounts.ADMINS.get(session.subject_id)
    if admin is None:
        raise InvalidInput(_l("Your account no longer exists."))
    return admin


@blueprint.get("/")
async def store_list() -> ResponseReturnValue:
    admin = await signed_in_admin()
    rows = await stores.list_stores()
    settings = services().settings
    return await render_template(
        "admin/stores.html",
        admin=admin,
        rows=rows,
        notice=NOTICES.get(request.args.get("done", "")),
        store_host=lambda slug: f"{slug}.{settings.platform_domain}",
    )


@blueprint.route("/stores/new", methods=["GET", "POST"])
async def new_store() -> ResponseReturnValue:
    admin = await signed_in_admin()
    values = {"name": "", "slug": "", "owner_email": "", "time_zone": ""}
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = await request.form
        values = {key: form.get(key, "")[:300] for key in values}
        try:
            await stores.create_store(settings=services().settings, hosts=resolver(), **values)
        except (InvalidInput, Conflict) as error:
            errors[error.field or "name"] = error.message
        else:
            return redirect("/admin/?done=created", 303)
    body = await render_template(
        "admin/store_form.html",
        admin=admin,
        values=values,
        errors=errors,
        domain=services().settings.platform_domain,
    )
    return body, 422 if errors else 200


ACTIONS = {
    "suspend": (StoreStatus.SUSPENDED, "suspended"),
    "reactivate": (StoreStatus.ACTIVE, "reactivated"),
}


@blueprint.route("/stores/<slug>/<action>", methods=["GET", "POST"])
async def change_status(slug: str, action: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST does it."""
    admin = await signed_in_admin()
    if action not in ACTIONS:
        raise InvalidInput(_l("Unknown action."))
    store = await stores.get_store(slug)
    status, done = ACTIONS[action]
    if request.method == "POST":
        await stores.set_status(store, status, hosts=resolver())
        return redirect(f"/admin/?done={done}", 303)
    return await render_template("admin/confirm.html", admin=admin, store=store, action=action)


@blueprint.post("/stores/<slug>/invitation")
async def resend_invitation(slug: str) -> ResponseReturnValue:
    await signed_in_admin()
    store = await stores.get_store(slug)
    await stores.resend_owner_invitation(services().settings, store)
    return redirect("/admin/?done=invited", 303)
