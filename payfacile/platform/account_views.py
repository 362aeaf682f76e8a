"""Sign-in, sign-out, password reset and set-password pages, shared by admins and merchants.

Both live on the central host; `register_account_routes` puts one set on a blueprint.
"""

from __future__ import annotations

from dataclasses import dataclass

from quart import Blueprint, g, redirect, render_template, request
from quart.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as BaseResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from payfacile.platform import accounts, tokens
from payfacile.platform.app import platform
from payfacile.platform.errors import InvalidInput, NotFound
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.security import client_address
from payfacile.platform.sessions import SignedIn
from payfacile.platform.text import Message, _l
from payfacile.platform.views import safe_next


@dataclass(frozen=True)
class AccountPages:
    kind: SessionKind
    login: str  # path of the sign-in page
    home: str  # where a signed-in person lands
    heading: Message


async def require_central() -> None:
    """Account pages live on the central host only (a blueprint's `before_request`)."""
    if g.site is None or g.site.kind != "central":
        raise NotFound(_l("There is nothing at this address."))


def signed_in(kind: SessionKind) -> SignedIn | None:
    session: SignedIn | None = g.get("session")
    return session if session is not None and session.kind == kind else None


def require_sign_in(pages: AccountPages) -> SignedIn:
    """The signed-in session of this kind, or a redirect to sign in and come back."""
    session = signed_in(pages.kind)
    if session is None:
        target = request.full_path.rstrip("?")
        raise HTTPException(response=redirect(f"{pages.login}?next={_quote(target)}", 303))
    return session


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


async def start_session(
    response: BaseResponse, kind: SessionKind, subject_id: int, *, store_id: int | None = None
) -> None:
    """Sign in with this response: a new session id (the old one ends) and CSRF cookie."""
    services = platform()
    current = request.cookies.get(services.sessions.cookie_name)
    token = await services.sessions.start(
        kind=kind, subject_id=subject_id, store_id=store_id, replacing=current
    )
    services.sessions.set_cookie(response, token)
    services.csrf.rotate()


async def save_chosen_password(
    directory: accounts.Directory,
    token: str,
    *,
    invitation: bool,
    password: str,
    confirm: str,
    home: str,
) -> WerkzeugResponse:
    """Save the password an emailed link lets its account choose. Every other session of the
    account ends, and this browser is signed in on its way to `home`.

    Raises `InvalidInput` for a password the policy refuses, `TokenUnusable` for the link.
    """
    account = await accounts.set_password(
        directory, token, invitation=invitation, password=password, confirm=confirm
    )
    await platform().sessions.end_all(kind=directory.kind, subject_id=account.id)
    response = redirect(home, 303)
    await start_session(response, directory.kind, account.id, store_id=directory.store_id)
    return response


def register_account_routes(blueprint: Blueprint, pages: AccountPages, *, prefix: str) -> None:
    forgot_url = f"{prefix}/forgot-password"

    @blueprint.route(pages.login.removeprefix(prefix) or "/", methods=["GET", "POST"])
    async def login() -> ResponseReturnValue:
        next_path = safe_next(request.args.get("next"), default=pages.home)
        if signed_in(pages.kind) and request.method == "GET":
            return redirect(next_path, 303)
        errors: dict[str, Message] = {}
        email = ""
        if request.method == "POST":
            form = await request.form
            email = form.get("email", "")[:254]
            next_path = safe_next(form.get("next") or request.args.get("next"), default=pages.home)
            services = platform()
            try:
                account = await accounts.authenticate(
                    services.limiter,
                    accounts.central(pages.kind),
                    email,
                    form.get("password", ""),
                    client=client_address(request, services.settings),
                )
            except InvalidInput as error:
                errors[error.field or "email"] = error.message
            else:
                response = redirect(next_path, 303)
                await start_session(response, pages.kind, account.id)
                return response
        body = await render_template(
            "account/login.html",
            heading=pages.heading,
            errors=errors,
            email=email,
            next=next_path,
            forgot_url=forgot_url,
            message=request.args.get("message") and _MESSAGES.get(request.args["message"]),
            message_kind="success",
        )
        return body, 422 if errors else 200

    @blueprint.post("/logout")
    async def logout() -> ResponseReturnValue:
        services = platform()
        response = redirect(pages.login, 303)
        current = request.cookies.get(services.sessions.cookie_name)
        if current:
            await services.sessions.end(current)
        services.sessions.clear_cookie(response)
        return response

    @blueprint.route("/forgot-password", methods=["GET", "POST"])
    async def forgot_password() -> ResponseReturnValue:
        errors: dict[str, Message] = {}
        email, sent = "", False
        if request.method == "POST":
            form = await request.form
            email = form.get("email", "").strip()[:254]
            if "@" not in email:
                errors["email"] = _l("Enter the email address of your account.")
            else:
                services = platform()
                await accounts.request_password_reset(
                    services.settings,
                    services.limiter,
                    pages.kind,
                    email,
                    client=client_address(request, services.settings),
                )
                sent = True
        body = await render_template(
            "account/forgot.html", errors=errors, email=email, sent=sent, login_url=pages.login
        )
        return body, 422 if errors else 200

    for invitation, path in ((True, "/set-password/<token>"), (False, "/reset-password/<token>")):
        _register_set_password(blueprint, pages, path, invitation=invitation, forgot=forgot_url)


_MESSAGES = {"password-set": _l("Your password is saved. You are signed in.")}


def _register_set_password(
    blueprint: Blueprint, pages: AccountPages, path: str, *, invitation: bool, forgot: str
) -> None:
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    endpoint = "set_password" if invitation else "reset_password"

    async def choose_password(token: str) -> ResponseReturnValue:
        try:
            found = await tokens.peek(
                token, purpose=purpose, subject_kind=pages.kind, store_id=None
            )
        except tokens.TokenUnusable as error:
            body = await render_template(
                "account/link_problem.html", message=error.message, forgot_url=forgot
            )
            return body, error.status
        account = await accounts.get(pages.kind, found.subject_id)
        if account is None:
            raise NotFound(_l("This account no longer exists."))
        errors: dict[str, Message] = {}
        if request.method == "POST":
            form = await request.form
            try:
                return await save_chosen_password(
                    accounts.central(pages.kind),
                    token,
                    invitation=invitation,
                    password=form.get("password", ""),
                    confirm=form.get("confirm", ""),
                    home=pages.home,
                )
            except InvalidInput as error:
                errors[error.field or "password"] = error.message
        heading = _l("Choose your password") if invitation else _l("Choose a new password")
        body = await render_template(
            "account/set_password.html", heading=heading, email=account.email, errors=errors
        )
        return body, 422 if errors else 200

    blueprint.add_url_rule(path, endpoint, choose_password, methods=["GET", "POST"])
