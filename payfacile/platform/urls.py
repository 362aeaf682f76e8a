"""Absolute links for emails: from settings and the store's own hosts, never a request's Host."""

from __future__ import annotations

from payfacile.platform.config import Settings
from payfacile.tenants.models import Domain, DomainStatus, Store
from payfacile.tenants.scope import scoped


def _origin(settings: Settings, hostname: str) -> str:
    port = f":{settings.public_port}" if settings.public_port else ""
    return f"{settings.public_scheme}://{hostname}{port}"


def central_url(settings: Settings, path: str) -> str:
    return f"{_origin(settings, settings.platform_domain)}{path}"


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
    return f"{_origin(settings, f'{store.slug}.{settings.platform_domain}')}{path}"
