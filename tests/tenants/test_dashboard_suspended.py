"""A suspended store's dashboard: its owner can still read it and is told why the portal is
closed, but nothing in it changes and no buyer is emailed until the store is reopened."""

from __future__ import annotations

from quart.typing import TestClientProtocol as Client

from payfacile.platform.i18n import LANGUAGE_COOKIE
from payfacile.platform.models import OutboxEmail
from payfacile.portal.models import Customer
from payfacile.tenants.models import MembershipRole, StoreStatus
from tests.factories import make_customer, make_store
from tests.merchants import CENTRAL, merchant, post


async def test_a_suspended_store_dashboard_reads_but_changes_nothing(client: Client) -> None:
    acme = await make_store("acme", name="Acme Coffee")
    camille = await make_customer(acme, "camille@example.com")
    await merchant(client, acme, MembershipRole.OWNER, "owner@example.com")
    profile = f"/dashboard/acme/customers/{camille.id}"
    acme.status = StoreStatus.SUSPENDED
    await acme.save()

    page = await client.get(profile, headers=CENTRAL)
    assert page.status_code == 200
    html = await page.get_data(as_text=True)
    assert "Store suspended" in html
    assert "Nothing can be changed here" in html
    refused = await post(client, f"{profile}/invite", {}, page=profile)
    assert refused.status_code == 409
    assert "This store is suspended" in await refused.get_data(as_text=True)
    assert await OutboxEmail.all().count() == 0
    assert (await Customer.get(id=camille.id)).invited_at is None

    client.set_cookie("payfacile.localhost", LANGUAGE_COOKIE, "fr")
    french = await (await client.get(profile, headers=CENTRAL)).get_data(as_text=True)
    assert "Boutique suspendue" in french

    acme.status = StoreStatus.ACTIVE
    await acme.save()
    page = await (await client.get(profile, headers=CENTRAL)).get_data(as_text=True)
    assert "Boutique suspendue" not in page  # the French page, as chosen above
    sent = await post(client, f"{profile}/invite", {}, page=profile)
    assert sent.status_code == 303
    assert await OutboxEmail.all().count() == 1
