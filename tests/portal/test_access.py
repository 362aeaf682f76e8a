"""Every portal page and action needs a buyer signed in at this store: walked from the routes."""

from __future__ import annotations

import re

from quart import Quart
from quart.typing import TestClientProtocol as Client

from payfacile.portal.shell import PUBLIC_ENDPOINTS
from tests.factories import make_store
from tests.portal.test_auth import ACME, OTHER, acme_with_buyer, sign_in

SAMPLE_ARGUMENTS = {"number": "1001", "method_id": 1, "subscription_id": 1, "token": "x"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def private_routes(app: Quart) -> list[tuple[str, str]]:
    """(method, path) of every portal route that is not for signed-out visitors."""
    adapter = app.url_map.bind("acme.payfacile.localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/portal/") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        path = adapter.build(rule.endpoint, {a: SAMPLE_ARGUMENTS[a] for a in rule.arguments})
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            found.append((method, path))
    return found


async def request(client: Client, method: str, path: str, headers: dict[str, str]) -> int:
    if method == "GET":
        response = await client.get(path, headers=headers)
        location = response.headers.get("Location", "")
        assert response.status_code != 303 or location.startswith("/portal/login?next="), path
        return response.status_code
    login = await (await client.get("/portal/login", headers=headers)).get_data(as_text=True)
    token = CSRF.search(login)
    assert token is not None
    response = await client.post(path, form={"csrf_token": token.group(1)}, headers=headers)
    if response.status_code == 303:
        assert response.headers["Location"] == "/portal/login?next=/portal/", path
    return response.status_code


async def test_every_private_route_sends_a_signed_out_visitor_to_sign_in(
    client: Client, app: Quart
) -> None:
    await acme_with_buyer()
    routes = private_routes(app)
    assert ("GET", "/portal/orders") in routes
    assert ("POST", "/portal/subscriptions/1/cancel") in routes
    for method, path in routes:
        assert await request(client, method, path, ACME) == 303, (method, path)


async def test_a_buyer_signed_in_at_one_store_is_signed_out_at_another(
    client: Client, app: Quart
) -> None:
    await acme_with_buyer()
    await make_store("other", name="Other Store")
    await sign_in(client)
    for method, path in private_routes(app):
        assert await request(client, method, path, OTHER) == 303, (method, path)
