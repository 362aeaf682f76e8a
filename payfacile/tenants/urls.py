"""Absolute links to a store's pages, for emails: on the store's own primary host."""

from __future__ import annotations

from payfacile.platform.config import Settings
from payfacile.platform.urls import origin
from payfacile.tenants.models import Domain, DomainStatus, Store
from payfacile.tenants.scope import scoped


async def store_url(settings: Settings, store: Store, path: str) -> str:
    """A link on the store's primary host: its active primary custom domain, else its
    platform subdomain."""
    primary = (
        await scoped(store)
        .query(Domain)
        .filter(is_primary=True, status=DomainStatus.ACTIVE)
        .first()
    )
    if primary is not None:
        return f"https://{primary.hostname}{path}"
    return f"{origin(settings, f'{store.slug}.{settings.platform_domain}')}{path}"
