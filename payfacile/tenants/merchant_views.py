"""Merchants on the central host: their account pages and the start of their dashboard."""

from __future__ import annotations

from quart import Blueprint, render_template
from quart.typing import ResponseReturnValue

from payfacile.platform import account_pages
from payfacile.platform.account_pages import require_sign_in
from payfacile.platform.errors import NotFound
from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.tenants import accounts, dashboard
from payfacile.tenants.site import central_pages, require_central

blueprint = Blueprint("merchant", __name__, url_prefix="/account")
dashboard_blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")
for central_only in (blueprint, dashboard_blueprint):
    central_only.before_request(require_central)


PAGES = central_pages(
    accounts.MERCHANTS,
    login=accounts.MERCHANT_LOGIN,
    home="/dashboard",
    forgot="/account/forgot-password",
    heading=_l("Sign in"),
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


@dashboard_blueprint.get("/")
async def home() -> ResponseReturnValue:
    session = require_sign_in(PAGES)
    merchant = await accounts.MERCHANTS.get(session.subject_id)
    if merchant is None:
        raise NotFound(_l("Your account no longer exists."))
    stores = await dashboard.stores_of(services().settings, merchant.id)
    return await render_template("merchant/dashboard.html", merchant=merchant, stores=stores)
