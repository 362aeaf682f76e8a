"""A store dashboard's home, `/dashboard/<slug>/`: what needs the merchant (cancellation
requests waiting, the late ones flagged; failed payments; customers invited to the portal
but not yet active; for the owner, custom domains whose DNS needs fixing) and the portal's
address. In the portal part because it counts the
portal's rows, which the tenants part may not import. Every figure is one COUNT."""

from __future__ import annotations

from dataclasses import dataclass

from quart import g
from quart.typing import ResponseReturnValue

from payfacile.platform.rendering import render_template
from payfacile.platform.services import services
from payfacile.portal import cancellation_requests
from payfacile.portal.models import Customer, Order, OrderStatus
from payfacile.tenants.merchant_views import store_dashboard
from payfacile.tenants.models import Domain, DomainStatus, Store
from payfacile.tenants.scope import scoped
from payfacile.tenants.urls import store_url

blueprint = store_dashboard("dashboard_home", __name__)


@dataclass(frozen=True)
class Attention:
    requests: cancellation_requests.Waiting
    failed_payments: int  # orders whose payment failed
    invited: int  # customers invited to the portal who have not signed in yet
    domains: int  # custom domains whose DNS points elsewhere or was never verified in time


async def attention(store: Store, *, owner: bool) -> Attention:
    """What needs the merchant; domains only for the owner, whose page they are on."""
    scope = scoped(store)
    moved_or_failed = [DomainStatus.DNS_MOVED, DomainStatus.FAILED]
    return Attention(
        requests=await cancellation_requests.waiting(store),
        failed_payments=await scope.query(Order).filter(status=OrderStatus.FAILED).count(),
        invited=await scope.query(Customer)
        .filter(invited_at__isnull=False, activated_at__isnull=True)
        .count(),
        domains=await scope.query(Domain).filter(status__in=moved_or_failed).count()
        if owner
        else 0,
    )


@blueprint.get("/")
async def home() -> ResponseReturnValue:
    portal_url = await store_url(services().settings, g.member.store, "/portal/")
    return await render_template(
        "dashboard/home.html",
        member=g.member,
        portal_url=portal_url,
        attention=await attention(g.member.store, owner=g.member.is_owner),
    )
