"""Which site a request is for: the tenants part's request hook (docs/architecture.md,
"Request flow").

The Host is normalised once by `HostGuard` (an ASGI wrapper); the hook resolves it to the
central host or a store and puts on `g`: `site`, `store`, `store_id` (the kernel checks
sessions against it), `brand`, `locale` and `time_zone` (the store's, for its dates). A
suspended store answers 503. A host with no store (unknown, or an IP address) answers a page
that says where to go instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, NoReturn, cast

from quart import g, redirect, request
from werkzeug.exceptions import HTTPException

from payfacile.platform.account_pages import AccountPages
from payfacile.platform.brand import PLATFORM
from payfacile.platform.config import Settings
from payfacile.platform.errors import BadHost, NoStoreHere, NotFound, StoreUnavailable
from payfacile.platform.i18n import DEFAULT_LANGUAGE, pick_locale
from payfacile.platform.security import forwarded_scheme
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.platform.urls import central_url, https_origin, origin, same_path_on
from payfacile.platform.zones import UTC_ZONE
from payfacile.tenants.accounts import CentralDirectory, email_reset_link
from payfacile.tenants.branding import brand_of, public_support_email
from payfacile.tenants.hosts import IpAddressHost, Site, guarded_host, resolver
from payfacile.tenants.models import Store, StoreStatus

DEMO_SLUG = "demo"
NOT_A_STORE = _l(
    "This address is not, or is no longer, a store on PayFacile. Check that it is spelled "
    "right, or the link you followed: it may be out of date."
)
CONNECT_A_DOMAIN = _l(
    "Is this your store's own domain? Connect it on the Domains page of your store's "
    "dashboard. Once its DNS records are in place, it can take a few hours before the "
    "address works everywhere."
)
SETTING_UP = _l(
    "Setting up a store? Your dashboard shows its address, and its Domains page connects "
    "a domain of your own."
)


async def entries(settings: Settings) -> tuple[tuple[Message, str], ...]:
    """(label, URL) of where a person who came in through the wrong door can go: the central
    host, the merchants' dashboard and, outside production, the demo store's portal once
    `payfacile demo` made it."""
    central = (_l("PayFacile's home page"), central_url(settings, "/"))
    merchants = (_l("Sign in to your store's dashboard"), central_url(settings, "/dashboard/"))
    if settings.production or not await Store.exists(slug=DEMO_SLUG):
        return central, merchants
    demo = origin(settings, f"{DEMO_SLUG}.{settings.platform_domain}")
    return central, merchants, (_l("The demo store's customer portal"), f"{demo}/portal/")


async def resolve_site() -> None:
    g.site = None
    g.store = None
    settings = services().settings
    try:
        hostname = guarded_host(cast(Mapping[str, Any], request.scope))
        site: Site = await resolver().resolve_normalised(hostname)
    except IpAddressHost as error:
        by_name = _l(
            "Each store has its own address: a name ending in .%(domain)s, or the store's "
            "own domain. Check the link you followed, or use the address in the store's "
            "emails or on its website.",
            domain=settings.platform_domain,
        )
        await _wrong_door(error, settings, (by_name, SETTING_UP))
    except NoStoreHere as error:
        await _wrong_door(error, settings, (NOT_A_STORE, CONNECT_A_DOMAIN))
    except BadHost as error:
        await _wrong_door(error, settings, ())
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
        await _unavailable(store)


async def _wrong_door(
    error: BadHost | NoStoreHere, settings: Settings, details: tuple[Message, ...]
) -> NoReturn:
    """A host with no store: the page, in the visitor's language, says where to go."""
    g.locale = pick_locale(request)
    error.details = details
    error.links = await entries(settings)
    raise error


async def _unavailable(store: Store) -> NoReturn:
    """A suspended store's 503 names whom to write to by the store's public support address
    only, never a team member's own, in its text as in its footer."""
    contact = await public_support_email(store)
    g.brand = replace(g.brand, support_email=contact)
    error = StoreUnavailable(
        _l("%(store)s is not available at the moment. Please try again later.", store=store.name)
    )
    if contact:
        error.details = (
            _l(
                "For a question about an order or a subscription, write to the store at %(email)s.",
                email=contact,
            ),
        )
    else:
        error.details = (
            _l(
                "For a question about an order or a subscription, reply to one of the "
                "store's emails."
            ),
        )
    raise error


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
