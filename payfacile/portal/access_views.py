"""The ways into a store's portal: password, emailed sign-in link, invitation, reset; the
buyer's sign-in details (password and email); signing out."""

from __future__ import annotations

from functools import partial

from quart import g, redirect, request
from quart.typing import ResponseReturnValue
from werkzeug.sansio.response import Response as BaseResponse

from payfacile.platform import tokens
from payfacile.platform.account_pages import (
    after_the_answer,
    save_chosen_password,
    sign_out,
    start_session,
)
from payfacile.platform.errors import Conflict, InvalidInput
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.security import client_address
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.portal import auth
from payfacile.portal.models import Customer
from payfacile.portal.shell import HOME, portal_blueprint, read_form, render_page

blueprint = portal_blueprint("portal", __name__)


async def _start_session(response: BaseResponse, customer_id: int) -> None:
    await start_session(response, SessionKind.BUYER, customer_id, store_id=g.store.id)


def _client() -> str:
    return client_address(request, services().settings)


def _next_path() -> str:
    """Where `?next=` asks to go after signing in: a portal path on this host, else home."""
    return auth.portal_next(request.args.get("next"))


@blueprint.route("/login", methods=["GET", "POST"])
async def login() -> ResponseReturnValue:
    next_path = _next_path()
    if g.customer is not None and request.method == "GET":
        return redirect(next_path, 303)
    errors: dict[str, Message] = {}
    email = ""
    if request.method == "POST":
        form = await read_form()
        email = form.get("email", "")[:254]
        try:
            customer = await auth.sign_in(
                services().limiter, g.store, email, form.get("password", ""), client=_client()
            )
        except InvalidInput as error:
            errors["email"] = error.message
        else:
            response = redirect(next_path, 303)
            await _start_session(response, customer.id)
            return response
    return await render_page(
        "portal/login.html",
        status=422 if errors else 200,
        errors=errors,
        email=email,
        next=next_path,
    )


@blueprint.post("/login/link")
async def email_link() -> ResponseReturnValue:
    """Email a sign-in link (15 minutes): the way in for a buyer with no password yet. The
    link leads to `?next=` (a portal path) once followed."""
    form = await read_form()
    email = form.get("link_email", "").strip()[:254]
    next_path = _next_path()
    if "@" not in email:
        return await render_page(
            "portal/login.html",
            status=422,
            errors={"link_email": _l("Enter the email address you use with this store.")},
            email="",
            link_email=email,
            next=next_path,
        )
    return await _send_link(email, TokenPurpose.SIGN_IN, next_path=next_path)


async def _send_link(
    email: str, purpose: TokenPurpose, *, next_path: str = HOME
) -> ResponseReturnValue:
    """Email a link if `email` is a buyer's; the page says the same either way."""
    found = services()
    await auth.count_link_request(found.limiter, g.store, email, client=_client())
    send = partial(auth.email_a_link, found.settings, g.store, email, purpose, next_path=next_path)
    after_the_answer(send, what="a sign-in or reset link")
    minutes = int(tokens.LIFETIMES[purpose].total_seconds()) // 60
    return await render_page("portal/link_sent.html", email=email, minutes=minutes)


@blueprint.route("/sign-in/<token>", methods=["GET", "POST"])
async def sign_in_link(token: str) -> ResponseReturnValue:
    """GET shows a button, POST signs in: a mail scanner that opens the link uses nothing."""
    try:
        if request.method == "GET":
            customer = await auth.check_link(g.store, token, TokenPurpose.SIGN_IN)
            return await render_page("portal/continue.html", email=customer.email)
        customer, next_path = await auth.use_sign_in_link(g.store, token)
    except tokens.TokenUnusable as error:
        return await _link_problem(error)
    response = redirect(next_path, 303)
    await _start_session(response, customer.id)
    return response


async def _link_problem(error: tokens.TokenUnusable) -> ResponseReturnValue:
    return await render_page("portal/link_problem.html", status=error.status, message=error.message)


