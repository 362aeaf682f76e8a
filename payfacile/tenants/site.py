"""Which site a request is for: the tenants part's request hook (docs/architecture.md,
"Request flow").

The Host is normalised once by `HostGuard` (an ASGI wrapper); the hook resolves it to the
central host or a store and puts on `g`: `site`, `store`, `store_id` (the kernel checks
sessions against it), `brand` and `locale`. A suspended store answers 503.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from quart import g, request

from payfacile.platform.account_pages import AccountPages
from payfacile.platform.brand import PLATFORM
from payfacile.platform.errors import NotFound, StoreUnavailable
from payfacile.platform.i18n import DEFAULT_LANGUAGE, pick_locale
from payfacile.platform.services import services
from payfacile.platform.text import Message, _l
from payfacile.tenants.accounts import CentralDirectory, email_reset_link
from payfacile.tenants.branding import brand_of
from payfacile.tenants.hosts import Site, guarded_host, resolver
from payfacile.tenants.models import StoreStatus


async def resolve_site() -> None:
    g.site = None
    g.store = None
    hostname = guarded_host(cast(Mapping[str, Any], request.scope))
    site: Site = await resolver().resolve_normalised(hostname)
    store = site.store
    g.site = site
    g.store = store
    g.store_id = store.id if store is not None else None
    g.brand = brand_of(store) if store is not None else PLATFORM
    g.locale = pick_locale(request, store.locale if store is not None else DEFAULT_LANGUAGE)
    if store is not None and store.status == StoreStatus.SUSPENDED:
        raise StoreUnavailable(
            _l(
                "%(store)s is not available at the moment. Please try again later.",
                store=store.name,
            )
        )


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
