"""Routes every host shares: health and the language choice."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from quart import Blueprint, Response, jsonify, redirect, request
from quart.typing import ResponseReturnValue

from payfacile.platform import db
from payfacile.platform.errors import InvalidInput
from payfacile.platform.i18n import LANGUAGE_COOKIE, LANGUAGES
from payfacile.platform.security import client_address
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
    response = redirect(safe_next(form.get("next")), 303)
    response.set_cookie(
        LANGUAGE_COOKIE,
        language,
        max_age=365 * 24 * 3600,
        path="/",
        secure=found.settings.production,
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
