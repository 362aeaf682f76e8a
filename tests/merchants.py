"""What the dashboard's tests share: a merchant of a store signed in on a client, a form
posted with its CSRF token, the SQL a page runs, and every route of a store's dashboard for
the route walkers."""

from __future__ import annotations

import logging
import re

import pytest
from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.passwords import hash_password
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped
from tests.portal import test_auth as buyer_side

CENTRAL = {"Host": "payfacile.localhost"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
PASSWORD = "a long merchant passphrase"


async def merchant(client: Client, store: Store, role: MembershipRole, email: str) -> MerchantUser:
    """A merchant user of `store` with `role`, signed in on `client`."""
    user = await MerchantUser.create(email=email, password_hash=await hash_password(PASSWORD))
    await scoped(store).create(Membership, user_id=user.id, role=role)
    signed = await post(client, "/account/login", {"email": email, "password": PASSWORD})
    assert signed.status_code == 303
    return user


async def post(
    client: Client, path: str, form: dict[str, str], *, page: str = "/account/login"
) -> Response:
    """`form` posted on the central host with the CSRF token of `page`, then the work after
    the answer (the portal tests' `post`, there)."""
    return await buyer_side.post(client, path, form, page=page, headers=CENTRAL)


async def queries_of(client: Client, path: str, caplog: pytest.LogCaptureFixture) -> list[str]:
    """The SQL a GET of `path` runs once the caches it fills (host, session) are warm."""
    await _get(client, path)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="tortoise.db_client"):
        await _get(client, path)
    return [r.getMessage() for r in caplog.records if r.name == "tortoise.db_client"]


async def _get(client: Client, path: str) -> None:
    response = await client.get(path, headers=CENTRAL)
    assert response.status_code == 200, (path, response.status_code)


def dashboard_routes(app: Quart, slug: str = "acme", **ids: int) -> list[tuple[str, str]]:
    """(method, path) of every route of a store's dashboard. A route's `<name>` takes
    `ids[name]`, or 1 when not given (a walker only needs the id to be somebody's)."""
    adapter = app.url_map.bind("payfacile.localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/dashboard/<slug>/"):
            continue
        values = {name: ids.get(name, 1) for name in rule.arguments if name != "slug"}
        path = adapter.build(rule.endpoint, {"slug": slug, **values})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((method, path))
    return found
