"""Where each custom domain's certificate stands, for `payfacile certs list`, the merchant's
Domains page and the platform admin: its state, expiry, next renewal or retry, and the
last problem in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from payfacile.tenants.models import Domain, DomainStatus, Store
from payfacile.tenants.scope import across_stores, scoped
from payfacile.tls.models import AcmeOrder, Certificate


@dataclass(frozen=True)
class CertificateState:
    hostname: str
    store_slug: str
    status: DomainStatus
    not_after: dt.datetime | None  # the served certificate's expiry; None: none yet
    next_order_at: dt.datetime | None  # the renewal, or the retry after a failure
    problem: str  # an `issuance.PROBLEMS` code, empty when the last order went well
    error: str
    failures: int


async def states(store: Store | None = None) -> list[CertificateState]:
    """Every custom domain's certificate state (one store's with `store`), by hostname."""
    if store is None:
        domains = await across_stores(Domain, reason="platform admin").select_related("store")
        certificates = await across_stores(Certificate, reason="platform admin").order_by("id")
        orders = await across_stores(AcmeOrder, reason="platform admin")
    else:
        domains = await scoped(store).query(Domain).select_related("store")
        certificates = await scoped(store).query(Certificate).order_by("id")
        orders = await scoped(store).query(AcmeOrder)
    newest = {certificate.domain_id: certificate for certificate in certificates}
    work = {order.domain_id: order for order in orders}
    found = []
    for domain in sorted(domains, key=lambda found: found.hostname):
        certificate, order = newest.get(domain.id), work.get(domain.id)
        found.append(
            CertificateState(
                hostname=domain.hostname,
                store_slug=domain.store.slug,
                status=domain.status,
                not_after=certificate.not_after if certificate else None,
                next_order_at=order.next_attempt_at if order else None,
                problem=order.problem if order else "",
                error=order.error if order else "",
                failures=order.failures if order else 0,
            )
        )
    return found
