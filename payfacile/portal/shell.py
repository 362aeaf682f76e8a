"""What every portal page shares: the request hook that signs the buyer in (or sends them
to sign in), reading forms and rendering pages, and the header a signed-in buyer's error
pages keep.

Each view module declares its own blueprint with `portal_blueprint`, so every portal route
lives, with its URL, in the module that owns it, and every one gets the same hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from quart import Blueprint, g, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform.errors import NotFound
from payfacile.platform.headers import cookie
from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import SessionKind
from payfacile.platform.registry import PageLayout
from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.platform.urls import https_origin, same_path_on
from payfacile.portal import customers
from payfacile.portal.auth import HOME
from payfacile.portal.models import Customer

# Pages a signed-out visitor may open; every other portal page leads to sign-in first.
PUBLIC_ENDPOINTS = frozenset(
    {
        "portal.login",
        "portal.email_link",
        "portal.sign_in_link",
        "portal.invitation",
        "portal.forgot_password",
        "portal.reset_password",
        "portal.confirm_email",
    }
)


def portal_blueprint(name: str, import_name: str) -> Blueprint:
    blueprint = Blueprint(name, import_name, url_prefix="/portal")
    blueprint.before_request(portal_request)
    return blueprint


async def portal_request() -> ResponseReturnValue | None:
    site = g.site
    if site is None or site.kind != "store":
        raise NotFound(_l("The customer portal lives on each store's own address."))
    if site.primary_domain and not site.custom_domain:
        base = https_origin(services().settings, site.primary_domain)
        target = same_path_on(base, request.path, request.query_string)
        return redirect(target, 301)
    await _take_buyer()
    if g.customer is None and request.endpoint not in PUBLIC_ENDPOINTS:
        target = request.full_path.rstrip("?")
        if request.method != "GET":
            target = HOME
        return redirect(f"/portal/login?next={quote(target, safe='/')}", 303)
    return None


async def error_layout() -> PageLayout | None:
    """On a store host, a signed-in buyer's error pages (a missing order, an unknown
    address) keep the portal's header: its page links, account menu and Sign out."""
    if g.get("store") is None:
        return None
    if "customer" not in g:  # no portal page began: no route matched, or a hook refused
        await _take_buyer()
    if g.customer is None:
        return None
    return "portal/_layout.html", {"store": g.store, "home_url": HOME}


async def _take_buyer() -> None:
    """`g.customer`: the buyer signed in here, or None; the page in their language."""
    g.customer = await _signed_in_customer()
    if g.customer is not None:
        language = await customers.keep_language(
            g.store, g.customer, cookie(request, LANGUAGE_COOKIE)
        )
        if language is not None:
            g.locale = language


async def _signed_in_customer() -> Customer | None:
    session = g.get("session")
    if session is None or session.kind != SessionKind.BUYER:
        return None
    return await customers.signed_in(g.store, session.subject_id)


async def read_form() -> dict[str, str]:
    form = await request.form
    return {key: value[:1000] for key, value in form.items()}


async def render_page(
    template: str, *, status: int = 200, **context: object
) -> ResponseReturnValue:
    return await render_template(template, store=g.store, **context), status


def notice(notices: Mapping[str, Message]) -> Message:
    """The notice a redirect's `?done=…` names, or none."""
    return notices.get(request.args.get("done", ""), "")
