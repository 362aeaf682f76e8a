"""What the tenants part adds to the app: the Host guard, host resolution (a request hook),
its invalidation listener, the central host's pages (a store dashboard's home, team,
settings and domains) and the platform admin, the recurring DNS checks of custom domains,
and the endpoint a TLS terminator asks before it obtains a certificate."""

from __future__ import annotations

from payfacile.platform.registry import Registry
from payfacile.tenants import (
    admin_views,
    domain_views,
    mailbox_views,
    merchant_views,
    settings_views,
    site_views,
    team_views,
)
from payfacile.tenants.domains import check_job
from payfacile.tenants.hosts import EXTENSION, HostGuard, HostResolver
from payfacile.tenants.site import resolve_site


def register(registry: Registry) -> None:
    settings, shared = registry.services.settings, registry.services.shared
    hosts = HostResolver(settings, shared)
    registry.extensions[EXTENSION] = hosts
    registry.asgi_wrappers.append(HostGuard)
    registry.request_hooks.append(resolve_site)
    registry.lifespans.append(hosts.listening)
    registry.blueprints.extend(
        [
            site_views.blueprint,
            admin_views.blueprint,
            merchant_views.blueprint,
            merchant_views.dashboard_blueprint,
            settings_views.blueprint,
            team_views.blueprint,
            mailbox_views.blueprint,
            domain_views.blueprint,
            domain_views.tls_blueprint,
        ]
    )
    registry.error_layouts.append(merchant_views.error_layout)
    registry.hostless_paths.append(domain_views.TLS_ALLOWED_PATH)  # asked by address too
    registry.jobs.add_kind(check_job(hosts))