async def _choose_password(token: str, *, invitation: bool) -> ResponseReturnValue:
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    try:
        customer = await auth.check_link(g.store, token, purpose)
    except tokens.TokenUnusable as error:
        return await _link_problem(error)
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = await read_form()
        try:
            return await save_chosen_password(
                auth.Buyers(g.store),
                token,
                invitation=invitation,
                password=form.get("password", ""),
                confirm=form.get("confirm", ""),
                home=HOME,
            )
        except InvalidInput as error:
            errors[error.field or "password"] = error.message
        except tokens.TokenUnusable as error:
            return await _link_problem(error)
    return await render_page(
        "portal/set_password.html",
        status=422 if errors else 200,
        errors=errors,
        email=customer.email,
        invitation=invitation,
    )


@blueprint.route("/invitation/<token>", methods=["GET", "POST"])
async def invitation(token: str) -> ResponseReturnValue:
    return await _choose_password(token, invitation=True)


@blueprint.route("/reset-password/<token>", methods=["GET", "POST"])
async def reset_password(token: str) -> ResponseReturnValue:
    return await _choose_password(token, invitation=False)


@blueprint.route("/forgot-password", methods=["GET", "POST"])
async def forgot_password() -> ResponseReturnValue:
    if request.method == "GET":
        return await render_page("portal/forgot.html", errors={}, email="")
    form = await read_form()
    email = form.get("email", "").strip()[:254]
    if "@" not in email:
        errors = {"email": _l("Enter the email address you use with this store.")}
        return await render_page("portal/forgot.html", status=422, errors=errors, email=email)
    return await _send_link(email, TokenPurpose.PASSWORD_RESET)


@blueprint.post("/logout")
async def logout() -> ResponseReturnValue:
    return await sign_out("/portal/login")


@blueprint.route("/account", methods=["GET", "POST"])
async def account() -> ResponseReturnValue:
    """Sign-in details: change the password (signs out elsewhere) or the email (confirmed by
    a link sent to the new address)."""
    customer: Customer = g.customer
    errors: dict[str, Message] = {}
    notice: Message = ""
    form: dict[str, str] = {}
    if request.method == "POST":
        form = await read_form()
        try:
            notice = await _change_account(customer, form)
        except (InvalidInput, Conflict) as error:
            errors[error.field or "password"] = error.message
    return await render_page(
        "portal/account.html",
        status=422 if errors else 200,
        customer=customer,
        errors=errors,
        notice=notice or _ACCOUNT_NOTICES.get(request.args.get("done", ""), ""),
        form=form,
    )


_ACCOUNT_NOTICES = {"email": _l("Your email address is changed.")}


async def _change_account(customer: Customer, form: dict[str, str]) -> Message:
    if form.get("action") == "email":
        await auth.request_email_change(
            services().settings,
            services().limiter,
            g.store,
            customer,
            new_email=form.get("new_email", ""),
            password=form.get("email_password", ""),
        )
        return _l(
            "We sent a link to %(email)s. Your email changes when you follow it (within 24 hours).",
            email=form.get("new_email", "").strip(),
        )
    await auth.change_password(
        services().limiter,
        g.store,
        customer,
        current=form.get("current", ""),
        password=form.get("password", ""),
        confirm=form.get("confirm", ""),
    )
    sessions = services().sessions
    keep = request.cookies.get(sessions.cookie_name)
    await sessions.end_all(kind=SessionKind.BUYER, subject_id=customer.id, keep=keep)
    return _l("Your password is changed. You are signed out everywhere else.")


@blueprint.route("/email/<token>", methods=["GET", "POST"])
async def confirm_email(token: str) -> ResponseReturnValue:
    try:
        if request.method == "GET":
            customer = await auth.check_link(g.store, token, TokenPurpose.EMAIL_CHANGE)
            return await render_page("portal/confirm_email.html", email=customer.pending_email)
        changed = await auth.confirm_email_change(services().settings, g.store, token)
    except tokens.TokenUnusable as error:
        return await _link_problem(error)
    except Conflict as error:
        return await render_page("portal/link_problem.html", status=409, message=error.message)
    sessions = services().sessions
    mine = g.customer is not None and g.customer.id == changed.id
    keep = request.cookies.get(sessions.cookie_name) if mine else None
    await sessions.end_all(kind=SessionKind.BUYER, subject_id=changed.id, keep=keep)
    target = "/portal/account?done=email" if g.customer else "/portal/login"
    return redirect(target, 303)
