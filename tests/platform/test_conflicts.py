"""Unique-constraint races, run for real (parallel tasks and requests on the test's database):
the loser gets a `Conflict` with a message, never a 500, and nothing of it is kept."""

from __future__ import annotations

import asyncio
import re

from quart import Quart

from payfacile.platform.config import Settings
from payfacile.platform.errors import Conflict
from payfacile.platform.models import OutboxEmail, TokenPurpose
from payfacile.portal import auth
from payfacile.portal.models import Customer
from payfacile.tenants.hosts import HostResolver
from payfacile.tenants.models import MerchantUser, Store
from payfacile.tenants.scope import scoped
from payfacile.tenants.stores import create_store
from tests.factories import make_customer
from tests.portal.test_auth import ACME, CSRF, acme_with_buyer

RACERS = 4


async def test_stores_created_with_one_slug_at_once_are_one_store_and_conflicts(
    database: Settings, hosts: HostResolver
) -> None:
    results = await asyncio.gather(
        *(
            create_store(
                settings=database,
                hosts=hosts,
                name=f"Shop {n}",
                slug="acme",
                owner_email=f"owner{n}@example.com",
            )
            for n in range(RACERS)
        ),
        return_exceptions=True,
    )
    made = [result for result in results if isinstance(result, Store)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert (len(made), len(refused)) == (1, RACERS - 1), results
    assert all(error.field == "slug" and "is taken" in str(error) for error in refused)
    assert await Store.filter(slug="acme").count() == 1
    # The losers' transactions left nothing behind: no owner account, no invitation.
    owner = made[0].support_email
    assert await MerchantUser.all().values_list("email", flat=True) == [owner]
    assert await OutboxEmail.all().values_list("to_address", flat=True) == [owner]


async def test_two_buyers_confirming_one_new_address_at_once_get_it_once(
    app: Quart, settings: Settings
) -> None:
    acme, camille = await acme_with_buyer()
    others = [await make_customer(acme, f"buyer{n}@example.com") for n in range(RACERS - 1)]
    paths = []
    for buyer in (camille, *others):
        # What asking for the change leaves: a pending address and its confirmation link.
        await scoped(acme).update(buyer, pending_email="shared@example.com")
        link = await auth.send_link(
            settings,
            acme,
            buyer,
            TokenPurpose.EMAIL_CHANGE,
            to="shared@example.com",
            payload={"email": "shared@example.com"},
        )
        paths.append(link.removeprefix("http://acme.payfacile.localhost:8000"))
    clients = [app.test_client() for _ in paths]
    forms = []
    for client, path in zip(clients, paths, strict=True):
        page = await (await client.get(path, headers=ACME)).get_data(as_text=True)
        token = CSRF.search(page)
        assert token is not None, page[:300]
        forms.append({"csrf_token": token.group(1)})
    responses = await asyncio.gather(
        *(
            client.post(path, form=form, headers=ACME)
            for client, path, form in zip(clients, paths, forms, strict=True)
        )
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [303] + [409] * (RACERS - 1), statuses
    for response in responses:
        if response.status_code == 409:
            page = await response.get_data(as_text=True)
            assert "Another account of this store now uses that address." in page
    emails = await scoped(acme).query(Customer).values_list("email", flat=True)
    assert sorted(emails).count("shared@example.com") == 1
    assert len([email for email in emails if re.match(r"(camille|buyer\d)@", email)]) == 3
