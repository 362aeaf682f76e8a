"""The kernel's web app: settings and the parts' registry in, a Quart app out.

The request flow: the ASGI wrappers (the tenants part's Host guard), a nonce for the page's
style, the parts' request hooks (host → store), the CSRF check, the session; after the
response, the CSRF cookie, the security headers and, last, compression (`compression`).
Static files are served under content-hashed names (`assets`). One error handler renders
every `PayFacileError` as a page for people and JSON for the API. `payfacile.app` calls this.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import AsyncGenerator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import cast

from quart import Quart, Response, current_app, g, request
from tortoise.exceptions import IntegrityError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from payfacile.platform import db
from payfacile.platform.assets import install_assets
from payfacile.platform.brand import current_brand
from payfacile.platform.compression import compress_response
from payfacile.platform.errors import Conflict, MalformedRequest, PayFacileError
from payfacile.platform.headers import cookie
from payfacile.platform.i18n import install_i18n
from payfacile.platform.jobs import Background
from payfacile.platform.logs import loggable_path, secret_paths
from payfacile.platform.registry import PageLayout, Registry
from payfacile.platform.rendering import install_rendering, render_template
from payfacile.platform.security import SAFE_METHODS, apply_security_headers
from payfacile.platform.services import EXTENSION, services
from payfacile.platform.text import Message, _l
from payfacile.platform.views import blueprint as kernel_blueprint

log = logging.getLogger(__name__)

# Answered on any host, before the parts' request hooks: load balancers call the first;
# static files must style even the "no store here" page.
KERNEL_HOSTLESS_PATHS = ("/healthz", "/static/")
ERROR_LAYOUTS = "payfacile.error_layouts"  # app.extensions: the registry's error_layouts
PLAIN_LAYOUT = "base.html"
NUL_REFUSED = _l(
    "This request holds a NUL character, which no address or form field may contain. "
    "Nothing was done."
)
CONCURRENT_CHANGE = _l(
    "Someone else made the same change at the same moment, so nothing was saved. "
    "Reload the page and check."
)


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: only values an id column can hold match, so a number
    beyond it is a 404 like any other unknown row, not a database error."""

    def __init__(self, map: Map, fixed_digits: int = 0, min: int = 1, max: int = db.MAX_ID) -> None:
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max)


def build_app(registry: Registry, *, model_modules: list[str], background: bool) -> Quart:
    """The app for `registry`. With `background` and no Redis, it runs the scheduler and
    the worker itself (the embedded default); tests that do not test jobs turn it off."""
    app = Quart("payfacile", template_folder="templates", static_folder=None)
    app.config.update(MAX_CONTENT_LENGTH=2 * 1024 * 1024, MAX_FORM_MEMORY_SIZE=512 * 1024)
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.extensions[EXTENSION] = registry.services
    app.extensions.update(registry.extensions)
    app.extensions[ERROR_LAYOUTS] = tuple(registry.error_layouts)
    for wrap in reversed(registry.asgi_wrappers):
        app.asgi_app = wrap(app.asgi_app)  # type: ignore[method-assign,arg-type,assignment]
    install_i18n(app)
    install_assets(app, Path(app.root_path) / "static")
    _register_template_globals(app, registry)
    _register_lifecycle(app, registry, model_modules=model_modules, background=background)
    _register_request_flow(app, registry)
    _register_errors(app)
    for blueprint in (kernel_blueprint, *registry.blueprints):
        app.register_blueprint(blueprint)
    _drop_sync_context_processors(app)
    install_rendering(app)
    return app


def _register_template_globals(app: Quart, registry: Registry) -> None:
    def brand_name() -> str:
        return current_brand().name

    def brand_color() -> str:
        return current_brand().color

    def csrf_token() -> str:
        return services().csrf.token(request)

    app.jinja_env.globals.update(
        brand=current_brand, brand_name=brand_name, brand_color=brand_color, csrf_token=csrf_token
    )
    app.jinja_env.globals.update(registry.template_globals)


def _register_lifecycle(
    app: Quart, registry: Registry, *, model_modules: list[str], background: bool
) -> None:
    settings = registry.services.settings

    @app.while_serving
    async def lifespan() -> AsyncGenerator[None, None]:
        await db.init_db(settings, model_modules)
        async with AsyncExitStack() as stack:
            for part_lifespan in registry.lifespans:
                await stack.enter_async_context(part_lifespan())
            # Embedded default: with no Redis, this process schedules and runs the jobs itself.
            # With Redis, `payfacile scheduler` and `payfacile worker` processes do.
            if background and not settings.redis_url:
                work = Background(settings, registry.jobs, scheduler=True, worker=True)
                await work.start()
                stack.push_async_callback(work.stop)
            yield
        await registry.services.close()
        await db.close_db()


