"""Limits on what a buyer or an attacker can try: guesses sent all at once, current-password
checks from a signed-in session, email-change requests."""

from __future__ import annotations

import asyncio
from collections import Counter

from quart.typing import TestClientProtocol as Client

from payfacile.platform.passwords import hash_password
from tests.factories import make_customer
from tests.portal.test_auth import ACME, CSRF, PASSWORD, acme_with_buyer, post, sign_in
from tests.portal.test_subscriptions import subscribe

BURST = 30


async def csrf_token(client: Client, page: str = "/portal/login") -> str:
    html = await (await client.get(page, headers=ACME)).get_data(as_text=True)
    match = CSRF.search(html)
    assert match is not None, html[:300]
    return match.group(1)


async def test_a_burst_of_guesses_gets_no_more_than_the_limit_checked(client: Client) -> None:
    """30 guesses sent at once from one address, the last one right: at most 10 reach the
    password check (422 or a sign-in); every other one is refused with 429."""
    await acme_with_buyer()
    token = await csrf_token(client)
    guesses = [f"wrong guess {n}" for n in range(BURST - 1)] + [PASSWORD]

    async def guess(password: str) -> int:
        form = {"email": "camille@example.com", "password": password, "csrf_token": token}
        response = await client.post("/portal/login", form=form, headers=ACME)
        return response.status_code

    statuses = Counter(await asyncio.gather(*(guess(password) for password in guesses)))
    assert statuses[422] + statuses[303] <= 10, statuses
    assert statuses[429] >= BURST - 10, statuses
    assert set(statuses) <= {422, 303, 429}, statuses


async def test_signed_in_pages_are_never_stored(client: Client) -> None:
    """A signed-in page must not come back from a browser's or a proxy's cache (the back
    button on a shared computer after signing out)."""
    await acme_with_buyer()
    signed_out = await client.get("/portal/login", headers=ACME)
    assert "no-store" not in signed_out.headers.get("Cache-Control", "")
    await sign_in(client)
    for path in ("/portal/", "/portal/account", "/portal/orders", "/portal/profile"):
        page = await client.get(path, headers=ACME)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store", path


async def test_no_buyer_can_use_up_another_buyers_cancellation_requests(client: Client) -> None:
    """Requests are counted per buyer once the subscription is theirs: an attacker sending
    someone else's subscription id gets 404s and blocks nothing."""
    store, camille = await acme_with_buyer()
    theirs = await subscribe(store, camille, allowed=False)
    mallory = await make_customer(
        store, "mallory@example.com", password_hash=await hash_password(PASSWORD)
    )
    await sign_in(client, mallory.email)
    own = await subscribe(store, mallory, allowed=False, name="Mallory's plan")
    path = f"/portal/subscriptions/{theirs.id}/request-cancellation"
    for _ in range(6):
        response = await post(client, path, {}, page="/portal/subscriptions")
        assert response.status_code == 404
    # Mallory's own requests are still counted for her: five, then a 429.
    own_path = f"/portal/subscriptions/{own.id}/request-cancellation"
    for _ in range(5):
        assert (await post(client, own_path, {}, page="/portal/subscriptions")).status_code == 303
    assert (await post(client, own_path, {}, page="/portal/subscriptions")).status_code == 429

    camille_client = client.app.test_client()
    await sign_in(camille_client)
    asked = await post(camille_client, path, {}, page="/portal/subscriptions")
    assert asked.status_code == 303
