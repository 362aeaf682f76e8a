"""Routes every host shares: health and the language choice."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from quart import Blueprint, Response, current_app, jsonify, redirect, request
from quart.typing import ResponseReturnValue
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import MapAdapter, RequestRedirect

from payfacile.platform import db
from payfacile.platform.errors import InvalidInput
from payfacile.platform.i18n import LANGUAGE_COOKIE, LANGUAGES
from payfacile.platform.security import client_address, cookies_secure
from payfacile.platform.services import services
from payfacile.platform.text import _l

blueprint = Blueprint("platform", __name__)

HEALTH_TIMEOUT_SECONDS = 2.0
LANGUAGE_RATE = "30/minute"


@blueprint.get("/healthz")
async def healthz() -> tuple[Response, int]:
    shared = services().shared
    checks = {
        "database": await _check(db.ping_db()),
        "redis": await _check(shared.ping()) if shared.enabled else "off",
    }
    healthy = all(state in {"ok", "off"} for state in checks.values())
    return jsonify(status="ok" if healthy else "failing", checks=checks), 200 if healthy else 503


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as error:
        return f"failing: {type(error).__name__}"
    return "ok"


@blueprint.post("/language")
async def choose_language() -> ResponseReturnValue:
    found = services()
    await found.limiter.hit(LANGUAGE_RATE, "language", client_address(request, found.settings))
    form = await request.form
    language = form.get("language", "")
    if language not in LANGUAGES:
        raise InvalidInput(_l("Choose English or French."), field="language")
    response = redirect(page_to_show(safe_next(form.get("next"))), 303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        path="/",
        secure=cookies_secure(found.settings),
        httponly=True,
        samesite="Lax",
    )
    return response


def page_to_show(target: str) -> str:
    """`target` when it answers GET; for a form's address (`/portal/login/link`, which a page
    answering that form carries), the nearest parent page that does (`/portal/login`)."""
    adapter = current_app.create_url_adapter(request)
    path = urlsplit(target).path
    if adapter is None or _answers_get(adapter, path) is not False:
        return target
    while path not in {"", "/"}:
        path = path.rsplit("/", 1)[0]
        if _answers_get(adapter, path or "/"):
            return path or "/"
    return "/"


def _answers_get(adapter: MapAdapter, path: str) -> bool | None:
    """True: GET is served; False: the path takes other methods only; None: no such path."""
    try:
        adapter.match(path, method="GET")
    except RequestRedirect:
        return True
    except MethodNotAllowed:
        return False
    except NotFound:
        return None
    return True


def safe_next(target: str | None, *, default: str = "/") -> str:
    """A path on this host to go back to; anything else (another host, a scheme) → default."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        return default  # a CR/LF would split the Location header
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
