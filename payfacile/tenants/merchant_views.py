"""Merchants on the central host: their account pages, the list of their stores, and what
every page of one store's dashboard (`/dashboard/<slug>/…`) shares: `store_dashboard`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, TypeVar, cast
from urllib.parse import quote

from quart import Blueprint, g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform import account_pages
from payfacile.platform.account_pages import require_sign_in, signed_in
from payfacile.platform.errors import Conflict, NotFound
from payfacile.platform.models import SessionKind
from payfacile.platform.registry import PageLayout
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import _l
from payfacile.tenants import accounts, dashboard
from payfacile.tenants.models import StoreStatus
from payfacile.tenants.site import central_pages, require_central

blueprint = Blueprint("merchant", __name__, url_prefix="/account")
dashboard_blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")
for central_only in (blueprint, dashboard_blueprint):
    central_only.before_request(require_central)


View = TypeVar("View", bound=Callable[..., Awaitable[ResponseReturnValue]])

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


def store_dashboard(name: str, import_name: str) -> Blueprint:
    """A blueprint of one store's dashboard pages, under `/dashboard/<slug>`. Its views take
    no `slug`: its hooks answer a store host with a 404, send a signed-out visitor to sign in
    and come back, and let in only a member of the store (`g.member`, a `dashboard.Member`);
    anyone else gets the 404 of a store that does not exist. The role is on `g.member` for
    pages that are the owner's alone."""
    pages = Blueprint(name, import_name, url_prefix="/dashboard/<slug>")
    pages.url_value_preprocessor(_take_slug)
    pages.before_request(require_central)
    pages.before_request(member_request)
    return pages


def owner_only(view: View) -> View:
    """A dashboard view only the store's owner may use (see `Member.must_be_owner`)."""

    @wraps(view)
    async def checked(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.member.must_be_owner()
        return await view(*args, **kwargs)

    return cast(View, checked)


def _take_slug(endpoint: str | None, values: dict[str, Any] | None) -> None:
    g.dashboard_slug = str((values or {}).pop("slug", ""))


async def member_request() -> ResponseReturnValue | None:
    session = signed_in(SessionKind.MERCHANT)
    if session is None:
        target = request.full_path.rstrip("?") if request.method == "GET" else "/dashboard/"
        return redirect(f"{PAGES.login}?next={quote(target, safe='/')}", 303)
    g.member = await dashboard.member_of(session.subject_id, g.dashboard_slug)
    if g.member.store.status == StoreStatus.SUSPENDED and request.method != "GET":
        # Its pages stay open to read; nothing may change, nor email its buyers, meanwhile.
        raise Conflict(
            _l(
                "This store is suspended: nothing can be changed until the platform's team "
                "reopens it."
            )
        )
    g.time_zone = g.member.store.zone  # the store's dates on its pages
    return None


async def error_layout() -> PageLayout | None:
    """Error pages inside one store's dashboard (a missing order, a page for the owner
    alone) keep its header, tabs and Sign out."""
    member = g.get("member")
    if member is None:
        return None
    return "dashboard/_layout.html", {
        "member": member,
        "home_url": f"/dashboard/{member.store.slug}/",
    }
