"""The application factory: settings in, a Quart app with every part registered out."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from quart import Quart, Response, current_app, g, render_template, request
from werkzeug.exceptions import HTTPException

from payfacile.platform import db
from payfacile.platform.cache import Shared
from payfacile.platform.config import Settings
from payfacile.platform.errors import PayFacileError, StoreUnavailable
from payfacile.platform.hosts import HostGuard, HostResolver, Site, guarded_host
from payfacile.platform.i18n import install_i18n, pick_locale
from payfacile.platform.jobs import Background
from payfacile.platform.ratelimit import RateLimiter
from payfacile.platform.security import Csrf, apply_security_headers
from payfacile.platform.sessions import Sessions
from payfacile.platform.text import Message, _l
from payfacile.tenants.models import StoreStatus

log = logging.getLogger(__name__)

BRAND_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_BRAND_COLOR = "#4f46e5"
# Answered on any host, before host resolution: load balancers and the ACME CA call the
# first two; static files must style even the "no store here" page.
HOSTLESS_PATHS = ("/healthz", "/.well-known/acme-challenge/", "/static/")


@dataclass(slots=True)
class Platform:
    """The long-lived services of one app instance, opened at start-up."""

    settings: Settings
    shared: Shared
    hosts: HostResolver
    sessions: Sessions
    csrf: Csrf
    limiter: RateLimiter


def platform() -> Platform:
    services: Platform = current_app.extensions["payfacile"]
    return services


def create_app(settings: Settings | None = None) -> Quart:
    settings = settings or Settings()
    app = Quart("payfacile", template_folder="templates", static_folder="static")
    app.config.update(MAX_CONTENT_LENGTH=2 * 1024 * 1024, MAX_FORM_MEMORY_SIZE=512 * 1024)
    shared = Shared(settings.redis_url, prefix=settings.redis_prefix)
    app.extensions["payfacile"] = Platform(
        settings=settings,
        shared=shared,
        hosts=HostResolver(settings, shared),
        sessions=Sessions(settings, shared),
        csrf=Csrf(settings),
        limiter=RateLimiter(settings.redis_url, prefix=settings.redis_prefix),
    )
    app.asgi_app = HostGuard(app.asgi_app)  # type: ignore[method-assign,arg-type,assignment]
    install_i18n(app)
    _register_template_globals(app)
    _register_lifecycle(app, settings)
    _register_request_flow(app)
    _register_errors(app)
    _register_blueprints(app)
    return app


def _register_template_globals(app: Quart) -> None:
    def brand_name() -> str:
        store = getattr(g, "store", None)
        return store.name if store is not None else "PayFacile"

    def brand_color() -> str:
        store = getattr(g, "store", None)
        color = store.brand_color if store is not None else ""
        return color if BRAND_COLOR.match(color or "") else DEFAULT_BRAND_COLOR

    def csrf_token() -> str:
        return platform().csrf.token(request)

    app.jinja_env.globals.update(
        brand_name=brand_name, brand_color=brand_color, csrf_token=csrf_token
    )


def _register_lifecycle(app: Quart, settings: Settings) -> None:
    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        await db.init_db(settings)
        listener = platform().hosts.start_listening()
        # Embedded default: with no Redis, this process schedules and runs the jobs itself.
        # With Redis, `payfacile scheduler` and `payfacile worker` processes do.
        background = (
            None if settings.redis_url else Background(settings, scheduler=True, worker=True)
        )
        if background is not None:
            await background.start()
        yield
        if background is not None:
            await background.stop()
        if listener is not None:
            listener.cancel()
        await platform().shared.close()
        await platform().limiter.close()
        await db.close_db()


def _register_request_flow(app: Quart) -> None:
    @app.before_request
    async def resolve_site() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)
        g.site = None
        g.store = None
        g.session = None
        if request.path.startswith(HOSTLESS_PATHS):
            return
        services = platform()
        hostname = guarded_host(cast(Mapping[str, Any], request.scope))
        site: Site = await services.hosts.resolve_normalised(hostname)
        g.site = site
        g.store = site.store
        g.locale = pick_locale(request, site.store)
        if site.store is not None and site.store.status == StoreStatus.SUSPENDED:
            raise StoreUnavailable(
                _l(
                    "%(store)s is not available at the moment. Please try again later.",
                    store=site.store.name,
                )
            )
        await services.csrf.check(request)
        cookie = request.cookies.get(services.sessions.cookie_name)
        g.session = (
            await services.sessions.load(cookie, store_id=site.store.id if site.store else None)
            if cookie
            else None
        )

    @app.after_request
    async def finish(response: Response) -> Response:
        services = platform()
        services.csrf.set_cookie_if_new(response)
        apply_security_headers(
            response,
            nonce=getattr(g, "csp_nonce", ""),
            production=services.settings.production,
        )
        return response


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/healthz")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


async def render_error(status: int, code: str, title: Message, message: Message) -> Response:
    if _wants_json():
        response = current_app.response_class(
            _json_body(code=code, message=str(message)), status=status, mimetype="application/json"
        )
        return response
    if not hasattr(g, "csp_nonce"):
        g.csp_nonce = secrets.token_urlsafe(16)
    body = await render_template(
        "errors/error.html", status=status, code=code, title=title, message=message
    )
    return current_app.response_class(body, status=status, mimetype="text/html")


def _json_body(*, code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


_HTTP_ERRORS: dict[int, tuple[Message, Message]] = {
    404: (_l("Page not found"), _l("There is nothing at this address.")),
    405: (_l("Not allowed"), _l("This page does not accept that kind of request.")),
    413: (_l("Too large"), _l("What you sent is too large.")),
}


def _register_errors(app: Quart) -> None:
    @app.errorhandler(PayFacileError)
    async def payfacile_error(error: PayFacileError) -> Response:
        response = await render_error(error.status, error.code, error.title, error.message)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Response:
        if error.response is not None:  # a redirect raised on purpose (sign in first)
            return cast(Response, error.response)
        status = error.code or 500
        code = error.name.lower().replace(" ", "_")
        title, message = _HTTP_ERRORS.get(status, (error.name, error.description or error.name))
        response = await render_error(status, code, title, message)
        allowed = error.get_response().headers.get("Allow")
        if allowed:
            response.headers["Allow"] = allowed
        return response

    @app.errorhandler(Exception)
    async def unexpected(error: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return await render_error(
            500,
            "internal_error",
            _l("Something went wrong on our side"),
            _l("We have been told about it. Please try again in a moment."),
        )


def _register_blueprints(app: Quart) -> None:
    from payfacile.platform.admin import blueprint as admin_blueprint
    from payfacile.platform.views import blueprint as platform_blueprint
    from payfacile.portal import buyer_views, order_views  # noqa: F401 - add their pages
    from payfacile.portal.views import blueprint as portal_blueprint
    from payfacile.tenants.views import blueprint as merchant_blueprint
    from payfacile.tenants.views import dashboard as dashboard_blueprint

    app.register_blueprint(platform_blueprint)
    app.register_blueprint(admin_blueprint)
    app.register_blueprint(merchant_blueprint)
    app.register_blueprint(dashboard_blueprint)
    app.register_blueprint(portal_blueprint)
    _drop_sync_context_processors(app)


def _drop_sync_context_processors(app: Quart) -> None:
    """Each blueprint brings Flask's own synchronous default context processor, which Quart
    runs in a thread on every render; Quart's async twin already adds the same names."""
    for name, processors in app.template_context_processors.items():
        if name is not None:
            processors[:] = [p for p in processors if p.__module__ != "flask.templating"]
