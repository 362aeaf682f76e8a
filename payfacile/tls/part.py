"""What the tls part adds to the app: HTTP-01 challenges answered on any host before host
resolution; with an ACME directory set, the certificate work of every verified custom
domain (the `acme_order` job); and, in `serve --https-port`, the certificate of each
handshake chosen by its SNI name."""

from __future__ import annotations

import functools

from payfacile.platform.crypto import SealedColumn
from payfacile.platform.jobs import Sweep
from payfacile.platform.registry import Registry
from payfacile.platform.server import SNI_EXTENSION
from payfacile.tenants.domain_views import DETAILS_EXTENSION
from payfacile.tenants.hosts import EXTENSION as HOSTS
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.scope import across_stores
from payfacile.tls import admin_views, challenges, expiry, issuance, status
from payfacile.tls.models import AcmeAccount, Certificate
from payfacile.tls.sni import KEY_PURPOSE, CertificateCache


def register(registry: Registry) -> None:
    services = registry.services
    hosts = registry.extensions[HOSTS]
    assert isinstance(hosts, HostResolver)  # the tenants part registers first
    found = challenges.Challenges(services.shared)
    registry.extensions[challenges.EXTENSION] = found
    registry.hostless_paths.append(challenges.PATH)
    registry.blueprints.extend([challenges.blueprint, admin_views.blueprint])
    certificates = CertificateCache(services.settings, hosts)
    registry.extensions[SNI_EXTENSION] = certificates
    registry.lifespans.append(certificates.running)
    registry.extensions[DETAILS_EXTENSION] = functools.partial(status.details, services.settings)
    registry.sealed.extend(
        [
            SealedColumn(
                name="certificate keys",
                rows=functools.partial(across_stores, Certificate, reason="platform admin"),
                field="key_encrypted",
                purpose=KEY_PURPOSE,
            ),
            SealedColumn(
                name="ACME account keys",
                rows=AcmeAccount.all,
                field="key_encrypted",
                purpose=issuance.ACCOUNT_KEY_PURPOSE,
            ),
        ]
    )
    if services.settings.acme_directory_url:
        tools = issuance.Tools(hosts=hosts, challenges=found, limiter=services.limiter)
        registry.jobs.add_kind(issuance.order_job(tools))
        registry.jobs.add_sweep(
            Sweep(
                name="certificates running out unrenewed",
                run=functools.partial(expiry.warn_of_expiry, services.settings),
            )
        )
