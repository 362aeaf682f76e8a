"""Routes every host shares (health, language) and the central host's own pages."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from quart import Blueprint, Response, g, jsonify, redirect, render_template, request
from quart.typing import ResponseReturnValue

from payfacile.platform import db
from payfacile.platform.app import platform
from payfacile.platform.errors import InvalidInput, NotFound
from payfacile.platform.i18n import LANGUAGE_COOKIE, LANGUAGES
from payfacile.platform.security import client_address
from payfacile.platform.text import _l
from payfacile.tenants.models import StoreLogo
from payfacile.tenants.scope import scoped

blueprint = Blueprint("platform", __name__)

HEALTH_TIMEOUT_SECONDS = 2.0
LANGUAGE_RATE = "30/minute"


@blueprint.get("/healthz")
async def healthz() -> tuple[Response, int]:
    services = platform()
    checks = {
        "database": await _check(db.ping_db()),
        "redis": await _check(services.shared.ping()) if services.shared.enabled else "off",
    }
    healthy = all(state in {"ok", "off"} for state in checks.values())
    return jsonify(status="ok" if healthy else "failing", checks=checks), 200 if healthy else 503


async def _check(probe: object) -> str:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_SECONDS)  # type: ignore[arg-type]
    except Exception as error:
        return f"failing: {type(error).__name__}"
    return "ok"


@blueprint.get("/")
async def home() -> ResponseReturnValue:
    if g.site.kind == "store":
        return redirect("/portal/", 302)
    return await render_template("platform/home.html")


@blueprint.post("/language")
async def choose_language() -> ResponseReturnValue:
    services = platform()
    await services.limiter.hit(
        LANGUAGE_RATE, "language", client_address(request, services.settings)
    )
    form = await request.form
    language = form.get("language", "")
    if language not in LANGUAGES:
        raise InvalidInput(_l("Choose English or French."), field="language")
    response = redirect(safe_next(form.get("next")), 303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        path="/",
        secure=services.settings.production,
        httponly=True,
        samesite="Lax",
    )
    return response


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


@blueprint.get("/brand/logo")
async def logo() -> Response:
    store = g.store
    if store is None or not store.logo_etag:
        raise NotFound(_l("This store has no logo."))
    found = await scoped(store).get(StoreLogo)
    response = Response(found.data, mimetype=found.content_type)
    response.set_etag(found.etag)
    response.cache_control.public = True
    response.cache_control.max_age = 86400
    return await response.make_conditional(request)