def _register_request_flow(app: Quart, registry: Registry) -> None:
    hostless = (*KERNEL_HOSTLESS_PATHS, *registry.hostless_paths)
    hooks = tuple(registry.request_hooks)

    @app.before_request
    async def start_request() -> None:
        g.csp_nonce = secrets.token_urlsafe(16)
        g.brand = None
        g.store_id = None
        g.session = None
        await _refuse_nul()
        if request.path.startswith(hostless):
            return
        for hook in hooks:
            await hook()
        found = services()
        await found.csrf.check(request)
        token = cookie(request, found.sessions.cookie_name)
        g.session = await found.sessions.load(token, store_id=g.store_id) if token else None

    @app.after_request
    async def finish(response: Response) -> Response:
        found = services()
        found.csrf.set_cookie_if_new(response)
        apply_security_headers(
            response,
            nonce=getattr(g, "csp_nonce", ""),
            hsts=found.settings.production or g.get("hsts", False),
            signed_in=g.get("session") is not None,
        )
        return await compress_response(response, request)


async def _refuse_nul() -> None:
    """A NUL in the path, the query or a form field is a 400 before any hook, limiter or
    handler sees it: PostgreSQL refuses NUL in text, and no form can type one."""
    suspects = [request.path]
    query = request.query_string
    if b"%00" in query or b"\x00" in query:  # else no argument can hold one: not parsed here
        suspects += [*request.args.keys(), *request.args.values()]
    if request.method not in SAFE_METHODS:
        form = await request.form
        suspects += [*form.keys(), *form.values()]
    if any("\x00" in text for text in suspects):
        raise MalformedRequest(NUL_REFUSED)


def _wants_json() -> bool:
    if request.path.startswith(("/api/", "/healthz")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


async def render_error(
    status: int,
    code: str,
    title: Message,
    message: Message,
    *,
    links: tuple[tuple[Message, str], ...] = (),
    details: tuple[Message, ...] = (),
) -> Response:
    if _wants_json():
        response = current_app.response_class(
            _json_body(code=code, message=str(message)), status=status, mimetype="application/json"
        )
        return response
    if not hasattr(g, "csp_nonce"):
        g.csp_nonce = secrets.token_urlsafe(16)
    page = {
        "status": status,
        "code": code,
        "title": title,
        "message": message,
        "details": details,
        "links": links,
    }
    layout, context = await _error_layout()
    try:
        body = await render_template("errors/error.html", layout=layout, **context, **page)
    except Exception:
        if layout == PLAIN_LAYOUT:
            raise
        log.exception("the %s layout failed on an error page; showing the plain one", layout)
        body = await render_template("errors/error.html", layout=PLAIN_LAYOUT, **page)
    return current_app.response_class(body, status=status, mimetype="text/html")


async def _error_layout() -> PageLayout:
    """The layout the first part that answers gives this error page (a signed-in buyer's
    keeps the portal's header), else the plain one, also when a part fails to answer (the
    database down behind a 500)."""
    for error_layout in current_app.extensions.get(ERROR_LAYOUTS, ()):
        try:
            found = await error_layout()
        except Exception:
            log.exception("a part failed to give an error page its layout")
            break
        if found is not None:
            return found
    return PLAIN_LAYOUT, {}


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
        response = await render_error(
            error.status,
            error.code,
            error.title,
            error.message,
            links=error.links,
            details=error.details,
        )
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(retry_after)
        return response

    @app.errorhandler(IntegrityError)
    async def constraint_refused(error: IntegrityError) -> Response:
        """A constraint refused a write that no service mapped with `db.unique_or_conflict`
        (a race nobody foresaw): a 409 with a message, never a 500."""
        log.warning(
            "a constraint refused a write on %s %s: %s", request.method, request.path, error
        )
        return await payfacile_error(Conflict(CONCURRENT_CHANGE))

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
        path = loggable_path(request.path, secret_paths(current_app))
        log.exception("unhandled error on %s %s", request.method, path)
        return await render_error(
            500,
            "internal_error",
            _l("Something went wrong on our side"),
            _l("We have been told about it. Please try again in a moment."),
        )


def _drop_sync_context_processors(app: Quart) -> None:
    """Each blueprint brings Flask's own synchronous default context processor, which Quart
    runs in a thread on every render; Quart's async twin already adds the same names."""
    for name, processors in app.template_context_processors.items():
        if name is not None:
            processors[:] = [p for p in processors if p.__module__ != "flask.templating"]
