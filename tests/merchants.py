"""What the dashboard's tests share: a merchant of a store signed in on a client, a form
posted with its CSRF token, and every route of a store's dashboard for the route walkers."""

from __future__ import annotations

import re

from quart import Quart, Response
from quart.typing import TestClientProtocol as Client

from payfacile.platform.passwords import hash_password
from payfacile.tenants.models import Membership, MembershipRole, MerchantUser, Store
from payfacile.tenants.scope import scoped
from tests.conftest import work_after_answers

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
    """`form` posted to `path` with the CSRF token of `page`, then the work after the answer."""
    html = await (await client.get(page, headers=CENTRAL)).get_data(as_text=True)
    token = CSRF.search(html)
    assert token is not None, html[:300]
    response = await client.post(path, form={**form, "csrf_token": token.group(1)}, headers=CENTRAL)
    await work_after_answers(client.app)
    return response


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
