"""Platform admins see every custom domain's certificate and the budgets under the CA's
limits as they stand; nobody else does."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.platform.services import EXTENSION, Services
from payfacile.tenants.models import DomainStatus
from payfacile.tenants.scope import scoped
from payfacile.tls import issuance
from payfacile.tls.models import AcmeOrder
from tests.conftest import RunningApp
from tests.factories import make_certificate, make_domain, make_store
from tests.merchants import CENTRAL
from tests.tenants.test_dashboard_domains import text_of
from tests.tenants.test_onboarding import signed_in_admin

PAGE = "/admin/certificates"


async def test_admins_see_each_certificate_and_the_budgets_in_use(
    app: Quart, client: Client, services: RunningApp
) -> None:
    kernel = app.extensions[EXTENSION]
    assert isinstance(kernel, Services)
    limiter = kernel.limiter
    acme = await make_store("acme")
    active = await make_domain(acme, "shop.acme.test", DomainStatus.ACTIVE)
    await make_certificate(services.settings, acme, active.id, expires_in=timedelta(days=90))
    other = await make_store("beans")
    failing = await make_domain(other, "www.beans.test", DomainStatus.ISSUING)
    await scoped(other).create(
        AcmeOrder,
        domain_id=failing.id,
        problem="connection",
        error="Connection refused",
        failures=3,
        next_attempt_at=datetime.now(UTC) + timedelta(minutes=100),
    )
    directory = services.settings.acme_directory_url
    for _ in range(2):
        await issuance.spend(limiter, "orders", directory)
    registered = issuance.registered("shop.acme.test")
    await issuance.spend(limiter, "certificates", registered)
    await issuance.spend(limiter, "failed validations", "www.beans.test")

    await signed_in_admin(client, services)
    response = await client.get(PAGE, headers=CENTRAL)
    assert response.status_code == 200
    words = text_of(html.unescape((await response.get_data(as_text=True)).replace("<wbr>", "")))
    assert "New orders, per 3 hours" in words
    assert "Used: 2 of 250 (the CA allows 300)" in words
    assert f"per 7 days For: {registered} Used: 1 of 45" in words
    assert "per hour For: www.beans.test Used: 1 of 4" in words
    assert "shop.acme.test acme Active" in words
    assert "www.beans.test beans Connected, certificate on its way" in words
    assert "could not connect to this domain" in words
    assert "3 failures in a row" in words


async def test_the_page_is_for_admins_only(client: Client) -> None:
    response = await client.get(PAGE, headers=CENTRAL)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/admin/login")
    await make_store("acme")
    assert (await client.get(PAGE, headers={"Host": "acme.payfacile.localhost"})).status_code == 404
