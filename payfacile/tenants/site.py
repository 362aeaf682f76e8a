"""Which site a request is for: the tenants part's request hook (docs/architecture.md,
"Request flow").

The Host is normalised once by `HostGuard` (an ASGI wrapper); the hook resolves it to the
central host or a store and puts on `g`: `site`, `store`, `store_id` (the kernel checks
sessions against it), `brand`, `locale` and `time_zone` (the store's, for its dates). A
suspended store answers 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from quart import g, redirect, request
from werkzeug.exceptions import HTTPException

from payfacile.platform.account_pages import AccountPages
from payfacile.platform.brand import PLATFORM
from payfacile.platform.config import Settings
from payfacile.platform.errors import BadHost, NotFound, StoreUnavailable
from payfacile.platform.i18n import DEFAULT_LANGUAGE, pick_locale
from payfacile.platform.security import forwarded_scheme
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.platform.urls import central_url, https_origin, origin, same_path_on
from payfacile.platform.zones import UTC_ZONE
from payfacile.tenants.accounts import CentralDirectory, email_reset_link
from payfacile.tenants.branding import brand_of
from payfacile.tenants.hosts import Site, guarded_host, resolver
from payfacile.tenants.models import Store, StoreStatus

DEMO_SLUG = "demo"


async def entries(settings: Settings) -> tuple[tuple[Message, str], ...]:
    """(label, URL) of where a person who came in through the wrong door can go: the central
    host and, outside production, the demo store's portal once `payfacile demo` made it."""
    central = (_l("PayFacile's home page"), central_url(settings, "/"))
    if settings.production or not await Store.exists(slug=DEMO_SLUG):
        return (central,)
    demo = origin(settings, f"{DEMO_SLUG}.{settings.platform_domain}")
    return central, (_l("The demo store's customer portal"), f"{demo}/portal/")


async def resolve_site() -> None:
    g.site = None
    g.store = None
    try:
        hostname = guarded_host(cast(Mapping[str, Any], request.scope))
    except BadHost as error:
        g.locale = pick_locale(request)
        error.links = await entries(services().settings)
        raise
    site: Site = await resolver().resolve_normalised(hostname)
    store = site.store
    g.site = site
    g.store = store
    g.store_id = store.id if store is not None else None
    g.brand = brand_of(store) if store is not None else PLATFORM
    g.locale = pick_locale(request, store.locale if store is not None else DEFAULT_LANGUAGE)
    g.time_zone = store.zone if store is not None else UTC_ZONE
    if site.secure:
        if forwarded_scheme(request, services().settings) == "http":
            _to_https(site.hostname)
        g.hsts = True  # the kernel adds Strict-Transport-Security to the answer
    if store is not None and store.status == StoreStatus.SUSPENDED:
        raise StoreUnavailable(
            _l(
                "%(store)s is not available at the moment. Please try again later.",
                store=store.name,
            )
        )


def _to_https(hostname: str) -> None:
    """A custom domain with a certificate is HTTPS only: the same address over HTTPS, 301
    for a GET or HEAD, 308 (the method and body kept) for anything else. (ACME's challenge
    path is answered before this hook, over HTTP, as the CA asks.)"""
    base = https_origin(services().settings, hostname)
    target = same_path_on(base, request.path, request.query_string)
    status = 301 if request.method in {"GET", "HEAD"} else 308
    raise HTTPException(response=redirect(target, status))


async def require_central() -> None:
    """For pages of the central host only (a blueprint's `before_request`)."""
    if g.site is None or g.site.kind != "central":
        raise NotFound(_l("There is nothing at this address."))


def central_pages(
    directory: CentralDirectory, *, login: str, home: str, forgot: str, heading: Message
) -> AccountPages:
    """The account pages of admins or merchants: on the central host, reset by email."""

    async def send_reset(email: str) -> None:
        await email_reset_link(services().settings, directory, email)

    return AccountPages(
        directory=directory,
        login=login,
        home=home,
        forgot=forgot,
        heading=heading,
        send_reset=send_reset,
    )
