"""Sign-in, sign-out, password reset and set-password pages, for any kind of account.

A part declares its own routes (`/admin/login`, `/account/login` …) in its own view module
and answers them with these functions, given the `AccountPages` that say whose pages they are.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from quart import current_app, g, redirect, request
from quart.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException
from werkzeug.sansio.response import Response as BaseResponse
from werkzeug.wrappers import Response as WerkzeugResponse

from payfacile.platform import accounts, tokens
from payfacile.platform.errors import InvalidInput, NotFound
from payfacile.platform.models import SessionKind, TokenPurpose
from payfacile.platform.rendering import render_template
from payfacile.platform.security import client_address
from payfacile.platform.services import services
from payfacile.platform.sessions import SignedIn
from payfacile.platform.text import Message, _l
from payfacile.platform.views import safe_next

SendReset = Callable[[str], Awaitable[None]]  # (email), run after the answer
AFTER_ANSWER_ATTEMPTS = 3
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountPages:
    """Whose account pages these are, and where they live."""

    directory: accounts.Directory
    login: str  # path of the sign-in page
    home: str  # where a signed-in person lands
    forgot: str  # path of the "forgot your password" page
    heading: Message
    send_reset: SendReset  # emails a reset link if the address has an account

    @property
    def kind(self) -> SessionKind:
        return self.directory.kind


def after_the_answer(work: Callable[[], Awaitable[None]], *, what: str) -> None:
    """Do `work` after this response, so the time the answer takes does not depend on it
    (whether an address has an account, a token and an email to write).

    `work` must write in one transaction: a failed attempt leaves nothing behind and is
    tried again, so the email is queued once. The app waits for it when it stops."""
    current_app.add_background_task(_attempts, work, what)


async def _attempts(work: Callable[[], Awaitable[None]], what: str) -> None:
    for attempt in range(1, AFTER_ANSWER_ATTEMPTS + 1):
        try:
            await work()
        except Exception:
            if attempt == AFTER_ANSWER_ATTEMPTS:
                log.exception("%s could not be sent after %s attempts", what, attempt)
                return
            log.warning("%s: attempt %s failed, trying again", what, attempt, exc_info=True)
            await asyncio.sleep(attempt)
        else:
            return


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
    return quote(path, safe="/")


async def start_session(
    response: BaseResponse, kind: SessionKind, subject_id: int, *, store_id: int | None = None
) -> None:
    """Sign in with this response: a new session id (the old one ends) and CSRF cookie."""
    found = services()
    current = request.cookies.get(found.sessions.cookie_name)
    token = await found.sessions.start(
        kind=kind, subject_id=subject_id, store_id=store_id, replacing=current
    )
    found.sessions.set_cookie(response, token)
    found.csrf.rotate()


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
    await services().sessions.end_all(kind=directory.kind, subject_id=account.id)
    response = redirect(home, 303)
    await start_session(response, directory.kind, account.id, store_id=directory.store_id)
    return response


async def login_page(pages: AccountPages) -> ResponseReturnValue:
    """GET shows the sign-in form (or goes on, when signed in); POST signs in."""
    next_path = safe_next(request.args.get("next"), default=pages.home)
    if signed_in(pages.kind) and request.method == "GET":
        return redirect(next_path, 303)
    errors: dict[str, Message] = {}
    email = ""
    if request.method == "POST":
        form = await request.form
        email = form.get("email", "")[:254]
        next_path = safe_next(form.get("next") or request.args.get("next"), default=pages.home)
        found = services()
        try:
            account = await accounts.authenticate(
                found.limiter,
                pages.directory,
                email,
                form.get("password", ""),
                client=client_address(request, found.settings),
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
        forgot_url=pages.forgot,
        message=request.args.get("message") and _MESSAGES.get(request.args["message"]),
        message_kind="success",
    )
    return body, 422 if errors else 200


async def sign_out(login: str) -> ResponseReturnValue:
    """End this browser's session and go back to the sign-in page at `login`."""
    found = services()
    response = redirect(login, 303)
    current = request.cookies.get(found.sessions.cookie_name)
    if current:
        await found.sessions.end(current)
    found.sessions.clear_cookie(response)
    return response


async def forgot_page(pages: AccountPages) -> ResponseReturnValue:
    """Ask for a reset link; the page says the same whether the address has an account."""
    errors: dict[str, Message] = {}
    email, sent = "", False
    if request.method == "POST":
        form = await request.form
        email = form.get("email", "").strip()[:254]
        if "@" not in email:
            errors["email"] = _l("Enter the email address of your account.")
        else:
            found = services()
            client = client_address(request, found.settings)
            await accounts.count_reset_request(found.limiter, pages.directory, email, client=client)
            after_the_answer(partial(pages.send_reset, email), what="a password reset link")
            sent = True
    body = await render_template(
        "account/forgot.html", errors=errors, email=email, sent=sent, login_url=pages.login
    )
    return body, 422 if errors else 200


_MESSAGES = {"password-set": _l("Your password is saved. You are signed in.")}


async def choose_password_page(
    pages: AccountPages, token: str, *, invitation: bool
) -> ResponseReturnValue:
    """An emailed link's page: GET shows the form, POST saves the password and signs in."""
    purpose = TokenPurpose.INVITATION if invitation else TokenPurpose.PASSWORD_RESET
    try:
        found = await tokens.peek(token, purpose=purpose, subject_kind=pages.kind, store_id=None)
    except tokens.TokenUnusable as error:
        body = await render_template(
            "account/link_problem.html", message=error.message, forgot_url=pages.forgot
        )
        return body, error.status
    account = await pages.directory.get(found.subject_id)
    if account is None:
        raise NotFound(_l("This account no longer exists."))
    errors: dict[str, Message] = {}
    if request.method == "POST":
        form = await request.form
        try:
            return await save_chosen_password(
                pages.directory,
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
