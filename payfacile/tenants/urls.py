"""Absolute links to a store's pages, for emails: on the store's own primary host."""

from __future__ import annotations

from payfacile.platform.config import Settings
from payfacile.platform.urls import https_origin, origin
from payfacile.tenants.models import WITH_CERTIFICATE, Domain, DomainStatus, Store
from payfacile.tenants.scope import scoped

# Over plain HTTP (development), a verified domain serves before it has a certificate.
SERVING_OVER_HTTP = (DomainStatus.VERIFIED, DomainStatus.ISSUING, *WITH_CERTIFICATE)


async def store_url(settings: Settings, store: Store, path: str) -> str:
    """A link on the store's primary host: its primary custom domain once that serves over
    the links' scheme (with a certificate, for HTTPS), else its platform subdomain."""
    serving = WITH_CERTIFICATE if settings.public_scheme == "https" else SERVING_OVER_HTTP
    primary = (
        await scoped(store)
        .query(Domain)
        .filter(is_primary=True, status__in=list(serving))
        .only("hostname", "status")
        .first()
    )
    if primary is not None and primary.status in WITH_CERTIFICATE:
        return f"{https_origin(settings, primary.hostname)}{path}"
    if primary is not None:
        return f"{origin(settings, primary.hostname)}{path}"
    return f"{origin(settings, f'{store.slug}.{settings.platform_domain}')}{path}"
